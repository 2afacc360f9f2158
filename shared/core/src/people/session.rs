use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OrgId;

/// How long a session lives: `idle` without a request, `absolute` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: TimeDelta,
    pub absolute: TimeDelta,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours in all: a working day in one sign-in, a coffee break
    /// on an unlocked screen at most.
    fn default() -> Self {
        Self {
            idle: TimeDelta::minutes(30),
            absolute: TimeDelta::hours(12),
        }
    }
}

/// A signed-in browser. Stored under the SHA-256 of its id; the id itself lives only in
/// the cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 of the session id, hex.
    pub hash: String,
    pub user: String,
    /// The user's e-mail: the key their record is found by.
    pub email: String,
    pub org: OrgId,
    /// The user's [`session_epoch`](super::User::session_epoch) at login.
    pub epoch: u64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its absolute end ([`SessionPolicy::absolute`] after sign-in): the store forgets
    /// the record then (its TTL). `None` for sessions stored before it existed.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

/// Whether a stored session still lets its holder in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    Revoked,
    IdleExpired,
    Expired,
}

/// Sessions in use are marked seen at most this often: one write a minute, not one a request.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

impl Session {
    /// A new session for `user` that ends at the latest `absolute` from `now`: the
    /// record to store and the id to set in the cookie.
    pub fn open(user: &super::User, now: DateTime<Utc>, absolute: TimeDelta) -> (Self, String) {
        let (id, hash) = super::new_secret("hs_");
        (
            Self {
                hash,
                user: user.id.clone(),
                email: user.email.clone(),
                org: user.org.clone(),
                epoch: user.session_epoch,
                created_at: now,
                last_seen_at: now,
                revoked_at: None,
                expires_at: Some(now + absolute),
                version: 0,
            },
            id,
        )
    }

    pub fn state(&self, now: DateTime<Utc>, policy: &SessionPolicy) -> SessionState {
        if self.revoked_at.is_some() {
            SessionState::Revoked
        } else if now - self.created_at >= policy.absolute {
            SessionState::Expired
        } else if now - self.last_seen_at >= policy.idle {
            SessionState::IdleExpired
        } else {
            SessionState::Live
        }
    }

    /// Whether a request at `now` should record itself as the last one seen.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen_at >= TOUCH_EVERY
    }
}

/// The CSRF token of the session whose id is `session_id`: derived, so nothing more is
/// stored, and one-way, so the token (which pages show) does not reveal the id.
pub fn csrf_token(session_id: &str) -> String {
    super::secret_hash(&format!("csrf:{session_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::people::{PasswordHash, User};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_limit() {
        let user = User::new(
            OrgId::parse("acme").expect("org"),
            "ana@example.com".into(),
            Role::Admin,
            PasswordHash::new("a long enough password").expect("hash"),
            at(0),
        );
        let policy = SessionPolicy::default();
        let (mut s, id) = Session::open(&user, at(0), SessionPolicy::default().absolute);
        assert_eq!(s.hash, super::super::secret_hash(&id));
        assert_ne!(csrf_token(&id), s.hash);
        assert_eq!(s.state(at(29 * 60), &policy), SessionState::Live);
        assert_eq!(s.state(at(30 * 60), &policy), SessionState::IdleExpired);
        s.last_seen_at = at(12 * 3600 - 60);
        assert_eq!(s.state(at(12 * 3600 - 1), &policy), SessionState::Live);
        assert_eq!(s.state(at(12 * 3600), &policy), SessionState::Expired);
        s.revoked_at = Some(at(1));
        assert_eq!(s.state(at(2), &policy), SessionState::Revoked);
    }
}
