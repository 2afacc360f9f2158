use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, CallSid, E164, OrgId};

/// An outbound call hotline was asked to place, stored before Twilio is asked, so that
/// the voice webhook, the status callbacks and a retried request all find what was asked
/// (agent, variables, rendered texts) here and never in a URL alone. Keyed by its id;
/// the id is derived from the organization and the client's `Idempotency-Key` when it
/// sent one, so the same key can only ever place one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dial {
    /// `dl_` and 32 hex digits.
    pub id: String,
    pub org: OrgId,
    pub agent: AgentId,
    pub from: E164,
    pub to: E164,
    pub variables: BTreeMap<String, String>,
    /// The agent's instructions with the variables filled in.
    pub instructions: String,
    /// The agent's greeting, filled in.
    #[serde(default)]
    pub greeting: Option<String>,
    /// The agent's voicemail message, filled in: left after the beep when a machine
    /// answers.
    #[serde(default)]
    pub voicemail_message: Option<String>,
    /// Whether Twilio's answering-machine detection runs on the call.
    pub machine_detection: bool,
    /// SHA-256 of what was asked, so a reused `Idempotency-Key` with another request is
    /// told apart from a retry.
    pub fingerprint: String,
    pub state: DialState,
    /// Twilio's CallSid, once Twilio took the call.
    #[serde(default)]
    pub call_sid: Option<CallSid>,
    /// Why Twilio refused, when it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Set when Twilio had to use the fallback URL: a dialer should place it again.
    #[serde(default)]
    pub retry: bool,
    /// The campaign lead this call is for, if any (the dialer's).
    #[serde(default)]
    pub lead: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// Where a dial is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialState {
    /// Stored; Twilio has been or is being asked.
    Pending,
    /// Twilio took it: `call_sid` is set.
    Placed,
    /// Twilio refused it: `error` says why.
    Failed,
}

/// What Twilio's answering-machine detection said (`AnsweredBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    Human,
    MachineStart,
    MachineEndBeep,
    MachineEndSilence,
    MachineEndOther,
    Fax,
    Unknown,
}

impl AnsweredBy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "human" => Self::Human,
            "machine_start" => Self::MachineStart,
            "machine_end_beep" => Self::MachineEndBeep,
            "machine_end_silence" => Self::MachineEndSilence,
            "machine_end_other" => Self::MachineEndOther,
            "fax" => Self::Fax,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// A machine whose greeting is over: a message left now is recorded.
    pub fn is_message_end(self) -> bool {
        matches!(
            self,
            Self::MachineEndBeep | Self::MachineEndSilence | Self::MachineEndOther
        )
    }
}

/// How an outbound call was answered, as its record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdOutcome {
    /// A machine answered and the agent's voicemail message was left after the beep.
    VoicemailLeft,
    /// A machine answered and no message was left.
    Machine,
    Human,
    Fax,
    Unknown,
}

/// What an outbound call carries beside the common call record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundCall {
    /// The [`Dial`] it came from.
    pub dial: String,
    /// The agent's instructions with the call's variables filled in.
    pub instructions: String,
    /// Said by the agent once a person is known to be on the line (with
    /// answering-machine detection the greeting must not play over a voicemail greeting).
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub voicemail_message: Option<String>,
    pub machine_detection: bool,
    /// Twilio's verdict, once it came; the first one is kept.
    #[serde(default)]
    pub answered_by: Option<AnsweredBy>,
    #[serde(default)]
    pub amd_outcome: Option<AmdOutcome>,
    /// Twilio had to use the fallback URL on this call.
    #[serde(default)]
    pub fallback: bool,
}

impl OutboundCall {
    /// Whether the agent must stay silent: detection runs and has not said who answered.
    pub fn awaits_verdict(&self) -> bool {
        self.machine_detection && self.answered_by.is_none()
    }
}
