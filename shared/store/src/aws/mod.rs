//! The production adapters: DynamoDB, S3, SQS and SES through the AWS SDK. Endpoints follow
//! the SDK's own configuration (`AWS_ENDPOINT_URL` and friends), so the same code runs
//! against AWS and against an emulator.

mod dynamo;
mod s3;
mod ses;
mod sqs;

pub use dynamo::DynamoTable;
pub use s3::S3Blobs;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
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

/// An S3 client; with a custom endpoint, path-style addressing, because emulators
/// have no wildcard DNS for `{bucket}.{host}`.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Maps any SDK failure to `Unavailable` with the service's own message: throttling,
/// network and 5xx errors are worth a retry, and the caller decides how often.
pub(crate) fn sdk_error<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!(
        "{}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
    ))
}
