//! What the API reads and writes, in the configuration file's names (an agent here is an
//! entry of `agents:` in hotline.yaml, plus its `version`). The types exist for the wire
//! and the OpenAPI document; the rules stay in shared/core and shared/config.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which realtime model family carries the conversation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderName {
    OpenaiRealtime,
    GeminiLive,
    Pipeline,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolType {
    EndCall,
    TransferCall,
    Webhook,
    SendSms,
    SendDtmf,
    OptOut,
}

/// How `transfer_call` hands the caller over.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferModeName {
    Cold,
    Warm,
}

/// A tool the agent may call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ToolType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// transfer_call: the E.164 number to transfer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// transfer_call: `cold` (default: the caller redirected to the number) or `warm`
    /// (on hold in a conference, the person whispered a summary and asked to press 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TransferModeName>,
    /// transfer_call, warm: what the caller hears while waiting (Twilio's hold music if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_music_url: Option<String>,
    /// transfer_call, warm: how long the person's phone rings, 5-120 s (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_timeout_secs: Option<u32>,
    /// webhook: the URL the arguments are POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A post-call analysis: a prompt whose answer must match a JSON Schema.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzerBody {
    pub name: String,
    pub prompt: String,
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}

/// Guardrails on one call; an absent field takes its default.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_timeout_secs: Option<u32>,
}

/// An agent as stored, with the version a write must name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentOut {
    pub id: String,
    pub name: String,
    pub provider: ProviderName,
    pub model: String,
    pub instructions: String,
    pub voice: String,
    pub greeting: Option<String>,
    /// Outbound calls: left after the beep when a machine answers.
    #[serde(default)]
    pub voicemail_message: Option<String>,
    pub enabled: bool,
    pub tools: Vec<Tool>,
    pub analyzers: Vec<AnalyzerBody>,
    pub limits: Limits,
    #[serde(default)]
    pub fallback: Option<FallbackBody>,
    /// Changes on every write; send it back with a `PUT` to write over this version only.
    pub version: u64,
}

/// The whole agent, replacing what is stored. Absent optional fields take the
/// configuration file's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentWrite {
    /// The version this write replaces (from a `GET`); 0 creates an agent that does not
    /// exist yet. Anything else stale gets 409.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub provider: ProviderName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub instructions: String,
    pub voice: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub analyzers: Vec<AnalyzerBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackBody>,
}

/// The provider that carries a call when the agent's own refuses or fails at connect.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackBody {
    pub provider: ProviderName,
    /// The fallback provider's model; absent takes that provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The fallback provider's own voice name.
    pub voice: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentOut>,
}

/// A phone number and the agent that answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberOut {
    pub number: String,
    pub agent: String,
    pub enabled: bool,
    /// Analyzers of its own, run beside its agent's (the organization's defaults when
    /// it was bought through the API).
    pub analyzers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NumberList {
    pub numbers: Vec<NumberOut>,
}

/// One call, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallSummary {
    pub sid: String,
    pub agent: String,
    pub from: String,
    pub to: String,
    /// `inbound`, `outbound-api` or `outbound-dial`.
    pub direction: String,
    /// Twilio's call status: `queued` … `completed`, `busy`, `no-answer`, `failed`, `canceled`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i64>,
    /// The contact's phone number, when the other party is a phone.
    pub contact: Option<String>,
    /// How the call ended: `{reason, detail}`.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// One thing said in the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnOut {
    pub seq: u32,
    /// `caller` or `agent`.
    pub speaker: String,
    pub text: String,
    /// Milliseconds from the start of the stream.
    pub offset_ms: u64,
}

/// One call with what was said and what the post-call stages made of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallSummary,
    pub turns: Vec<TurnOut>,
    /// The recording as Twilio reported it: `{sid, status, duration_secs, …}`.
    #[schema(value_type = Option<Object>)]
    pub recording: Option<serde_json::Value>,
    /// A link that GETs hotline's copy of the recording, without credentials, until
    /// `links_expire_at` (an S3 presigned URL in AWS; a signed `hotline up` link locally).
    pub recording_url: Option<String>,
    /// A link to the full transcript document (JSON), as for `recording_url`.
    pub transcript_url: Option<String>,
    /// When the links stop working; `GET` the call again for fresh ones.
    pub links_expire_at: Option<DateTime<Utc>>,
    /// Post-call stages (`stages`: stage → `{status, at, error, detail}`), transcript
    /// excerpt, analyses, to-dos and contact facts.
    #[schema(value_type = Object)]
    pub post_call: serde_json::Value,
    /// Calls hotline placed: `{dial, machine_detection, answered_by, amd_outcome
    /// (voicemail_left, machine, human, fax, unknown), fallback}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub outbound: Option<serde_json::Value>,
}

/// `POST /api/v1/numbers`: which number to buy (an area code, or a country and a
/// pattern) and who answers it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyNumberRequest {
    /// Three digits (US and Canada).
    #[serde(default)]
    pub area_code: Option<String>,
    /// ISO 3166 alpha-2; `US` when absent.
    #[serde(default)]
    pub country: Option<String>,
    /// Twilio's pattern: 2 to 16 digits, letters (keypad) or `*`.
    #[serde(default)]
    pub contains: Option<String>,
    /// The agent that answers; the organization's first enabled agent when absent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Whether texts to the number are answered (default true).
    #[serde(default)]
    pub sms: Option<bool>,
}

/// A number bought and routed.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoughtNumber {
    pub number: String,
    pub agent: String,
    pub enabled: bool,
    pub sms: bool,
    /// The analyzers that run on its calls: its agent's, then the organization's
    /// default analyzers it was given.
    pub analyzers: Vec<String>,
    /// Twilio's `PN…` id of the number.
    pub twilio_sid: String,
    /// The Twilio account it was bought into.
    pub account_sid: String,
}

/// The organization's Twilio account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubaccountOut {
    pub account_sid: String,
    /// Whether it was made by this request.
    pub created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioAccountOut {
    pub sid: String,
    pub friendly_name: Option<String>,
    /// `active`, `suspended` or `closed`.
    pub status: Option<String>,
    /// `Trial` or `Full`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A number as Twilio has it configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioNumberOut {
    pub number: String,
    pub sid: String,
    pub voice_url: Option<String>,
    pub sms_url: Option<String>,
    pub status_callback: Option<String>,
}

/// `GET /api/v1/twilio/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioStatus {
    /// Whether Twilio accepted the organization's credentials.
    pub connected: bool,
    pub account: TwilioAccountOut,
    pub numbers: Vec<TwilioNumberOut>,
    /// Why not connected, in words.
    pub error: Option<String>,
}
