//! The local stand-in for S3 presigned GETs: a link carries the blob key, an expiry and
//! an HMAC-SHA256 of both under a secret kept in the data directory, and `hotline up`
//! serves the blob to whoever presents an unexpired, unaltered link.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use hotline_core::ports::{BlobKey, BlobLinks, StoreError, StoreResult};
use sha2::Sha256;

/// The path `hotline up` serves links on; `{token}` is the blob key with `/` as `~`.
pub const LINK_PATH: &str = "/blobs/{token}";
const PREFIX: &str = "/blobs/";
const SECRET_FILE: &str = "link-secret";

/// Why a link is refused. Each is a 403 to whoever presented it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefused {
    #[error("not a link this server made")]
    Malformed,
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match")]
    Forged,
}

/// Makes and checks signed links to blobs under `base_url`.
#[derive(Clone)]
pub struct SignedLinks {
    base_url: String,
    secret: Vec<u8>,
}

impl SignedLinks {
    pub fn new(base_url: &str, secret: Vec<u8>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret,
        }
    }

    /// Links under `base_url` signed with the data directory's secret, made (random,
    /// owner-only) on first use so links stay valid across restarts.
    pub fn open(data_dir: &Path, base_url: &str) -> StoreResult<Self> {
        let path = data_dir.join(SECRET_FILE);
        let io = |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
        let secret = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => bytes,
            Ok(_) => {
                return Err(StoreError::Corrupt(format!(
                    "{} is too short",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let secret = rand::random::<[u8; 32]>().to_vec();
                write_private(&path, &secret).map_err(io)?;
                secret
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self::new(base_url, secret))
    }

    fn mac(&self, key: &str, expires: i64) -> Hmac<Sha256> {
        // Any key length is accepted by HMAC; `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("GET\n{key}\n{expires}").as_bytes());
        mac
    }

    /// A link to `key` that works until `expires_at`.
    pub fn link_until(&self, key: &BlobKey, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        let signature = hex::encode(self.mac(key.as_str(), expires).finalize().into_bytes());
        format!(
            "{}{PREFIX}{}?expires={expires}&signature={signature}",
            self.base_url,
            key.as_str().replace('/', "~")
        )
    }

    /// The blob a presented link names, given the request's path and query, if it is
    /// one this server signed and it has not expired at `now`.
    pub fn check(
        &self,
        path: &str,
        query: &str,
        now: DateTime<Utc>,
    ) -> Result<BlobKey, LinkRefused> {
        let token = path.strip_prefix(PREFIX).ok_or(LinkRefused::Malformed)?;
        let key = BlobKey::parse(&token.replace('~', "/")).map_err(|_| LinkRefused::Malformed)?;
        let (mut expires, mut signature) = (None, None);
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse::<i64>().ok(),
                Some(("signature", v)) => signature = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(LinkRefused::Malformed);
        };
        self.mac(key.as_str(), expires)
            .verify_slice(&signature)
            .map_err(|_| LinkRefused::Forged)?;
        if now.timestamp() > expires {
            return Err(LinkRefused::Expired);
        }
        Ok(key)
    }
}

#[async_trait]
impl BlobLinks for SignedLinks {
    async fn link(&self, key: &BlobKey, ttl: Duration) -> StoreResult<String> {
        let ttl =
            chrono::Duration::from_std(ttl).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(self.link_until(key, Utc::now() + ttl))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(link: &str) -> (String, String) {
        let rest = link.strip_prefix("http://127.0.0.1:3000").expect("base");
        let (path, query) = rest.split_once('?').expect("query");
        (path.to_owned(), query.to_owned())
    }

    #[test]
    fn a_link_opens_until_it_expires_and_not_once_altered() {
        let links = SignedLinks::new("http://127.0.0.1:3000/", vec![7; 32]);
        let key = BlobKey::parse("recordings/acme/CA1.mp3").expect("key");
        let now = Utc::now();
        let (path, query) = split(&links.link_until(&key, now + chrono::Duration::minutes(5)));
        assert_eq!(links.check(&path, &query, now), Ok(key));
        assert_eq!(
            links.check(&path, &query, now + chrono::Duration::minutes(6)),
            Err(LinkRefused::Expired)
        );
        let other_key = path.replace("acme", "evil");
        assert_eq!(
            links.check(&other_key, &query, now),
            Err(LinkRefused::Forged)
        );
        let later = query.replace("expires=", "expires=9");
        assert_eq!(links.check(&path, &later, now), Err(LinkRefused::Forged));
        let other_secret = SignedLinks::new("http://127.0.0.1:3000", vec![8; 32]);
        assert_eq!(
            other_secret.check(&path, &query, now),
            Err(LinkRefused::Forged)
        );
        for (p, q) in [
            ("/blobs/..~x", query.as_str()),
            ("/nope", query.as_str()),
            (path.as_str(), ""),
            (path.as_str(), "expires=x&signature=zz"),
        ] {
            assert_eq!(
                links.check(p, q, now),
                Err(LinkRefused::Malformed),
                "{p}?{q}"
            );
        }
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let key = BlobKey::parse("a/b").expect("key");
        let at = Utc::now() + chrono::Duration::minutes(1);
        let first = SignedLinks::open(dir.path(), "http://x").expect("open");
        let again = SignedLinks::open(dir.path(), "http://x").expect("open");
        assert_eq!(first.link_until(&key, at), again.link_until(&key, at));
    }
}
