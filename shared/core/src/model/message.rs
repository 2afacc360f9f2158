use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, E164, MessageSid, OrgId};

/// How a contact and an organization talk. A contact has one conversation per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Sms,
    Web,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Sms => "sms",
            Self::Web => "web",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageDirection {
    /// From the contact to the organization.
    Inbound,
    /// From the organization to the contact.
    Outbound,
}

/// One message of a contact's conversation, keyed by Twilio's `MessageSid` within its
/// organization. An inbound text carries the agent's answer in `reply`, written once:
/// a retried webhook finds it and answers the same, without asking the LLM again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub sid: MessageSid,
    pub org: OrgId,
    /// The contact's phone number: the other party, whatever the direction.
    pub contact: E164,
    pub channel: Channel,
    pub direction: MessageDirection,
    /// The organization's number the message went through.
    pub number: E164,
    pub body: String,
    /// Media attached (MMS): only the count is kept; the media stay at Twilio.
    #[serde(default)]
    pub media: u32,
    pub at: DateTime<Utc>,
    /// The agent answering an inbound message.
    #[serde(default)]
    pub agent: Option<AgentId>,
    /// Whoever answers holds the message until then; a retry arriving before waits for
    /// the answer instead of asking the LLM a second time.
    #[serde(default)]
    pub claimed_until: Option<DateTime<Utc>>,
    /// The answer sent back, once there is one (possibly empty: nothing to say).
    #[serde(default)]
    pub reply: Option<String>,
    #[serde(default)]
    pub replied_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}
