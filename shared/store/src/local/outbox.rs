use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_core::ports::{Email, MailError, Mailer};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

/// Where the local store keeps sent mail: `{data_dir}/outbox`.
pub fn outbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("outbox")
}

/// Mail that goes nowhere: each message becomes one JSON file ([`OutboxEntry`]) in a
/// folder, named `{id}.json` where the id starts with the UTC time it was sent, so a
/// sorted listing is oldest first. Read them back with [`read_outbox`].
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

/// One sent message as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// What [`Mailer::send`] returned; the file is `{id}.json`.
    pub id: String,
    pub sent_at: DateTime<Utc>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

impl OutboxEntry {
    /// The message as it was handed to the mailer.
    pub fn email(&self) -> Email {
        Email {
            from: self.from.clone(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
        }
    }
}

impl OutboxMailer {
    /// An outbox in `dir`, created on the first send.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn unavailable(e: io::Error) -> MailError {
    MailError::Unavailable(format!("outbox: {e}"))
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if email.to.is_empty() {
            return Err(MailError::Rejected("no recipients".into()));
        }
        let sent_at = Utc::now();
        // Fixed width, so names sort by time; the random part keeps them unique.
        let id = format!(
            "{}-{}",
            sent_at.format("%Y%m%dT%H%M%S%.9fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let entry = OutboxEntry {
            id: id.clone(),
            sent_at,
            from: email.from.clone(),
            to: email.to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
        };
        let json = serde_json::to_vec_pretty(&entry)
            .map_err(|e| MailError::Unavailable(format!("outbox: {e}")))?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(unavailable)?;
        // Written aside, then renamed into place: a reader sees all of it or nothing. The
        // temporary name starts with a dot and has no `.json`, so listings skip it.
        let tmp = self.dir.join(format!(".{id}.tmp"));
        let path = self.dir.join(format!("{id}.json"));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(&json).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = written {
            // Best effort: a leftover temporary file is harmless.
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(unavailable(e));
        }
        tracing::debug!(message_id = %id, recipients = email.to.len(), "email put in the outbox");
        Ok(id)
    }
}

/// Every message in the outbox folder `dir`, oldest first; none when the folder does
/// not exist yet. A file that is not an [`OutboxEntry`] is an `InvalidData` error.
pub fn read_outbox(dir: &Path) -> io::Result<Vec<OutboxEntry>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths = Vec::new();
    for item in listing {
        let path = item?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
        if !name.starts_with('.') && name.ends_with(".json") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)?;
            serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(subject: &str) -> Email {
        Email {
            from: "hotline@example.com".into(),
            to: vec!["ops@example.com".into()],
            subject: subject.into(),
            text: "body".into(),
            html: None,
        }
    }

    #[tokio::test]
    async fn outbox_lists_oldest_first_and_skips_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = OutboxMailer::new(dir.path().join("outbox"));
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(mailer.send(&email(&format!("n{n}"))).await.expect("send"));
        }
        std::fs::write(mailer.dir().join(".half.tmp"), b"{").expect("write");
        let entries = read_outbox(mailer.dir()).expect("read");
        assert_eq!(
            entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            ids
        );
        assert_eq!(entries[4].subject, "n4");
    }

    #[test]
    fn a_missing_outbox_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            read_outbox(&dir.path().join("nope"))
                .expect("read")
                .is_empty()
        );
    }
}
