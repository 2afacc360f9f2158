use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::password::PasswordHash;
use crate::ids::OrgId;
use crate::model::Role;

/// A person who signs in: one e-mail, one organization, one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// [Normalized](normalize_email): how the person is found at login.
    pub email: String,
    pub org: OrgId,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
    /// A removed user stays stored (the audit names them) but cannot sign in, and the
    /// e-mail may be invited again.
    #[serde(default)]
    pub removed_at: Option<DateTime<Utc>>,
    /// Sessions carry the epoch they were opened in; raising it (a password change)
    /// ends every older session at once.
    #[serde(default)]
    pub session_epoch: u64,
    #[serde(default)]
    pub version: u64,
}

impl User {
    pub fn new(
        org: OrgId,
        email: String,
        role: Role,
        hash: PasswordHash,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            email,
            org,
            role,
            password_hash: hash,
            created_at: now,
            removed_at: None,
            session_epoch: 0,
            version: 0,
        }
    }

    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// Whether someone with role `actor` may give (or take away) role `role`: owners any,
/// admins admin and viewer, viewers none. An admin cannot make an owner, nor demote one.
pub fn may_assign(actor: Role, role: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => role != Role::Owner,
        Role::Viewer => false,
    }
}

/// The e-mail as stored and looked up: trimmed, lower-case, `local@domain` with no
/// spaces or control characters, at most 254 bytes (RFC 5321). `None` when it is not one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ana@Example.COM ").as_deref(),
            Some("ana@example.com")
        );
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@example",
            "a b@x.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn admins_cannot_make_or_unmake_owners() {
        assert!(may_assign(Role::Owner, Role::Owner));
        assert!(may_assign(Role::Admin, Role::Viewer) && may_assign(Role::Admin, Role::Admin));
        assert!(!may_assign(Role::Admin, Role::Owner));
        assert!(!may_assign(Role::Viewer, Role::Viewer));
    }
}
