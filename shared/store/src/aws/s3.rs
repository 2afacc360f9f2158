use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use hotline_core::ports::{Blob, BlobKey, BlobLinks, Blobs, StoreError, StoreResult};

use super::sdk_error;

/// Blobs in one S3 bucket, encrypted at rest.
#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Creates the bucket (for tests and local emulators).
    pub async fn create(&self) -> StoreResult<()> {
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put_blob(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get_blob(&self, key: &BlobKey) -> StoreResult<Option<Blob>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                return Ok(None);
            }
            Err(e) => return Err(sdk_error(e)),
        };
        let content_type = out
            .content_type
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("S3 body: {e}")))?
            .into_bytes()
            .to_vec();
        Ok(Some(Blob {
            bytes,
            content_type,
        }))
    }
}

/// Presigned GETs: whoever holds the URL reads the object until it expires, which S3
/// itself enforces; nothing else is granted.
#[async_trait]
impl BlobLinks for S3Blobs {
    async fn link(&self, key: &BlobKey, ttl: std::time::Duration) -> StoreResult<String> {
        let presigning =
            PresigningConfig::expires_in(ttl).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning)
            .await
            .map_err(sdk_error)?;
        Ok(request.uri().to_owned())
    }
}
