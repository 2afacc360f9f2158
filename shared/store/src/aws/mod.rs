//! The production adapters: DynamoDB, S3, SQS and SES through the AWS SDK. Endpoints follow
//! the SDK's own configuration (`AWS_ENDPOINT_URL` and friends), so the same code runs
//! against AWS and against an emulator.

mod dynamo;
mod kms;
mod s3;
mod ses;
mod sqs;

pub use dynamo::DynamoTable;
pub use kms::{KMS_KEY_ENV, KmsKeyVault};
pub use s3::S3Blobs;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use hotline_core::ports::StoreError;

/// SDK settings for an AWS emulator at `endpoint` (moto in tests, or any local
/// stand-in): fixed region and throwaway credentials, since emulators check neither.
pub async fn emulator_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Every request gives up after its operation timeout (all attempts) or attempt
/// timeout (one attempt): without them a hung connection holds a Lambda until its own
/// timeout, and a webhook past Twilio's patience.
fn timeouts(operation: Duration, attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(operation)
        .operation_attempt_timeout(attempt)
        .build()
}

/// DynamoDB: small items, answered in milliseconds; inside a webhook's 10 s.
pub const DYNAMODB_TIMEOUT: Duration = Duration::from_secs(8);

/// A DynamoDB client with operation timeouts.
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts(DYNAMODB_TIMEOUT, Duration::from_secs(4)))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An SQS client with operation timeouts longer than the longest long poll (20 s).
pub fn sqs_client(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(sdk)
        .timeout_config(timeouts(Duration::from_secs(30), Duration::from_secs(25)))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A KMS client with timeouts inside a webhook's: it is asked on reads of an
/// organization's secrets.
pub fn kms_client(sdk: &SdkConfig) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::config::Builder::from(sdk)
        .timeout_config(timeouts(Duration::from_secs(5), Duration::from_secs(2)))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// An SES client with operation timeouts.
pub fn ses_client(sdk: &SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(sdk)
        .timeout_config(timeouts(Duration::from_secs(10), Duration::from_secs(5)))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// An S3 client, its timeouts long enough to move an hour of audio; with a custom
/// endpoint, path-style addressing, because emulators have no wildcard DNS for
/// `{bucket}.{host}`.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .timeout_config(timeouts(Duration::from_secs(240), Duration::from_secs(120)))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Maps an SDK failure to a `StoreError` with the service's own message. DynamoDB's
/// validation errors (an item over 400 KB, a malformed request) say the same request
/// will always fail: `Invalid`, which nobody retries. Everything else (throttling,
/// network, 5xx) is `Unavailable`, worth a retry; the caller decides how often.
pub(crate) fn sdk_error<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
    match e.code() {
        Some("ValidationException" | "ItemCollectionSizeLimitExceededException") => {
            StoreError::Invalid(text)
        }
        _ => StoreError::Unavailable(text),
    }
}
