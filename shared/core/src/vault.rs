//! The key port behind secrets at rest. Organizations' secrets (Twilio auth tokens,
//! report webhook secrets) are sealed by the store with a data key of their own; a vault
//! makes data keys and wraps them under a key it never lets out: a KMS key in AWS, a key
//! file for the local store. What is stored is the sealed secret and the wrapped data key
//! (envelope encryption), so reading a secret needs the vault, not just the table.

use async_trait::async_trait;
use secrecy::SecretBox;

/// A data key's 256 bits, wiped when dropped and never printed.
pub type DataKeyBytes = SecretBox<[u8; 32]>;

/// A data key wrapped by a vault's key: safe to store beside what it sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which key of the vault wrapped it (a KMS key ARN, `local:` and a fingerprint): named
    /// in errors, so a wrong key is told apart from a damaged record.
    pub key_id: String,
    pub blob: Vec<u8>,
}

/// A fresh data key: its plaintext to seal with now, and its wrapped form to store.
pub struct DataKey {
    pub plaintext: DataKeyBytes,
    pub wrapped: WrappedKey,
}

/// Why a vault could not make or unwrap a data key.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No key to seal with is configured here (e.g. `HOTLINE_KMS_KEY_ID` unset).
    #[error("no key to seal secrets with: {0}")]
    NoKey(String),
    /// The wrapped key was not made by this vault's key (another key file, another KMS
    /// key, a damaged blob), or the key refuses this caller: retrying will not help.
    #[error("the sealing key refuses this data key: {0}")]
    WrongKey(String),
    /// The key service did not answer; worth another try.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

/// Makes and unwraps data keys. `context` binds a wrapped key to what it protects (the
/// organization's id): a key wrapped for one organization does not unwrap for another.
#[async_trait]
pub trait KeyVault: Send + Sync {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, VaultError>;
    async fn unwrap_data_key(
        &self,
        wrapped: &WrappedKey,
        context: &str,
    ) -> Result<DataKeyBytes, VaultError>;
}

/// A vault with no key: reads of records without sealed secrets work, anything that
/// needs a key gets [`VaultError::NoKey`] with `why` (what to configure).
#[derive(Debug, Clone)]
pub struct NoKeyVault {
    pub why: String,
}

#[async_trait]
impl KeyVault for NoKeyVault {
    async fn generate_data_key(&self, _context: &str) -> Result<DataKey, VaultError> {
        Err(VaultError::NoKey(self.why.clone()))
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &WrappedKey,
        _context: &str,
    ) -> Result<DataKeyBytes, VaultError> {
        Err(VaultError::NoKey(format!(
            "{} (the secret was sealed with {})",
            self.why, wrapped.key_id
        )))
    }
}
