//! containarium: database backups of tenant containers.
//!
//! The pipeline reads top to bottom: [`runtime`] (where a command runs) →
//! [`engine`] (what runs: pg_dump/pg_restore/psql) → [`stream`] (SHA-256 and
//! size on the way) → [`store`] (where bytes land) → [`catalog`] (the sidecar
//! index). [`service::BackupService`] decides everything; the surfaces are
//! thin adapters around it.

pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod duration;
pub mod engine;
mod error;
pub mod grpc;
pub mod mcp;
pub mod metrics;
pub mod notify;
#[cfg(test)]
mod parser_props;
pub mod rest;
pub mod retention;
pub mod runtime;
pub mod server;
pub mod service;
pub mod store;
pub mod stream;
pub mod ui;

pub use error::{Code, Error, Result};

/// Generated from `proto/containarium/v1/backup.proto`.
#[allow(clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("containarium.v1");
    include!(concat!(env!("OUT_DIR"), "/containarium.v1.serde.rs"));

    /// The compiled `FileDescriptorSet` of the wire contract: the REST
    /// surface derives its OpenAPI document and query parsing from it.
    pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
}
