//! The embedded default: SQLite for records and queues, files for blobs and sent mail. Needs nothing
//! installed and survives restarts.

mod blobs;
mod db;
mod key_file;
mod links;
mod outbox;
mod queue;
mod table;

pub use blobs::FileBlobs;
pub use db::Db;
pub use key_file::{FileKeyVault, KEY_FILE};
pub use links::{LINK_PATH, LinkRefused, SignedLinks};
pub use outbox::{OutboxEntry, OutboxMailer, outbox_dir, read_outbox};
pub use queue::{QueueConfig, SqliteQueue};
pub use table::SqliteTable;
