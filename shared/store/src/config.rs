//! Choosing and opening a store from the environment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotline_core::ports::{
    ApiKeys, BlobLinks, Blobs, Calls, Campaigns, Contacts, Dials, Directory, Mailer, Messages,
    Queue, StoreResult, StreamNodes, Todos,
};
use hotline_core::ports::{Audit, Expiry, Sessions, Users};

use hotline_core::vault::{KeyVault, NoKeyVault};

use crate::aws::{DynamoTable, KMS_KEY_ENV, KmsKeyVault, S3Blobs, SesMailer, SqsQueue};
use crate::local::{
    Db, FileBlobs, FileKeyVault, KEY_FILE, OutboxMailer, QueueConfig, SqliteQueue, SqliteTable,
    outbox_dir,
};
use crate::records::TableRecords;

/// Which adapters back the ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded default: everything under one data directory.
    Local { data_dir: PathBuf },
    /// DynamoDB, S3, SQS and SES; credentials, region and endpoint come from the SDK's
    /// usual environment.
    Aws {
        table: String,
        bucket: String,
        postcall_queue_url: String,
        /// The KMS key that seals organizations' secrets (`HOTLINE_KMS_KEY_ID`). Without
        /// it, records without sealed secrets still read, and writing a secret fails.
        kms_key_id: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set when HOTLINE_STORE=aws")]
    Missing(&'static str),
    #[error("HOTLINE_STORE must be 'local' or 'aws', not {0:?}")]
    UnknownStore(String),
}

/// Where the local store lives unless `HOTLINE_DATA_DIR` says otherwise.
pub const DEFAULT_DATA_DIR: &str = ".hotline";

impl StoreConfig {
    /// Reads `HOTLINE_STORE` (`local` by default), `HOTLINE_DATA_DIR`, and for AWS
    /// `HOTLINE_TABLE`, `HOTLINE_BUCKET`, `HOTLINE_POSTCALL_QUEUE_URL` and
    /// `HOTLINE_KMS_KEY_ID`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let need = |k: &'static str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(k))
        };
        match get("HOTLINE_STORE").as_deref().unwrap_or("local") {
            "local" => Ok(Self::Local {
                data_dir: get("HOTLINE_DATA_DIR")
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned())
                    .into(),
            }),
            "aws" => Ok(Self::Aws {
                table: need("HOTLINE_TABLE")?,
                bucket: need("HOTLINE_BUCKET")?,
                postcall_queue_url: need("HOTLINE_POSTCALL_QUEUE_URL")?,
                kms_key_id: get("HOTLINE_KMS_KEY_ID").filter(|v| !v.trim().is_empty()),
            }),
            other => Err(ConfigError::UnknownStore(other.to_owned())),
        }
    }
}

/// Every port, behind shared handles.
#[derive(Clone)]
pub struct Stores {
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    /// Outbound calls as they were asked for, before and after Twilio took them.
    pub dials: Arc<dyn Dials>,
    /// Outbound campaigns, their leads, and each organization's do-not-call list.
    pub campaigns: Arc<dyn Campaigns>,
    pub contacts: Arc<dyn Contacts>,
    pub todos: Arc<dyn Todos>,
    pub api_keys: Arc<dyn ApiKeys>,
    /// People, their invitations and sessions, and each organization's audit log.
    pub users: Arc<dyn Users>,
    pub sessions: Arc<dyn Sessions>,
    pub audit: Arc<dyn Audit>,
    /// Conversations: texts now, a contact's calls and web chats later.
    pub messages: Arc<dyn Messages>,
    /// The stream nodes' registry, for routing new calls.
    pub nodes: Arc<dyn StreamNodes>,
    /// Deletes expired short-lived records (the local store; DynamoDB's TTL does it).
    pub expiry: Arc<dyn Expiry>,
    pub blobs: Arc<dyn Blobs>,
    pub postcall: Arc<dyn Queue>,
    /// Outgoing mail: SES, or locally an outbox folder (`{data_dir}/outbox`).
    pub mailer: Arc<dyn Mailer>,
}

impl Stores {
    fn from_parts<T: crate::table::Table + 'static>(
        records: TableRecords<T>,
        blobs: Arc<dyn Blobs>,
        postcall: Arc<dyn Queue>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        let records = Arc::new(records);
        Self {
            directory: records.clone(),
            calls: records.clone(),
            dials: records.clone(),
            campaigns: records.clone(),
            contacts: records.clone(),
            todos: records.clone(),
            api_keys: records.clone(),
            users: records.clone(),
            sessions: records.clone(),
            audit: records.clone(),
            messages: records.clone(),
            expiry: records.clone(),
            nodes: records,
            blobs,
            postcall,
            mailer,
        }
    }

    /// The local store in `data_dir`, created if needed, with its sealing key
    /// `{data_dir}/secrets.key` (made on first use, 0600).
    pub fn local(data_dir: &std::path::Path) -> StoreResult<Self> {
        let io = |e: std::io::Error| {
            hotline_core::ports::StoreError::Unavailable(format!("{}: {e}", data_dir.display()))
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let db = Db::open(&data_dir.join("hotline.sqlite3"))?;
        let vault = FileKeyVault::open_or_create(&data_dir.join(KEY_FILE))?;
        let queue = SqliteQueue::new(db.clone(), local_postcall_queue());
        Ok(Self::from_parts(
            TableRecords::new(SqliteTable::new(db.clone()), Arc::new(vault)),
            Arc::new(FileBlobs::new(db, data_dir.join("blobs"))),
            Arc::new(queue),
            Arc::new(OutboxMailer::new(outbox_dir(data_dir))),
        ))
    }

    /// The AWS store on already-created resources, without a sealing key: it reads
    /// records without sealed secrets and refuses to write a secret. [`Self::aws_sealed`]
    /// is the store deployed functions use.
    pub fn aws(sdk: &aws_config::SdkConfig, table: &str, bucket: &str, queue_url: &str) -> Self {
        let vault = NoKeyVault {
            why: format!("set {KMS_KEY_ENV} to the KMS key that seals organizations' secrets"),
        };
        Self::aws_sealed(sdk, table, bucket, queue_url, Arc::new(vault))
    }

    /// The AWS store whose organizations' secrets `vault` seals (a [`KmsKeyVault`]).
    pub fn aws_sealed(
        sdk: &aws_config::SdkConfig,
        table: &str,
        bucket: &str,
        queue_url: &str,
        vault: Arc<dyn KeyVault>,
    ) -> Self {
        Self::from_parts(
            TableRecords::new(
                DynamoTable::new(crate::aws::dynamodb_client(sdk), table),
                vault,
            ),
            Arc::new(S3Blobs::new(crate::aws::s3_client(sdk), bucket)),
            Arc::new(SqsQueue::new(crate::aws::sqs_client(sdk), queue_url)),
            Arc::new(SesMailer::new(crate::aws::ses_client(sdk))),
        )
    }

    /// Opens what `config` names, loading AWS settings from the environment if needed.
    pub async fn open(config: &StoreConfig) -> StoreResult<Self> {
        match config {
            StoreConfig::Local { data_dir } => Self::local(data_dir),
            StoreConfig::Aws {
                table,
                bucket,
                postcall_queue_url,
                kms_key_id,
            } => {
                let sdk = aws_config::load_from_env().await;
                Ok(match kms_key_id {
                    Some(key) => {
                        let vault = KmsKeyVault::new(crate::aws::kms_client(&sdk), key);
                        Self::aws_sealed(&sdk, table, bucket, postcall_queue_url, Arc::new(vault))
                    }
                    None => Self::aws(&sdk, table, bucket, postcall_queue_url),
                })
            }
        }
    }
}

/// Short-lived links to blobs for the store `config` names: S3 presigned GETs, or links
/// signed with the local data directory's secret that `hotline up` serves under
/// `public_url` (see [`crate::local::SignedLinks`]).
pub async fn blob_links(config: &StoreConfig, public_url: &str) -> StoreResult<Arc<dyn BlobLinks>> {
    Ok(match config {
        StoreConfig::Local { data_dir } => {
            Arc::new(crate::local::SignedLinks::open(data_dir, public_url)?)
        }
        StoreConfig::Aws { bucket, .. } => {
            let sdk = aws_config::load_from_env().await;
            Arc::new(S3Blobs::new(crate::aws::s3_client(&sdk), bucket))
        }
    })
}

/// The local post-call queue mirrors the template's: redrive after 5 receives.
pub fn local_postcall_queue() -> QueueConfig {
    QueueConfig {
        name: "postcall".into(),
        visibility_timeout: Duration::from_secs(5 * 60),
        max_receives: 5,
        dead_letter: Some("postcall-dlq".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn local_is_the_default_store() {
        assert_eq!(
            StoreConfig::from_lookup(lookup(&[])).expect("config"),
            StoreConfig::Local {
                data_dir: DEFAULT_DATA_DIR.into()
            }
        );
    }

    #[test]
    fn aws_store_names_what_is_missing() {
        let err =
            StoreConfig::from_lookup(lookup(&[("HOTLINE_STORE", "aws"), ("HOTLINE_TABLE", "t")]))
                .expect_err("bucket missing");
        assert!(err.to_string().contains("HOTLINE_BUCKET"), "{err}");
    }

    #[test]
    fn unknown_store_is_refused() {
        assert!(StoreConfig::from_lookup(lookup(&[("HOTLINE_STORE", "redis")])).is_err());
    }
}
