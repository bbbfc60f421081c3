//! The REST handlers, one file per concern: path parsing, the entry point that runs each verb,
//! create/replace, Service allocation, subresources (binding, scale), delete with its cascades
//! (graceful pods, owner references, namespaces), watch, and the error answers.
//!
//! Every operation takes the store lock once and runs synchronously inside it, so each request
//! sees and produces a consistent state; watches stream from the store's broadcast channel.

pub mod binding;
pub mod body;
pub mod create;
pub mod delete;
pub mod entry;
pub mod errors;
pub mod kinds;
pub mod list;
pub mod path;
pub mod services;
#[cfg(test)]
mod tests;
pub mod watch;
pub mod write;
