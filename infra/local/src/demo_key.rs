//! The API key `hotline up` prints: one per organization, kept in the local data directory
//! (`api-keys/{org}`, owner-only) so every start prints the same working key instead of
//! minting another. The store holds only its hash, as for any key; a key revoked or gone
//! from the store is replaced by a new one.

use std::path::{Path, PathBuf};

use chrono::Utc;
use hotline_core::OrgId;
use hotline_core::model::{ApiKey, Role};
use hotline_core::ports::{ApiKeys, StoreError, StoreResult};

const DIR: &str = "api-keys";
const NAME: &str = "hotline up";

fn path(data_dir: &Path, org: &OrgId) -> PathBuf {
    data_dir.join(DIR).join(org.as_str())
}

/// `org`'s demo key: the one kept in `data_dir` while the store still accepts it, else a
/// new owner key (stored hashed, kept in `data_dir`). Without a data directory (an AWS
/// store) a new key every time, since there is nowhere local to keep it.
pub async fn demo_key(
    keys: &dyn ApiKeys,
    org: &OrgId,
    data_dir: Option<&Path>,
) -> StoreResult<String> {
    if let Some(dir) = data_dir
        && let Ok(kept) = std::fs::read_to_string(path(dir, org))
    {
        let kept = kept.trim();
        let active = keys
            .api_key_by_hash(&ApiKey::hash(kept))
            .await?
            .is_some_and(|k| &k.org == org && k.is_active());
        if active {
            return Ok(kept.to_owned());
        }
    }
    let (record, secret) = ApiKey::issue(org.clone(), NAME.into(), Role::Owner, Utc::now());
    keys.create_api_key(&record).await?;
    if let Some(dir) = data_dir {
        keep(&path(dir, org), &secret)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
    }
    Ok(secret)
}

fn keep(path: &Path, secret: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kept_key_is_reused_until_it_is_revoked() {
        let dir = tempfile::tempdir().expect("dir");
        let stores = hotline_store::Stores::local(&dir.path().join("store")).expect("store");
        let keys = stores.api_keys.as_ref();
        let org = OrgId::parse("demo").expect("org");
        let first = demo_key(keys, &org, Some(dir.path())).await.expect("key");
        let again = demo_key(keys, &org, Some(dir.path())).await.expect("key");
        assert_eq!(first, again);
        assert_eq!(keys.list_api_keys(&org).await.expect("list").len(), 1);
        let kept = std::fs::read_to_string(dir.path().join("api-keys/demo")).expect("kept");
        assert_eq!(kept, first);
        // Only the hash is in the store.
        let stored = keys
            .api_key_by_hash(&ApiKey::hash(&first))
            .await
            .expect("get")
            .expect("key");
        assert_ne!(stored.hash, first);

        let id = stored.id;
        keys.revoke_api_key(&org, &id, Utc::now())
            .await
            .expect("revoke");
        let replaced = demo_key(keys, &org, Some(dir.path())).await.expect("key");
        assert_ne!(replaced, first);
        assert_eq!(
            demo_key(keys, &org, Some(dir.path())).await.expect("key"),
            replaced
        );
        assert_eq!(keys.list_api_keys(&org).await.expect("list").len(), 2);

        let elsewhere = demo_key(keys, &org, None).await.expect("key");
        assert_ne!(elsewhere, replaced);
    }
}
