//! Blocking client for the lab API, used by kubectl and every component except the API server.
