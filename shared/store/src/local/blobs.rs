use std::path::PathBuf;

use async_trait::async_trait;
use hotline_core::ports::{Blob, BlobKey, Blobs, StoreError, StoreResult};
use rusqlite::{OptionalExtension, params};

use super::db::{Db, unavailable};

/// Blobs as files under a directory, their content types in the database.
#[derive(Clone)]
pub struct FileBlobs {
    db: Db,
    root: PathBuf,
}

impl FileBlobs {
    pub fn new(db: Db, root: PathBuf) -> Self {
        Self { db, root }
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        // BlobKey admits no absolute paths, empty segments, `.` or `..`.
        self.root.join(key.as_str())
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("blob file: {e}"))
}

#[async_trait]
impl Blobs for FileBlobs {
    async fn put_blob(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> StoreResult<()> {
        let path = self.path(key);
        let size =
            i64::try_from(bytes.len()).map_err(|_| StoreError::Invalid("blob too large".into()))?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        // Write then rename, so a reader never sees half a recording.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        let (key, content_type) = (key.as_str().to_owned(), content_type.to_owned());
        self.db
            .run(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO blobs (key, content_type, size) VALUES (?1, ?2, ?3)",
                    params![key, content_type, size],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn get_blob(&self, key: &BlobKey) -> StoreResult<Option<Blob>> {
        let k = key.as_str().to_owned();
        let content_type: Option<String> = self
            .db
            .run(move |conn| {
                conn.query_row(
                    "SELECT content_type FROM blobs WHERE key = ?1",
                    params![k],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        let Some(content_type) = content_type else {
            return Ok(None);
        };
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(Blob {
                bytes,
                content_type,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Corrupt(
                format!("blob {key} is indexed but its file is missing"),
            )),
            Err(e) => Err(io(e)),
        }
    }
}
