use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::OrgId;

/// What an API key (and later a person) may do inside its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }

    /// Whether this role may change the organization's agents, numbers and settings.
    pub fn can_write(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// A machine's credential, as stored: the key itself is never kept, only its hash, so a
/// leaked table does not leak working keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public handle for listing and revoking.
    pub id: String,
    pub org: OrgId,
    pub name: String,
    pub role: Role,
    /// [`ApiKeyHash`] of the key, hex.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl ApiKey {
    /// A fresh key for `org`: the record to store, and the key to show once.
    pub fn issue(org: OrgId, name: String, role: Role, now: DateTime<Utc>) -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        // A recognisable prefix lets secret scanners and people tell what leaked.
        let secret = format!("hk_{}", hex(&bytes));
        let record = Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            org,
            name,
            role,
            hash: Self::hash(&secret),
            created_at: now,
            revoked_at: None,
            version: 0,
        };
        (record, secret)
    }

    /// SHA-256 of the presented key, hex. A 256-bit random key needs no slow hash: there
    /// is nothing to guess.
    pub fn hash(secret: &str) -> String {
        hex(&Sha256::digest(secret.as_bytes()))
    }

    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_is_stored_only_as_its_hash() {
        let org = OrgId::parse("acme").expect("org");
        let (record, secret) = ApiKey::issue(org, "ci".into(), Role::Viewer, Utc::now());
        assert!(secret.starts_with("hk_") && secret.len() == 67, "{secret}");
        assert_eq!(record.hash, ApiKey::hash(&secret));
        assert!(
            !serde_json::to_string(&record)
                .expect("json")
                .contains(&secret[3..])
        );
        let (_, other) = ApiKey::issue(record.org, "ci".into(), Role::Viewer, Utc::now());
        assert_ne!(secret, other);
    }

    #[test]
    fn only_owners_and_admins_write() {
        assert!(Role::Owner.can_write() && Role::Admin.can_write());
        assert!(!Role::Viewer.can_write());
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
