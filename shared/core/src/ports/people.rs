//! The ports of people and audit: users, invitations, sessions, login throttling, the
//! audit log.

use async_trait::async_trait;

use super::StoreResult;
use crate::audit::{AuditEntry, AuditPosition};
use crate::ids::OrgId;
use crate::people::{Invitation, LoginFailures, Session, User};

/// People and the invitations that bring them in. E-mails are unique on the platform.
#[async_trait]
pub trait Users: Send + Sync {
    /// Stores a new user; `Conflict` when an active user has the e-mail (a removed
    /// user's e-mail is taken over, in any organization).
    async fn create_user(&self, user: &User) -> StoreResult<User>;
    /// The user with this normalized e-mail, removed or not.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// An organization's active users, oldest first.
    async fn list_users(&self, org: &OrgId) -> StoreResult<Vec<User>>;
    /// Versioned write: `Conflict` when someone else wrote since `user` was read.
    async fn update_user(&self, user: &User) -> StoreResult<User>;
    /// Stores a new invitation; `Conflict` if its token hash is taken.
    async fn create_invitation(&self, invitation: &Invitation) -> StoreResult<Invitation>;
    async fn invitation_by_hash(&self, hash: &str) -> StoreResult<Option<Invitation>>;
    /// An organization's invitations, in any state, oldest first.
    async fn list_invitations(&self, org: &OrgId) -> StoreResult<Vec<Invitation>>;
    /// Versioned write, as for users.
    async fn update_invitation(&self, invitation: &Invitation) -> StoreResult<Invitation>;
}

/// Browser sessions and the failed-login counters that throttle guessing.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a new session; `Conflict` if its hash is taken (never overwritten).
    async fn create_session(&self, session: &Session) -> StoreResult<Session>;
    async fn session_by_hash(&self, hash: &str) -> StoreResult<Option<Session>>;
    /// Versioned write: `Conflict` when someone else wrote since `session` was read.
    async fn update_session(&self, session: &Session) -> StoreResult<Session>;
    async fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>>;
    /// Versioned write; version 0 creates (`Conflict` if it exists by then).
    async fn put_login_failures(&self, failures: &LoginFailures) -> StoreResult<LoginFailures>;
}

/// Each organization's audit log.
#[async_trait]
pub trait Audit: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Up to `limit` of the organization's entries after `after`, newest first.
    async fn list_audit(
        &self,
        org: &OrgId,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
}
