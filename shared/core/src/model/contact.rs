use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallSid, E164, OrgId};

/// A person who called or was called, one per organization and phone number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub org: OrgId,
    pub phone: E164,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub last_call: Option<CallSid>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Contact {
    pub fn new(org: OrgId, phone: E164, now: DateTime<Utc>) -> Self {
        Self {
            org,
            phone,
            name: None,
            company: None,
            notes: None,
            last_call: None,
            created_at: now,
            version: 0,
        }
    }
}
