//! The local store's sealing key: 256 random bits in a file beside the database, made
//! on first use readable by its owner only (0600). It wraps the data keys that seal
//! organizations' secrets, as a KMS key does in AWS. Lose it and the sealed secrets are
//! lost with it; copy the data directory whole.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use hotline_core::ports::{StoreError, StoreResult};
use hotline_core::vault::{DataKey, DataKeyBytes, KeyVault, VaultError, WrappedKey};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

/// The key file's name in the local data directory.
pub const KEY_FILE: &str = "secrets.key";

/// A vault whose one key lives in a file.
pub struct FileKeyVault {
    key: SecretBox<[u8; 32]>,
    key_id: String,
    path: PathBuf,
}

impl FileKeyVault {
    /// The key in `path`, made (0600) if there is none yet.
    pub fn open_or_create(path: &Path) -> StoreResult<Self> {
        let unavailable = |e: std::io::Error| {
            StoreError::Unavailable(format!("sealing key {}: {e}", path.display()))
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => match create(path) {
                Ok(text) => text,
                // Another process made it first.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(path).map_err(unavailable)?
                }
                Err(e) => return Err(unavailable(e)),
            },
            Err(e) => return Err(unavailable(e)),
        };
        let key = parse(text.trim()).ok_or_else(|| {
            StoreError::Invalid(format!(
                "sealing key {} is not 64 hexadecimal digits",
                path.display()
            ))
        })?;
        Ok(Self::from_key(key, path))
    }

    fn from_key(key: [u8; 32], path: &Path) -> Self {
        let digest = Sha256::digest(key);
        Self {
            key_id: format!("local:{}", hex::encode(&digest[..8])),
            key: SecretBox::new(Box::new(key)),
            path: path.to_owned(),
        }
    }

    /// `local:` and a fingerprint of the key, never the key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn cipher(&self) -> Result<Aes256Gcm, VaultError> {
        Aes256Gcm::new_from_slice(self.key.expose_secret())
            .map_err(|_| VaultError::Unavailable("the key file's key is not 256 bits".into()))
    }
}

/// Writes a new key beside `path`, then links it into place: another process sees no
/// key file or a whole one, never a half-written one, and only one key ever wins.
fn create(path: &Path) -> std::io::Result<String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let key: [u8; 32] = rand::random();
    let text = format!("{}\n", hex::encode(key));
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let staged = PathBuf::from(name);
    let written = options.open(&staged).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&staged, path));
    // The staged name goes either way; the key lives on under `path` when linked.
    let _ = std::fs::remove_file(&staged);
    linked.map(|()| text)
}

fn parse(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

fn aad(context: &str) -> Vec<u8> {
    format!("hotline-data-key:{context}").into_bytes()
}

#[async_trait]
impl KeyVault for FileKeyVault {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, VaultError> {
        let key: [u8; 32] = rand::random();
        let nonce: [u8; 12] = rand::random();
        let wrapped = self
            .cipher()?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &key,
                    aad: &aad(context),
                },
            )
            .map_err(|_| VaultError::Unavailable("wrapping a data key failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&wrapped);
        Ok(DataKey {
            plaintext: SecretBox::new(Box::new(key)),
            wrapped: WrappedKey {
                key_id: self.key_id.clone(),
                blob,
            },
        })
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &WrappedKey,
        context: &str,
    ) -> Result<DataKeyBytes, VaultError> {
        if wrapped.key_id != self.key_id {
            return Err(VaultError::WrongKey(format!(
                "sealed with key {}, but the key file {} is {}",
                wrapped.key_id,
                self.path.display(),
                self.key_id
            )));
        }
        let damaged = || {
            VaultError::WrongKey(format!(
                "a data key wrapped with {} is damaged",
                self.key_id
            ))
        };
        let (nonce, sealed) = wrapped.blob.split_at_checked(12).ok_or_else(damaged)?;
        let key = self
            .cipher()?
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(context),
                },
            )
            .map_err(|_| damaged())?;
        let key: [u8; 32] = key.try_into().map_err(|_| damaged())?;
        Ok(SecretBox::new(Box::new(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_key_file_is_made_once_owner_only_and_wraps_per_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let vault = FileKeyVault::open_or_create(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = FileKeyVault::open_or_create(&path).expect("reopen");
        assert_eq!(vault.key_id(), again.key_id());

        let key = vault.generate_data_key("acme").await.expect("key");
        let opened = again
            .unwrap_data_key(&key.wrapped, "acme")
            .await
            .expect("unwrap");
        assert_eq!(opened.expose_secret(), key.plaintext.expose_secret());
        let err = again
            .unwrap_data_key(&key.wrapped, "other")
            .await
            .expect_err("another org's context");
        assert!(matches!(err, VaultError::WrongKey(_)), "{err}");
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| FileKeyVault::open_or_create(&path).map(|v| v.key_id)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("vault"))
                .collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "staged files left behind");
    }

    #[test]
    fn a_key_file_that_is_not_a_key_is_refused_in_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "not a key").expect("write");
        let err = FileKeyVault::open_or_create(&path).err().expect("refused");
        assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
    }
}
