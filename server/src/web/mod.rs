//! The web platform (`kplab serve`): catalog and lab pages, the terminal WebSocket, the
//! grader, sessions and lab lifecycle, the JSON API, health and metrics.

pub mod store;
