//! The embedded default: SQLite for records and queues, files for blobs. Needs nothing
//! installed and survives restarts.

mod blobs;
mod db;
mod queue;
mod table;

pub use blobs::FileBlobs;
pub use db::Db;
pub use queue::{QueueConfig, SqliteQueue};
pub use table::SqliteTable;
