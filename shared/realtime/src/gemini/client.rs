//! Client → server: `setup` (first and once), `realtimeInput`, `clientContent`,
//! `toolResponse`. Each message is an object with exactly one of these keys.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{Blob, Content};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientMessage {
    Setup(Box<Setup>),
    // Proto3 JSON parsers take the proto's own snake_case names too, and the Python SDK
    // sends some messages that way: a server stand-in must read both.
    #[serde(alias = "client_content")]
    ClientContent(ClientContent),
    #[serde(alias = "realtime_input")]
    RealtimeInput(RealtimeInput),
    #[serde(alias = "tool_response")]
    ToolResponse(ToolResponse),
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Caller audio, already base64 PCM16 at [`super::INPUT_RATE`].
    pub fn audio(base64_pcm16: String) -> Self {
        Self::RealtimeInput(RealtimeInput {
            audio: Some(Blob {
                mime_type: super::INPUT_MIME.to_owned(),
                data: base64_pcm16,
            }),
            ..RealtimeInput::default()
        })
    }

    /// The message's key, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Setup(_) => "setup",
            Self::ClientContent(_) => "clientContent",
            Self::RealtimeInput(_) => "realtimeInput",
            Self::ToolResponse(_) => "toolResponse",
        }
    }
}

/// `BidiGenerateContentSetup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// `models/{model}`.
    pub model: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "generation_config"
    )]
    pub generation_config: Option<GenerationConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "system_instruction"
    )]
    pub system_instruction: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "realtime_input_config"
    )]
    pub realtime_input_config: Option<RealtimeInputConfig>,
    /// `{}` turns transcripts of the caller on (top level, not in `generationConfig`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "input_audio_transcription"
    )]
    pub input_audio_transcription: Option<AudioTranscriptionConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "output_audio_transcription"
    )]
    pub output_audio_transcription: Option<AudioTranscriptionConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "session_resumption"
    )]
    pub session_resumption: Option<SessionResumptionConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "context_window_compression"
    )]
    pub context_window_compression: Option<ContextWindowCompression>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// `["AUDIO"]` for a native-audio model: one modality per session.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        alias = "response_modalities"
    )]
    pub response_modalities: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "speech_config"
    )]
    pub speech_config: Option<SpeechConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "voice_config"
    )]
    pub voice_config: Option<VoiceConfig>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "language_code"
    )]
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "prebuilt_voice_config"
    )]
    pub prebuilt_voice_config: Option<PrebuiltVoiceConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrebuiltVoiceConfig {
    #[serde(alias = "voice_name")]
    pub voice_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        alias = "function_declarations"
    )]
    pub function_declarations: Vec<FunctionDeclaration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An OpenAPI-subset `Schema` (upper-case types: `OBJECT`, `STRING`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// Server VAD and what caller speech does to a reply in progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeInputConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "automatic_activity_detection"
    )]
    pub automatic_activity_detection: Option<ActivityDetection>,
    /// `START_OF_ACTIVITY_INTERRUPTS` (barge-in, the default) or `NO_INTERRUPTION`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "activity_handling"
    )]
    pub activity_handling: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "turn_coverage"
    )]
    pub turn_coverage: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityDetection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "start_of_speech_sensitivity"
    )]
    pub start_of_speech_sensitivity: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "end_of_speech_sensitivity"
    )]
    pub end_of_speech_sensitivity: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "prefix_padding_ms"
    )]
    pub prefix_padding_ms: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "silence_duration_ms"
    )]
    pub silence_duration_ms: Option<u32>,
}

/// An empty object that switches a transcription on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioTranscriptionConfig {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResumptionConfig {
    /// The last handle of the session to resume; none starts a new session that will
    /// send handles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

/// Lets a session outlive the model's context window (long calls).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextWindowCompression {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "sliding_window"
    )]
    pub sliding_window: Option<SlidingWindow>,
    /// int64: proto3 JSON accepts a number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "trigger_tokens"
    )]
    pub trigger_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlidingWindow {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "target_tokens"
    )]
    pub target_tokens: Option<u64>,
}

/// Streaming input; one field per message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "audio_stream_end"
    )]
    #[serde(alias = "audio_stream_end")]
    pub audio_stream_end: Option<bool>,
    /// Deprecated in favour of `audio`, still accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "media_chunks"
    )]
    #[serde(alias = "media_chunks")]
    pub media_chunks: Option<Vec<Blob>>,
}

/// Turns appended to the conversation; `turnComplete: true` starts a reply (and
/// interrupts one in progress).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientContent {
    #[serde(default)]
    pub turns: Vec<Content>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "turn_complete"
    )]
    #[serde(alias = "turn_complete")]
    pub turn_complete: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResponse {
    #[serde(default, alias = "function_responses")]
    pub function_responses: Vec<FunctionResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// The `functionCalls[].id` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// A JSON object (scalars must be wrapped).
    pub response: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protos_snake_case_names_are_read_too() {
        let audio =
            r#"{"realtime_input":{"audio":{"mime_type":"audio/pcm;rate=16000","data":"AAAA"}}}"#;
        let Ok(ClientMessage::RealtimeInput(input)) = ClientMessage::parse(audio) else {
            panic!("realtime_input");
        };
        assert_eq!(
            input.audio.map(|b| b.mime_type).as_deref(),
            Some("audio/pcm;rate=16000")
        );
        let answer =
            r#"{"tool_response":{"function_responses":[{"id":"1","name":"f","response":{}}]}}"#;
        assert!(
            matches!(ClientMessage::parse(answer), Ok(ClientMessage::ToolResponse(r)) if r.function_responses.len() == 1)
        );
        let turn = r#"{"client_content":{"turns":[],"turn_complete":true}}"#;
        assert!(
            matches!(ClientMessage::parse(turn), Ok(ClientMessage::ClientContent(c)) if c.turn_complete == Some(true))
        );
    }

    #[test]
    fn each_message_is_one_camel_case_key() {
        let audio = ClientMessage::audio("AAAA".into()).to_json();
        assert_eq!(
            audio,
            r#"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"AAAA"}}}"#
        );
        let setup = ClientMessage::Setup(Box::new(Setup {
            model: "models/m".into(),
            input_audio_transcription: Some(AudioTranscriptionConfig {}),
            session_resumption: Some(SessionResumptionConfig { handle: None }),
            ..Setup::default()
        }))
        .to_json();
        assert_eq!(
            setup,
            r#"{"setup":{"model":"models/m","inputAudioTranscription":{},"sessionResumption":{}}}"#
        );
        assert_eq!(
            ClientMessage::parse(&setup).map(|m| m.kind()).ok(),
            Some("setup")
        );
        assert!(ClientMessage::parse(r#"{"bogus":{}}"#).is_err());
    }
}
