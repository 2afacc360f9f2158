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
    /// The answer missed Twilio's wait and went out as its own text(s) through the
    /// Messages API (stored in the conversation as outbound): a retry of this text is
    /// answered with nothing, and the history shows the answer once.
    #[serde(default)]
    pub reply_texted: bool,
    /// Where Twilio is with delivering an outbound text; `None` for inbound ones.
    #[serde(default)]
    pub delivery: Option<DeliveryState>,
    #[serde(default)]
    pub version: u64,
}

/// An outbound text's delivery state, as Twilio's `MessageStatus` reports it. States
/// only move forward (see [`DeliveryState::advances_to`]): status callbacks may arrive
/// out of order or twice, and a late `sent` must not undo `delivered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
}

impl DeliveryState {
    /// Twilio's `status` / `MessageStatus` value. `accepted` and `scheduled` (a
    /// Messaging Service holding the text) are still queued; states of inbound
    /// messages (`received`, …) and unknown ones are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" | "scheduled" | "queued" => Some(Self::Queued),
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "delivered" | "read" => Some(Self::Delivered),
            "undelivered" => Some(Self::Undelivered),
            "failed" | "canceled" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered | Self::Undelivered | Self::Failed => 3,
        }
    }

    /// Whether a report of `next` moves a text in this state forward. A final state
    /// (`delivered`, `undelivered`, `failed`) is never left.
    pub fn advances_to(self, next: Self) -> bool {
        next.rank() > self.rank()
    }
}
