//! Secrets at rest: an organization's secret fields are sealed on their way into the
//! table and unsealed on their way out, so every reader of the ports (webhooks, stream
//! node, post-call, API) sees plaintext and the table never does.
//!
//! A sealed field replaces the string with
//! `{"sealed": {"v": 1, "kid": key id, "wk": wrapped data key, "n": nonce, "ct": ciphertext}}`
//! (bytes in base64): AES-256-GCM under a data key made by the [`KeyVault`] for this write,
//! with the organization and the field as associated data, so a sealed value copied to
//! another organization or field does not open. A field still holding a plain string
//! (written before sealing existed) reads as it is and is sealed at its next write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hotline_core::ports::{StoreError, StoreResult};
use hotline_core::vault::{DataKeyBytes, KeyVault, VaultError, WrappedKey};
use secrecy::{ExposeSecret, SecretBox};
use serde::Deserialize;
use serde_json::{Value, json};

/// The organization record's secret fields, as JSON pointers. A secret field added to
/// `Organization` is added here, and the raw-record test in tests/contract.rs shows it sealed.
pub const ORG_SECRETS: &[&str] = &["/twilio/auth_token", "/settings/report_webhook_secret"];

const SEALED: &str = "sealed";
const FORMAT: u64 = 1;
/// How long an unwrapped data key is reused. A secret's rotation writes a new data key,
/// so this only spares the key service one call per read, never hides a new secret.
const KEY_TTL: Duration = Duration::from_secs(300);
const KEY_CACHE_MAX: usize = 1024;

/// What a sealed field holds.
#[derive(Deserialize)]
struct Envelope {
    v: u64,
    kid: String,
    wk: String,
    n: String,
    ct: String,
}

/// Unwrapped data keys by (context, wrapped key), with when they were unwrapped.
type KeyCache = HashMap<(String, Vec<u8>), (Instant, [u8; 32])>;

/// Seals and unseals secret fields with data keys from one vault.
pub struct Sealer {
    vault: Arc<dyn KeyVault>,
    keys: Mutex<KeyCache>,
}

impl Sealer {
    pub fn new(vault: Arc<dyn KeyVault>) -> Self {
        Self {
            vault,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Seals the string fields of `data` named by `fields`, all under one fresh data key
    /// bound to `context`. Nothing to seal asks the vault for nothing; a vault that
    /// cannot give a key fails the write: a secret is never stored in the clear.
    pub async fn seal(&self, context: &str, data: &mut Value, fields: &[&str]) -> StoreResult<()> {
        let present: Vec<&str> = fields
            .iter()
            .copied()
            .filter(|p| data.pointer(p).is_some_and(Value::is_string))
            .collect();
        if present.is_empty() {
            return Ok(());
        }
        let key = self
            .vault
            .generate_data_key(context)
            .await
            .map_err(|e| vault_error(context, e))?;
        let cipher = aes(&key.plaintext)?;
        for pointer in present {
            let Some(slot) = data.pointer_mut(pointer) else {
                continue;
            };
            let Some(plain) = slot.as_str() else {
                continue;
            };
            let nonce: [u8; 12] = rand::random();
            let sealed = cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: plain.as_bytes(),
                        aad: aad(context, pointer).as_bytes(),
                    },
                )
                .map_err(|_| StoreError::Invalid(format!("sealing {pointer} failed")))?;
            *slot = json!({ SEALED: {
                "v": FORMAT,
                "kid": key.wrapped.key_id,
                "wk": B64.encode(&key.wrapped.blob),
                "n": B64.encode(nonce),
                "ct": B64.encode(sealed),
            }});
        }
        Ok(())
    }

    /// Replaces each sealed field of `data` named by `fields` with its plaintext string.
    /// Plain strings and nulls are left as they are.
    pub async fn open(&self, context: &str, data: &mut Value, fields: &[&str]) -> StoreResult<()> {
        for pointer in fields {
            let Some(slot) = data.pointer_mut(pointer) else {
                continue;
            };
            let Some(envelope) = slot.get(SEALED) else {
                continue;
            };
            let unreadable = |why: &str| {
                StoreError::Corrupt(format!(
                    "organization {context}: secret {pointer} cannot be unsealed: {why}"
                ))
            };
            let envelope: Envelope = serde_json::from_value(envelope.clone())
                .map_err(|e| unreadable(&format!("not a sealed value: {e}")))?;
            if envelope.v != FORMAT {
                return Err(unreadable(&format!("unknown format {}", envelope.v)));
            }
            let decode = |field: &str, text: &str| {
                B64.decode(text)
                    .map_err(|e| unreadable(&format!("{field} is not base64: {e}")))
            };
            let wrapped = WrappedKey {
                key_id: envelope.kid.clone(),
                blob: decode("wk", &envelope.wk)?,
            };
            let nonce = decode("n", &envelope.n)?;
            let sealed = decode("ct", &envelope.ct)?;
            if nonce.len() != 12 {
                return Err(unreadable("the nonce is not 96 bits"));
            }
            let key = self.data_key(context, &wrapped).await?;
            let plain = aes(&key)?
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: aad(context, pointer).as_bytes(),
                    },
                )
                .map_err(|_| {
                    unreadable(
                        "the data key does not open it (damaged, or copied from another record)",
                    )
                })?;
            let plain = String::from_utf8(plain).map_err(|_| unreadable("not UTF-8 text"))?;
            *slot = Value::String(plain);
        }
        Ok(())
    }

    /// The plaintext of a wrapped data key, from the cache while fresh.
    async fn data_key(&self, context: &str, wrapped: &WrappedKey) -> StoreResult<DataKeyBytes> {
        let cache_key = (context.to_owned(), wrapped.blob.clone());
        if let Some((at, key)) = self.cache().get(&cache_key)
            && at.elapsed() < KEY_TTL
        {
            return Ok(SecretBox::new(Box::new(*key)));
        }
        let key = self
            .vault
            .unwrap_data_key(wrapped, context)
            .await
            .map_err(|e| vault_error(context, e))?;
        let mut cache = self.cache();
        if cache.len() >= KEY_CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < KEY_TTL);
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(cache_key, (Instant::now(), *key.expose_secret()));
        Ok(key)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn aes(key: &DataKeyBytes) -> StoreResult<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key.expose_secret())
        .map_err(|_| StoreError::Invalid("a data key must be 256 bits".into()))
}

/// Binds a sealed value to its record and field.
fn aad(context: &str, pointer: &str) -> String {
    format!("hotline:{context}:{pointer}")
}

fn vault_error(context: &str, e: VaultError) -> StoreError {
    match e {
        VaultError::WrongKey(_) => StoreError::Corrupt(format!(
            "organization {context}: secrets cannot be unsealed: {e}"
        )),
        VaultError::NoKey(_) | VaultError::Unavailable(_) => {
            StoreError::Unavailable(format!("organization {context}: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use hotline_core::vault::DataKey;

    /// Wraps by prefixing a tag: enough to test the sealing around the vault.
    struct TagVault(u8);

    #[async_trait]
    impl KeyVault for TagVault {
        async fn generate_data_key(&self, context: &str) -> Result<DataKey, VaultError> {
            let key: [u8; 32] = rand::random();
            let mut blob = vec![self.0];
            blob.extend_from_slice(context.as_bytes());
            blob.extend_from_slice(&key);
            Ok(DataKey {
                plaintext: SecretBox::new(Box::new(key)),
                wrapped: WrappedKey {
                    key_id: format!("tag:{}", self.0),
                    blob,
                },
            })
        }

        async fn unwrap_data_key(
            &self,
            wrapped: &WrappedKey,
            context: &str,
        ) -> Result<DataKeyBytes, VaultError> {
            let rest = wrapped
                .blob
                .strip_prefix(&[self.0])
                .and_then(|r| r.strip_prefix(context.as_bytes()))
                .ok_or_else(|| VaultError::WrongKey(format!("not {}", wrapped.key_id)))?;
            let key: [u8; 32] = rest
                .try_into()
                .map_err(|_| VaultError::WrongKey("length".into()))?;
            Ok(SecretBox::new(Box::new(key)))
        }
    }

    fn org() -> Value {
        json!({"id": "acme", "twilio": {"account_sid": "AC1", "auth_token": "tok-123"},
               "settings": {"report_webhook_secret": null}})
    }

    #[tokio::test]
    async fn sealed_fields_hide_the_secret_and_open_to_it() {
        let sealer = Sealer::new(Arc::new(TagVault(7)));
        let mut data = org();
        sealer
            .seal("acme", &mut data, ORG_SECRETS)
            .await
            .expect("seal");
        assert!(!data.to_string().contains("tok-123"), "{data}");
        assert!(data["twilio"]["auth_token"][SEALED].is_object());
        assert!(data["settings"]["report_webhook_secret"].is_null());
        sealer
            .open("acme", &mut data, ORG_SECRETS)
            .await
            .expect("open");
        assert_eq!(data, org());
    }

    #[tokio::test]
    async fn a_plaintext_field_written_before_sealing_reads_as_it_is() {
        let sealer = Sealer::new(Arc::new(TagVault(7)));
        let mut data = org();
        sealer
            .open("acme", &mut data, ORG_SECRETS)
            .await
            .expect("open");
        assert_eq!(data, org());
    }

    #[tokio::test]
    async fn a_sealed_value_does_not_open_for_another_org_or_field_or_key() {
        let sealer = Sealer::new(Arc::new(TagVault(7)));
        let mut data = org();
        data["settings"]["report_webhook_secret"] = "whsec".into();
        sealer
            .seal("acme", &mut data, ORG_SECRETS)
            .await
            .expect("seal");

        let mut moved = data.clone();
        moved["settings"]["report_webhook_secret"] = data["twilio"]["auth_token"].clone();
        let err = sealer
            .open("acme", &mut moved, ORG_SECRETS)
            .await
            .expect_err("moved");
        assert!(err.to_string().contains("report_webhook_secret"), "{err}");

        let mut other = data.clone();
        let err = sealer
            .open("other", &mut other, ORG_SECRETS)
            .await
            .expect_err("other org");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");

        let stranger = Sealer::new(Arc::new(TagVault(8)));
        let err = stranger
            .open("acme", &mut data.clone(), ORG_SECRETS)
            .await
            .expect_err("key");
        assert!(err.to_string().contains("tag:7"), "{err}");
    }

    #[tokio::test]
    async fn without_a_key_nothing_secret_is_written() {
        let sealer = Sealer::new(Arc::new(hotline_core::vault::NoKeyVault {
            why: "set HOTLINE_KMS_KEY_ID".into(),
        }));
        let mut data = org();
        let err = sealer
            .seal("acme", &mut data, ORG_SECRETS)
            .await
            .expect_err("no key");
        assert!(err.to_string().contains("HOTLINE_KMS_KEY_ID"), "{err}");
        let mut none = json!({"twilio": {"auth_token": null}});
        sealer
            .seal("acme", &mut none, ORG_SECRETS)
            .await
            .expect("nothing to seal");
    }
}
