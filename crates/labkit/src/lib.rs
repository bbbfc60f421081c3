//! Pure shared types: lab content model and JSON exchanged between the agent and the server.
