//! A store of one's own for each test: locally in a fresh temporary directory, or on
//! moto with fresh table, bucket and queue names. Either way with a work queue and its
//! dead-letter queue whose timing the test chooses.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use hotline_core::ports::Queue;
use hotline_sim::moto::{Moto, REGION, unique_name};
use hotline_store::Stores;
use hotline_store::aws::{
    DynamoTable, KmsKeyVault, S3Blobs, SqsQueue, emulator_config, kms_client, s3_client,
};
use hotline_store::local::{Db, QueueConfig, SqliteQueue};
use tempfile::TempDir;

/// A work queue as a test wants it.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    /// The queue's name, and the prefix of every name made on moto; the dead-letter
    /// queue is `{name}-dlq`.
    pub name: &'static str,
    pub visibility: Duration,
    /// Receives before a message is dead-lettered.
    pub max_receives: u32,
}

impl QueueSpec {
    /// Like the post-call queue hotline deploys: nothing in a test outlasts its
    /// visibility timeout.
    pub const POSTCALL: Self = Self {
        name: "postcall",
        visibility: Duration::from_secs(5 * 60),
        max_receives: 5,
    };
}

/// What [`AwsResources::create`] made on moto, named for this test alone.
pub struct AwsResources {
    /// The emulator's URL, for processes configured through `AWS_ENDPOINT_URL`.
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub table: String,
    pub bucket: String,
    pub queue: SqsQueue,
    pub dlq: SqsQueue,
    /// The KMS key (its ARN) that seals organizations' secrets, as `HOTLINE_KMS_KEY_ID`.
    pub kms_key: String,
}

impl AwsResources {
    /// Creates a DynamoDB table, an S3 bucket, an SQS queue with its dead-letter queue
    /// and a KMS key on the shared moto ([`Moto::shared`]).
    ///
    /// # Panics
    /// When moto is not there or refuses: tests that need AWS fail, never skip.
    pub async fn create(queue: QueueSpec) -> Self {
        let endpoint = Moto::shared().endpoint.clone();
        let sdk = emulator_config(&endpoint, REGION).await;
        let table = unique_name(queue.name);
        let bucket = unique_name(queue.name).to_lowercase();
        DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk), &table)
            .create()
            .await
            .expect("create table");
        S3Blobs::new(s3_client(&sdk), &bucket)
            .create()
            .await
            .expect("create bucket");
        let (queue, dlq) = SqsQueue::create(
            aws_sdk_sqs::Client::new(&sdk),
            &unique_name(queue.name),
            queue.visibility,
            queue.max_receives,
        )
        .await
        .expect("create queues");
        let kms_key = create_kms_key(&sdk).await;
        Self {
            endpoint,
            sdk,
            table,
            bucket,
            queue,
            dlq,
            kms_key,
        }
    }

    /// The stores on these resources, secrets sealed with [`Self::kms_key`]; the
    /// post-call queue is [`Self::queue`].
    pub fn stores(&self) -> Stores {
        let vault = KmsKeyVault::new(kms_client(&self.sdk), &self.kms_key);
        Stores::aws_sealed(
            &self.sdk,
            &self.table,
            &self.bucket,
            self.queue.url(),
            Arc::new(vault),
        )
    }
}

/// A symmetric KMS key on the emulator `sdk` points at; its ARN.
///
/// # Panics
/// When the emulator refuses.
pub async fn create_kms_key(sdk: &SdkConfig) -> String {
    let created = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description("hotline test: seals organizations' secrets")
        .send()
        .await
        .expect("create KMS key");
    created
        .key_metadata()
        .map(|m| m.arn().unwrap_or(m.key_id()).to_owned())
        .expect("KMS key metadata")
}

/// A SQLite queue named `spec.name` in the database at `path`, and its dead-letter
/// queue.
///
/// # Panics
/// When the database cannot be opened.
pub fn local_queues(path: &std::path::Path, spec: QueueSpec) -> (SqliteQueue, SqliteQueue) {
    let queue = SqliteQueue::new(
        Db::open(path).expect("open queue database"),
        QueueConfig {
            name: spec.name.into(),
            visibility_timeout: spec.visibility,
            max_receives: spec.max_receives,
            dead_letter: Some(format!("{}-dlq", spec.name)),
        },
    );
    let dlq = queue.dead_letter_queue().expect("dead-letter queue");
    (queue, dlq)
}

/// The stores of one test, with a work queue and its dead-letter queue. Derefs to
/// its [`Stores`]; dropping it deletes a local store's directory.
pub struct TestStore {
    pub stores: Stores,
    /// Local: a SQLite queue beside the store. AWS: the store's post-call queue.
    pub queue: Arc<dyn Queue>,
    pub dlq: Arc<dyn Queue>,
    /// What was made on moto; `None` for a local store.
    pub aws: Option<AwsResources>,
    dir: Option<TempDir>,
}

impl TestStore {
    /// A local store in a fresh directory, its queues like [`QueueSpec::POSTCALL`].
    pub fn local() -> Self {
        Self::local_with(QueueSpec::POSTCALL)
    }

    /// A store on moto, its queues like [`QueueSpec::POSTCALL`].
    pub async fn aws() -> Self {
        Self::aws_with(QueueSpec::POSTCALL).await
    }

    /// A local store in a fresh directory, with a work queue as `queue` says.
    ///
    /// # Panics
    /// When the directory or the store cannot be made.
    pub fn local_with(queue: QueueSpec) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = Stores::local(dir.path()).expect("local store");
        let (queue, dlq) = local_queues(&dir.path().join("queues.sqlite3"), queue);
        Self {
            stores,
            queue: Arc::new(queue),
            dlq: Arc::new(dlq),
            aws: None,
            dir: Some(dir),
        }
    }

    /// A store on moto ([`AwsResources::create`]) whose post-call queue is the work
    /// queue.
    pub async fn aws_with(queue: QueueSpec) -> Self {
        let aws = AwsResources::create(queue).await;
        Self {
            stores: aws.stores(),
            queue: Arc::new(aws.queue.clone()),
            dlq: Arc::new(aws.dlq.clone()),
            aws: Some(aws),
            dir: None,
        }
    }

    /// A local store's data directory.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(TempDir::path)
    }
}

impl Deref for TestStore {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}
