use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, E164, OrgId};

/// A Twilio number and who answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub number: E164,
    pub org: OrgId,
    pub agent: AgentId,
    pub enabled: bool,
    #[serde(default)]
    pub version: u64,
}
