use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
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
    pub post_call: PostCall,
    /// What hotline placed the call with, for calls it dialled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<crate::model::OutboundCall>,
    #[serde(default)]
    pub version: u64,
}

impl Call {
    /// Applies a status Twilio reported at `at`. Callbacks arrive out of order, so the
    /// status only ever moves forward (a terminal status is final), and times are only
    /// filled in, never replaced. Returns whether anything changed.
    pub fn apply_status(&mut self, status: CallStatus, at: DateTime<Utc>) -> bool {
        let before = (self.status, self.answered_at, self.ended_at);
        if !self.status.is_terminal() && status > self.status {
            self.status = status;
        }
        if status == CallStatus::InProgress && self.answered_at.is_none() {
            self.answered_at = Some(at);
        }
        if status.is_terminal() && self.ended_at.is_none() {
            self.ended_at = Some(at);
        }
        before != (self.status, self.answered_at, self.ended_at)
    }

    /// Notes `incoming` on the call without going backwards; returns whether anything
    /// changed. The call's first recording is the one kept. For it, a final status
    /// (`completed`, `failed`, `absent`) is never replaced (callbacks arrive out of order
    /// and more than once), duration and error code are only filled in, and what hotline
    /// added itself (its copy's key, the deletion from Twilio) is never touched.
    pub fn note_recording(&mut self, incoming: &RecordingRef) -> bool {
        let Some(kept) = self.recording.as_mut() else {
            self.recording = Some(incoming.clone());
            return true;
        };
        if kept.sid != incoming.sid {
            return false;
        }
        let before = kept.clone();
        if !kept.status.is_final() {
            kept.status = incoming.status;
        }
        if kept.status == incoming.status {
            if kept.duration_secs.is_none() {
                kept.duration_secs = incoming.duration_secs;
            }
            if kept.error_code.is_none() {
                kept.error_code.clone_from(&incoming.error_code);
            }
        }
        *kept != before
    }

    /// Whether the call ended after a conversation and its post-call job has not been
    /// sent yet (never claimed, or claimed by someone who died before sending it). The
    /// sweeper looks for these; calls refused before the agent spoke have no job.
    pub fn awaits_postcall_job(&self) -> bool {
        let refused = self.outcome.as_ref().is_some_and(|o| {
            matches!(o.reason, EndReason::NotInService | EndReason::AgentDisabled)
        });
        self.status == CallStatus::Completed
            && self.ended_at.is_some()
            && !refused
            && self.post_call.completed_at.is_none()
            && self
                .post_call
                .job
                .as_ref()
                .is_none_or(|j| j.enqueued_at.is_none())
    }

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
    /// The provider that carried the conversation: the agent's own, or its fallback
    /// when the own one failed at connect. None when no AI joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<crate::model::Provider>,
    /// How quickly the agent answered, as the stream node measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// The call's latency as the caller lived it, measured by the stream node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Opening and configuring the AI session, from the moment the call may start (after
    /// an outbound call's answering-machine verdict), the fallback's attempt included when
    /// the agent's own provider failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<u32>,
    /// Caller turns the agent answered: the caller stopped speaking, then agent audio.
    pub turns: u32,
    /// Caller stopped speaking (the provider's speech stop) → the reply's first audio
    /// sent to Twilio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_ms: Option<Spread>,
    /// Caller stopped speaking → Twilio echoed the first mark behind that audio: the
    /// caller has heard the reply start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard_ms: Option<Spread>,
    /// The session was opened while the call was being connected (pre-warm): the
    /// stream's start found it live, and `connect_ms` is only what was left to wait.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prewarmed: bool,
}

/// Nearest-rank percentiles of a call's turns, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub p50: u32,
    pub p95: u32,
    pub max: u32,
}

impl Spread {
    /// The spread of `samples`; none when there are none.
    pub fn of(samples: &[u32]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: usize| sorted[(sorted.len() * p).div_ceil(100).max(1) - 1];
        Some(Self {
            p50: rank(50),
            p95: rank(95),
            max: rank(100),
        })
    }
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
    pub status: RecordingStatus,
    #[serde(default)]
    pub duration_secs: Option<u32>,
    /// Twilio's `ErrorCode` when the recording failed.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Where hotline keeps its copy, once it has one.
    #[serde(default)]
    pub blob_key: Option<String>,
    /// Set once the organization asked for it and Twilio no longer holds the media.
    #[serde(default)]
    pub deleted_from_twilio: bool,
}

impl RecordingRef {
    /// Whether Twilio has media to download.
    pub fn is_available(&self) -> bool {
        self.status == RecordingStatus::Completed
    }
}

/// Twilio's `RecordingStatus`, stored in Twilio's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingStatus {
    InProgress,
    Paused,
    Stopped,
    /// Only in the REST API's answers: the call is over, the media not ready yet.
    Processing,
    Completed,
    Failed,
    /// Twilio kept no recording (system error, or silent and trimmed away).
    Absent,
}

impl RecordingStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in-progress" => Self::InProgress,
            "paused" => Self::Paused,
            "stopped" => Self::Stopped,
            "processing" => Self::Processing,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "absent" => Self::Absent,
            _ => return None,
        })
    }

    /// Twilio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Absent => "absent",
        }
    }

    /// Twilio reports nothing more about the recording: it is there to download, or it
    /// never will be. The post-call job runs either way (without a recording it works
    /// from the live transcript).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Absent)
    }
}

impl std::fmt::Display for RecordingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The report by e-mail and by webhook are separate stages so that a retry of one
    /// never repeats the other.
    ReportEmail,
    ReportWebhook,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Recording,
        Stage::Transcript,
        Stage::Analysis,
        Stage::Todos,
        Stage::Contact,
        Stage::ReportEmail,
        Stage::ReportWebhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Transcript => "transcript",
            Self::Analysis => "analysis",
            Self::Todos => "todos",
            Self::Contact => "contact",
            Self::ReportEmail => "report_email",
            Self::ReportWebhook => "report_webhook",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageState {
    pub status: StageStatus,
    pub at: DateTime<Utc>,
    /// Why it failed or is being retried; the job's latest error is also kept in
    /// [`PostCall::last_error`] after a later success clears it here.
    #[serde(default)]
    pub error: Option<String>,
    /// What it produced or why it was skipped, for people (e.g. an e-mail's message id).
    #[serde(default)]
    pub detail: Option<String>,
}

/// Everything the post-call pipeline did for this call. Each stage writes its result
/// here before it is marked done, so a redelivered job resumes where the last one stopped
/// and never repeats a finished stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostCall {
    /// The one job requested for this call (see `hotline_core::postcall`).
    pub job: Option<JobClaim>,
    pub stages: BTreeMap<Stage, StageState>,
    pub transcript: Option<TranscriptRef>,
    /// Each analyzer's result, by analyzer name.
    pub analysis: BTreeMap<String, AnalysisResult>,
    /// The to-dos the call produced, fixed before they are stored as items.
    pub todos: Option<Vec<TodoItem>>,
    /// What the call taught about the contact, fixed before it is applied.
    pub contact_facts: Option<ContactFacts>,
    /// How many times a worker picked the job up.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The job failed on its last allowed receive and went to the dead-letter queue.
    pub dead_lettered: bool,
    /// A worker holds the job until then; another delivery waits rather than run beside it.
    pub lease_until: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl PostCall {
    /// Whether `stage` reached a final state and must not run again.
    pub fn finished(&self, stage: Stage) -> bool {
        self.stages.get(&stage).is_some_and(|s| {
            matches!(
                s.status,
                StageStatus::Done | StageStatus::Skipped | StageStatus::Failed
            )
        })
    }
}

/// The post-call job of a call: who claimed the right to enqueue it, and whether they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaim {
    /// What the job is deduplicated on: the RecordingSid, or `no-recording`.
    pub key: String,
    /// Random, so the claimant can tell its own claim from a concurrent one.
    pub token: String,
    pub claimed_at: DateTime<Utc>,
    #[serde(default)]
    pub enqueued_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub message_id: Option<String>,
}

/// The call's transcript: its beginning here, the full document in the blob store, so
/// that an hour-long call's record stays far below DynamoDB's 400 KB item limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptRef {
    pub source: TranscriptSource,
    /// The whole text, or its first [`TranscriptRef::EXCERPT_CHARS`] characters when
    /// `truncated`.
    pub text: String,
    /// The text here is only the beginning; the document at `blob_key` has it all.
    #[serde(default)]
    pub truncated: bool,
    pub blob_key: String,
    /// The transcription model, when the recording was transcribed.
    #[serde(default)]
    pub model: Option<String>,
}

impl TranscriptRef {
    /// Most characters of the transcript kept on the call record (at most 16 KB).
    pub const EXCERPT_CHARS: usize = 4000;

    /// The reference to a stored transcript, keeping at most an excerpt of `text`.
    pub fn new(
        source: TranscriptSource,
        text: &str,
        blob_key: String,
        model: Option<String>,
    ) -> Self {
        let excerpt = match text.char_indices().nth(Self::EXCERPT_CHARS) {
            Some((end, _)) => &text[..end],
            None => text,
        };
        Self {
            source,
            truncated: excerpt.len() < text.len(),
            text: excerpt.to_owned(),
            blob_key,
            model,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptSource {
    /// Transcribed from the recording after the call.
    Recording,
    /// Assembled from the turns transcribed live during the call (no usable recording).
    Live,
}

/// One analyzer's outcome: a value that satisfied its schema, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AnalysisResult {
    Ok {
        /// The value itself; when it was too large for the call record, a short
        /// preview of it as a string, and `blob_key` names the whole value.
        value: serde_json::Value,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blob_key: Option<String>,
    },
    Failed {
        error: String,
        at: DateTime<Utc>,
    },
}

/// A follow-up the call asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    pub title: String,
    #[serde(default)]
    pub due: Option<NaiveDate>,
    #[serde(default)]
    pub assignee: Option<String>,
}

impl std::fmt::Display for TodoItem {
    /// `Call Dana back (due 2026-11-24, front desk)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title)?;
        let due = self.due.map(|d| format!("due {d}"));
        let extra: Vec<&str> = [due.as_deref(), self.assignee.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        Ok(())
    }
}

/// What a call revealed about the person on the line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactFacts {
    pub name: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Done,
    /// Nothing to do (no recording, no recipients, …); `detail` says why.
    Skipped,
    /// Gave up for good (e.g. the provider refused the input); the pipeline went on.
    Failed,
    /// The last attempt hit a passing error; the job's redelivery tries again.
    Retrying,
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
    fn status_never_moves_backwards_and_times_only_fill_in() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time");
        let mut call: Call = serde_json::from_value(serde_json::json!({
            "sid": format!("CA{}", "a".repeat(32)), "org": "acme", "agent": "front",
            "from": "+14155550100", "to": "+14155550199", "direction": "inbound",
            "status": "ringing", "started_at": t(0), "stream_token": "x"
        }))
        .expect("call");
        assert!(call.apply_status(CallStatus::Completed, t(60)));
        assert!(call.apply_status(CallStatus::InProgress, t(5)));
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.answered_at, Some(t(5)));
        assert!(!call.apply_status(CallStatus::Ringing, t(1)));
        assert!(!call.apply_status(CallStatus::Canceled, t(70)));
        assert_eq!(
            (call.status, call.ended_at),
            (CallStatus::Completed, Some(t(60)))
        );
    }

    const REC: &str = "RE33333333333333333333333333333333";

    fn call() -> Call {
        serde_json::from_value(serde_json::json!({
            "sid": format!("CA{}", "2".repeat(32)), "org": "acme", "agent": "front",
            "from": "+14155550100", "to": "+14155550199", "direction": "inbound",
            "status": "completed", "started_at": "2026-11-20T21:40:00Z", "stream_token": "x"
        }))
        .expect("call")
    }

    fn recording(sid: &str, status: RecordingStatus, duration: Option<u32>) -> RecordingRef {
        RecordingRef {
            sid: RecordingSid::parse(sid).expect("sid"),
            status,
            duration_secs: duration,
            error_code: None,
            blob_key: None,
            deleted_from_twilio: false,
        }
    }

    #[test]
    fn a_final_recording_status_is_never_replaced_and_fields_only_fill_in() {
        use RecordingStatus::{Absent, Completed, InProgress};
        let mut c = call();
        assert!(c.note_recording(&recording(REC, InProgress, None)));
        assert!(c.note_recording(&recording(REC, Completed, Some(61))));
        assert!(!c.note_recording(&recording(REC, Completed, Some(61))));
        assert!(!c.note_recording(&recording(REC, InProgress, None)));
        assert!(!c.note_recording(&recording(REC, Absent, Some(3))));
        c.recording.as_mut().expect("recording").blob_key = Some("recordings/acme/x.mp3".into());
        assert!(!c.note_recording(&recording(REC, Completed, Some(99))));
        let kept = c.recording.expect("recording");
        assert_eq!(kept.status, Completed);
        assert_eq!(kept.duration_secs, Some(61));
        assert_eq!(kept.blob_key.as_deref(), Some("recordings/acme/x.mp3"));
    }

    #[test]
    fn the_first_recording_of_a_call_is_kept() {
        let mut c = call();
        assert!(c.note_recording(&recording(REC, RecordingStatus::Completed, Some(61))));
        let other = format!("RE{}", "4".repeat(32));
        assert!(!c.note_recording(&recording(&other, RecordingStatus::Completed, Some(5))));
        assert_eq!(c.recording.expect("recording").sid.as_str(), REC);
    }

    #[test]
    fn recording_statuses_keep_twilios_spelling_when_stored() {
        let r = recording(REC, RecordingStatus::InProgress, None);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["status"], "in-progress");
        let back: RecordingRef = serde_json::from_value(json).expect("back");
        assert_eq!(back, r);
    }

    #[test]
    fn a_call_awaits_its_job_from_its_end_until_the_job_is_sent() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time");
        let mut c = call();
        c.status = CallStatus::InProgress;
        assert!(!c.awaits_postcall_job(), "still talking");
        c.apply_status(CallStatus::Completed, t(60));
        assert!(c.awaits_postcall_job());
        c.post_call.job = Some(JobClaim {
            key: REC.into(),
            token: "t".into(),
            claimed_at: t(61),
            enqueued_at: None,
            message_id: None,
        });
        assert!(c.awaits_postcall_job(), "claimed but never sent");
        if let Some(j) = c.post_call.job.as_mut() {
            j.enqueued_at = Some(t(61));
        }
        assert!(!c.awaits_postcall_job());
    }

    #[test]
    fn a_transcript_reference_keeps_an_excerpt_of_a_long_text() {
        let short = TranscriptRef::new(TranscriptSource::Live, "Agent: hi", "k".into(), None);
        assert_eq!((short.text.as_str(), short.truncated), ("Agent: hi", false));
        let long = "é".repeat(TranscriptRef::EXCERPT_CHARS + 1);
        let r = TranscriptRef::new(TranscriptSource::Recording, &long, "k".into(), None);
        assert!(r.truncated);
        assert_eq!(r.text.chars().count(), TranscriptRef::EXCERPT_CHARS);
        let exact = "a".repeat(TranscriptRef::EXCERPT_CHARS);
        assert!(!TranscriptRef::new(TranscriptSource::Live, &exact, "k".into(), None).truncated);
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

#[cfg(test)]
mod spread_tests {
    use super::Spread;

    #[test]
    fn percentiles_are_nearest_rank_and_nothing_measured_is_none() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[700]),
            Some(Spread {
                p50: 700,
                p95: 700,
                max: 700
            })
        );
        let twenty: Vec<u32> = (1..=20).rev().map(|n| n * 100).collect();
        assert_eq!(
            Spread::of(&twenty),
            Some(Spread {
                p50: 1000,
                p95: 1900,
                max: 2000
            })
        );
    }
}
