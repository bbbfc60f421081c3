//! The Kubernetes schema of the kinds the lab serves, extracted from k8s-pb's generated prost
//! sources (`generated.rs`, written by the `gen` feature's generator), the protobuf codec
//! driven by that table, and the OpenAPI v2/v3 documents built from it.

pub mod codec;
#[cfg(any(test, feature = "gen"))]
pub mod gen;
#[rustfmt::skip]
mod generated;
pub mod openapi;
pub mod schema;
mod wire;

pub use codec::decode;
pub use codec::encode;
pub use schema::*;
