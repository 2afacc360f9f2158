use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, CallSid, E164, OrgId, Party, RecordingSid};

/// One phone call handled by hotline, keyed by Twilio's CallSid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub sid: CallSid,
    pub org: OrgId,
    pub agent: AgentId,
    pub from: Party,
    pub to: Party,
    pub direction: Direction,
    pub status: CallStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// The caller's (inbound) or callee's (outbound) contact, when that party is a phone.
    #[serde(default)]
    pub contact: Option<E164>,
    /// Spoken by Twilio before the stream connects, fixed when the call is created so a
    /// retried webhook answers with the same TwiML.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Random secret handed to the stream node in a `<Parameter>`; the stream's `start`
    /// must carry it back.
    pub stream_token: String,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub recording: Option<RecordingRef>,
    #[serde(default)]
    pub post_call: BTreeMap<Stage, StageState>,
    #[serde(default)]
    pub version: u64,
}

impl Call {
    /// Seconds between start and end, once the call has ended.
    pub fn duration_secs(&self) -> Option<i64> {
        let end = self.ended_at?;
        Some((end - self.answered_at.unwrap_or(self.started_at)).num_seconds())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Inbound,
    /// Placed by hotline through Twilio's REST API.
    OutboundApi,
    /// A leg created by `<Dial>`.
    OutboundDial,
}

impl Direction {
    /// Twilio's spelling, as in the `Direction` webhook parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Self::Inbound),
            "outbound-api" => Some(Self::OutboundApi),
            "outbound-dial" => Some(Self::OutboundDial),
            _ => None,
        }
    }
}

/// Twilio's call statuses, ordered so that a later one never gives way to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    Queued,
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

impl CallStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "initiated" => Self::Initiated,
            "ringing" => Self::Ringing,
            "in-progress" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        self >= Self::Completed
    }
}

/// How and why a call ended, as the stream node or status callback saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub reason: EndReason,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    CallerHungUp,
    AgentEnded,
    Transferred,
    MaxDuration,
    Silence,
    ProviderFailed,
    StreamFailed,
    Shutdown,
    NotInService,
    AgentDisabled,
}

/// The call's recording as Twilio reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingRef {
    pub sid: RecordingSid,
    pub status: String,
    #[serde(default)]
    pub duration_secs: Option<u32>,
    /// Where hotline keeps its copy, once it has one.
    #[serde(default)]
    pub blob_key: Option<String>,
}

/// The post-call steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Recording,
    Transcript,
    Analysis,
    Todos,
    Contact,
    Report,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    pub status: StageStatus,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Done,
    Failed,
    Skipped,
}

/// One utterance in the live conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Position in the call, from 0; also the turn's key, so a retried append is a no-op.
    pub seq: u32,
    pub speaker: Speaker,
    pub text: String,
    /// Milliseconds from the start of the stream.
    pub offset_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Caller,
    Agent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses_sort_after_live_ones() {
        assert!(CallStatus::Ringing < CallStatus::InProgress);
        assert!(CallStatus::InProgress < CallStatus::Completed);
        assert!(CallStatus::Busy.is_terminal());
        assert!(!CallStatus::InProgress.is_terminal());
    }

    #[test]
    fn statuses_parse_twilio_spellings() {
        assert_eq!(CallStatus::parse("no-answer"), Some(CallStatus::NoAnswer));
        assert_eq!(
            CallStatus::parse("in-progress"),
            Some(CallStatus::InProgress)
        );
        assert_eq!(CallStatus::parse("done"), None);
        assert_eq!(
            Direction::parse("outbound-api"),
            Some(Direction::OutboundApi)
        );
    }
}
