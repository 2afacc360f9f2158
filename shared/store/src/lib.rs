//! Adapters for the storage ports in `hotline-core`: AWS (DynamoDB, S3, SQS) for
//! production and an embedded local store (SQLite and files) that needs nothing installed.

pub mod aws;
mod config;
pub mod local;
mod records;
pub mod sealing;
pub mod table;

pub use config::{
    ConfigError, DEFAULT_DATA_DIR, StoreConfig, Stores, blob_links, local_postcall_queue,
};
pub use records::TableRecords;
