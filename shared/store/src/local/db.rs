//! One SQLite database file shared by the local table, blob index and queues.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hotline_core::ports::{StoreError, StoreResult};
use rusqlite::Connection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk      TEXT NOT NULL,
    sk      TEXT NOT NULL,
    gsi1pk  TEXT,
    gsi1sk  TEXT,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (
    key          TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_messages (
    id            TEXT PRIMARY KEY,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at_ms    INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (queue, visible_at_ms, sent_at_ms);
";

/// A shared connection. SQLite serialises writers anyway; one connection per process
/// behind a mutex keeps that simple, and every use runs on the blocking pool.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(unavailable)?;
        // WAL lets `hotline calls` read while `hotline up` writes; the busy timeout makes
        // the other process wait for a lock instead of failing.
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        add_gsi2(&conn).map_err(unavailable)?;
        add_ttl(&conn).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-applied transaction behind
            // (SQLite rolls it back), so a poisoned lock is safe to keep using.
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

/// Stores made before the `gsi2` index get its columns; new ones are made with them.
fn add_gsi2(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('items') WHERE name = 'gsi2pk'",
        [],
        |row| row.get(0),
    )?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE items ADD COLUMN gsi2pk TEXT;
             ALTER TABLE items ADD COLUMN gsi2sk TEXT;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;",
    )
}

/// Stores made before short-lived records get the `ttl` column (epoch seconds, as
/// DynamoDB's TTL attribute), indexed for the sweep that deletes them.
fn add_ttl(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('items') WHERE name = 'ttl'",
        [],
        |row| row.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE items ADD COLUMN ttl INTEGER;")?;
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL;")
}

pub fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}
