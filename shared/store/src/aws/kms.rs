//! The AWS sealing key: a KMS key makes each data key (`GenerateDataKey`, AES-256) and
//! unwraps it again (`Decrypt`), with the organization as encryption context, so a data
//! key wrapped for one organization does not unwrap for another. The key itself never
//! leaves KMS; rotating it (yearly, in the template) keeps old data keys readable.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use hotline_core::vault::{DataKey, DataKeyBytes, KeyVault, VaultError, WrappedKey};
use secrecy::SecretBox;

/// The variable naming the KMS key (id, ARN or `alias/…`) that wraps data keys.
pub const KMS_KEY_ENV: &str = "HOTLINE_KMS_KEY_ID";
/// The encryption context's key; its value is the organization's id.
const CONTEXT: &str = "hotline:org";

/// A vault backed by one KMS key.
#[derive(Debug, Clone)]
pub struct KmsKeyVault {
    client: Client,
    key_id: String,
}

impl KmsKeyVault {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

/// KMS refusals that another try will not change, by error code.
const PERMANENT: &[&str] = &[
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "AccessDeniedException",
    "DisabledException",
    "NotFoundException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
];

fn kms_error<E, R>(e: SdkError<E, R>) -> VaultError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let text = format!("{}", DisplayErrorContext(&e));
    match e.code() {
        Some(code) if PERMANENT.contains(&code) => VaultError::WrongKey(text),
        _ => VaultError::Unavailable(text),
    }
}

fn key_bytes(blob: Option<&Blob>, what: &str) -> Result<DataKeyBytes, VaultError> {
    let bytes: [u8; 32] = blob
        .map(Blob::as_ref)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            VaultError::Unavailable(format!("KMS {what}: no 256-bit key in the answer"))
        })?;
    Ok(SecretBox::new(Box::new(bytes)))
}

#[async_trait]
impl KeyVault for KmsKeyVault {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, VaultError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT, context)
            .send()
            .await
            .map_err(kms_error)?;
        let blob = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| VaultError::Unavailable("KMS GenerateDataKey: no ciphertext".into()))?;
        Ok(DataKey {
            plaintext: key_bytes(out.plaintext(), "GenerateDataKey")?,
            wrapped: WrappedKey {
                key_id: out.key_id().unwrap_or(&self.key_id).to_owned(),
                blob,
            },
        })
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &WrappedKey,
        context: &str,
    ) -> Result<DataKeyBytes, VaultError> {
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(wrapped.blob.clone()))
            .key_id(&self.key_id)
            .encryption_context(CONTEXT, context)
            .send()
            .await
            .map_err(kms_error)?;
        key_bytes(out.plaintext(), "Decrypt")
    }
}
