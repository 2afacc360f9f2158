//! Session configuration (GA shape): what `session.update` sends and what
//! `session.created` / `session.updated` report back.
//!
//! Every field is optional because `session.update` is a partial update: only fields
//! present change. Fields that can be switched off with `null` (`turn_detection`,
//! `transcription`, `noise_reduction`, `tracing`) are `Option<Option<T>>`: `None` leaves
//! the setting alone, `Some(None)` sends `null`, `Some(Some(v))` sets it.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::serde_util::nullable;

/// `session` object of the GA interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `type`: required by the GA interface on every `session.update`.
    #[serde(rename = "type", default)]
    pub kind: SessionKind,
    /// Realtime model; cannot be changed by an update (set it in the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System instructions; `""` clears them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `["audio"]` (audio plus transcript, the default) or `["text"]`; never both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<Modality>>,
    /// Input and output audio settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioConfig>,
    /// Function tools; `[]` clears them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How the model picks tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Cap per response, 1–4096 or `"inf"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// `"auto"`, a tracing object, or `null` (off); kept as raw JSON.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub tracing: Option<Option<serde_json::Value>>,
    /// Conversation truncation strategy (`"auto"`, `"disabled"` or an object); raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<serde_json::Value>,
    /// Reference to a stored prompt template; raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<serde_json::Value>,
    /// Extra server outputs, e.g. `"item.input_audio_transcription.logprobs"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Reasoning settings (reasoning models such as `gpt-realtime-2` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// Parallel tool calls (reasoning models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
}

impl Session {
    /// A speech-to-speech session (`"type": "realtime"`) with nothing else set.
    pub fn realtime() -> Self {
        Self::default()
    }
}

/// `session.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// Speech-to-speech: `"realtime"`.
    #[default]
    Realtime,
    /// Transcription only: `"transcription"`.
    Transcription,
    /// A kind this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// An output modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Audio,
    /// A modality this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `session.audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<AudioInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<AudioOutput>,
}

/// `session.audio.input`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInput {
    /// Format of what `input_audio_buffer.append` carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    /// Noise reduction; `Some(None)` turns it off.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub noise_reduction: Option<Option<NoiseReduction>>,
    /// Asynchronous transcription of the caller; `Some(None)` turns it off.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub transcription: Option<Option<Transcription>>,
    /// Voice activity detection; `Some(None)` means manual turns (commit + `response.create`).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub turn_detection: Option<Option<TurnDetection>>,
}

/// `session.audio.output` (also `response.audio.output` without `speed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioOutput {
    /// Format of `response.output_audio.delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    /// Fixed once the model has produced audio in the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Voice>,
    /// 0.25–1.5, changeable only between turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

/// An audio format, `{"type": "audio/pcmu"}` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AudioFormat {
    /// 16-bit little-endian mono PCM; only `rate: 24000` exists.
    #[serde(rename = "audio/pcm")]
    Pcm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<u32>,
    },
    /// G.711 µ-law, 8 kHz: what Twilio Media Streams carry.
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    /// G.711 A-law, 8 kHz.
    #[serde(rename = "audio/pcma")]
    Pcma,
    /// A format this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `audio.input.noise_reduction`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseReduction {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<NoiseReductionKind>,
}

/// Noise reduction for close (`near_field`) or distant (`far_field`) microphones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseReductionKind {
    NearField,
    FarField,
    /// A kind this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `audio.input.transcription`: which model transcribes the caller, asynchronously.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcription {
    /// e.g. `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`, `whisper-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// ISO-639-1 language of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Vocabulary or style hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// `audio.input.turn_detection` when enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TurnDetection {
    /// Silence-based detection: `"server_vad"`.
    #[serde(rename = "server_vad")]
    ServerVad(ServerVad),
    /// Model-based end-of-turn detection: `"semantic_vad"`.
    #[serde(rename = "semantic_vad")]
    SemanticVad(SemanticVad),
    /// A mode this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Server VAD settings; unset fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerVad {
    /// Activation threshold 0–1 (default 0.5); raise it on noisy lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Audio kept before detected speech, ms (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_padding_ms: Option<u32>,
    /// Silence that ends a turn, ms (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration_ms: Option<u32>,
    /// Respond automatically when speech stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_response: Option<bool>,
    /// Cancel the in-progress response when speech starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_response: Option<bool>,
    /// Respond on its own after this much caller silence, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u32>,
}

/// Semantic VAD settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemanticVad {
    /// `low`, `medium`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eagerness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_response: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_response: Option<bool>,
}

/// A voice: a built-in name (`marin`, `cedar`, `alloy`, …) or a custom voice id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Voice {
    Named(String),
    Custom { id: String },
}

impl From<&str> for Voice {
    fn from(name: &str) -> Self {
        Self::Named(name.to_owned())
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Tool {
    /// A function the client runs: `{"type": "function", name, description, parameters}`
    /// (flat, not nested under `function` as in Chat Completions).
    #[serde(rename = "function")]
    Function(FunctionTool),
    /// A tool kind this library does not know, e.g. `mcp` (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// A function tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    /// When and how to call it, and what to tell the caller meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
}

/// `tool_choice`: a mode or one named tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    /// Force one function: `{"type": "function", "name": …}`.
    Function(ToolChoiceFunction),
    /// Any other shape (e.g. forcing an MCP tool), kept as raw JSON.
    Other(serde_json::Value),
}

/// `"none"`, `"auto"` or `"required"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    None,
    Auto,
    Required,
}

/// Forces a call of the named function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "function", from = "FunctionChoiceWire")]
pub struct ToolChoiceFunction {
    pub name: String,
}

/// Reads `{"type": "function", name}` and refuses other `type`s (a struct-level `tag`
/// is written on output but not checked on input).
#[derive(Deserialize)]
#[serde(tag = "type")]
enum FunctionChoiceWire {
    #[serde(rename = "function")]
    Function { name: String },
}

impl From<FunctionChoiceWire> for ToolChoiceFunction {
    fn from(wire: FunctionChoiceWire) -> Self {
        let FunctionChoiceWire::Function { name } = wire;
        Self { name }
    }
}

/// `reasoning` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium`, `high`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// `max_output_tokens`: a number or `"inf"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxOutputTokens {
    Limit(u32),
    Inf,
}

impl Serialize for MaxOutputTokens {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Limit(n) => s.serialize_u32(*n),
            Self::Inf => s.serialize_str("inf"),
        }
    }
}

impl<'de> Deserialize<'de> for MaxOutputTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MaxVisitor;

        impl Visitor<'_> for MaxVisitor {
            type Value = MaxOutputTokens;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count or \"inf\"")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(MaxOutputTokens::Limit)
                    .map_err(|_| E::custom("max_output_tokens out of range"))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(MaxOutputTokens::Limit)
                    .map_err(|_| E::custom("max_output_tokens out of range"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "inf" {
                    Ok(MaxOutputTokens::Inf)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }

        d.deserialize_any(MaxVisitor)
    }
}
