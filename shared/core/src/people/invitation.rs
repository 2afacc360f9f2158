use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OrgId;
use crate::model::Role;

/// How long an invitation can be accepted: a week.
pub const INVITATION_TTL_HOURS: i64 = 7 * 24;

/// An offer to join an organization with a role, accepted once with its token. Stored
/// under the token's SHA-256; the token is shown once, to whoever invites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub org: OrgId,
    pub email: String,
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Who invited: an [audit actor](crate::audit::Actor).
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub accepted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl Invitation {
    /// A new invitation: the record and the token to show once.
    pub fn issue(
        org: OrgId,
        email: String,
        role: Role,
        invited_by: String,
        now: DateTime<Utc>,
    ) -> (Self, String) {
        let (token, hash) = super::new_secret("hi_");
        (
            Self {
                id: uuid::Uuid::new_v4().simple().to_string(),
                org,
                email,
                role,
                hash,
                invited_by,
                created_at: now,
                expires_at: now + TimeDelta::hours(INVITATION_TTL_HOURS),
                accepted_at: None,
                revoked_at: None,
                version: 0,
            },
            token,
        )
    }

    pub fn state(&self, now: DateTime<Utc>) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }
}
