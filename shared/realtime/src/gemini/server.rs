//! Server → client: one of `setupComplete`, `serverContent`, `toolCall`,
//! `toolCallCancellation`, `goAway`, `sessionResumptionUpdate`, with `usageMetadata`
//! possibly beside it. Read as a struct of options (a new key Google adds must not
//! break a call) and looked at through [`ServerMessage::event`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::Content;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_complete: Option<SetupComplete>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_content: Option<ServerContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_cancellation: Option<ToolCallCancellation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_away: Option<GoAway>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_resumption_update: Option<SessionResumptionUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
}

/// What a server message is, by its one key.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    SetupComplete(SetupComplete),
    Content(ServerContent),
    ToolCall(ToolCall),
    ToolCallCancellation(ToolCallCancellation),
    GoAway(GoAway),
    SessionResumptionUpdate(SessionResumptionUpdate),
    /// Only `usageMetadata`, or a key this client does not know.
    Other,
}

impl ServerMessage {
    /// Parses a text frame, or a binary one (the server may send UTF-8 JSON as binary).
    pub fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn event(self) -> ServerEvent {
        if let Some(e) = self.setup_complete {
            ServerEvent::SetupComplete(e)
        } else if let Some(c) = self.server_content {
            ServerEvent::Content(c)
        } else if let Some(t) = self.tool_call {
            ServerEvent::ToolCall(t)
        } else if let Some(c) = self.tool_call_cancellation {
            ServerEvent::ToolCallCancellation(c)
        } else if let Some(g) = self.go_away {
            ServerEvent::GoAway(g)
        } else if let Some(u) = self.session_resumption_update {
            ServerEvent::SessionResumptionUpdate(u)
        } else {
            ServerEvent::Other
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupComplete {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Any subset of the fields per message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerContent {
    /// Audio in `parts[].inlineData` (PCM16 24 kHz), or text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_turn: Option<Content>,
    /// The model finished generating (playback may go on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_complete: Option<bool>,
    /// The model's turn is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_complete: Option<bool>,
    /// The caller's speech interrupted generation: stop playback, drop what is queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    /// A piece of the caller's transcript (incremental, unordered with the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transcription: Option<Transcription>,
    /// A piece of the model's transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_transcription: Option<Transcription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_input: Option<bool>,
}

impl ServerContent {
    pub fn flag(value: Option<bool>) -> bool {
        value.unwrap_or(false)
    }
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<bool>,
}

impl std::fmt::Debug for Transcription {
    // What the caller said never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcription")
            .field("chars", &self.text.as_ref().map_or(0, String::len))
            .field("finished", &self.finished)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    #[serde(default)]
    pub function_calls: Vec<FunctionCall>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// A JSON object (not a string, unlike OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallCancellation {
    #[serde(default)]
    pub ids: Vec<String>,
}

/// The server will close the connection after `timeLeft` (a `Duration`, `"10s"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoAway {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_left: Option<String>,
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResumptionUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumable: Option<bool>,
}

impl std::fmt::Debug for SessionResumptionUpdate {
    // A handle resumes the conversation: treated like a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResumptionUpdate")
            .field("has_handle", &self.new_handle.is_some())
            .field("resumable", &self.resumable)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_the_protocol_notes_parse() {
        let audio = br#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAAA"}}]},"outputTranscription":{"text":"Hello, thanks for"}}}"#;
        let ServerEvent::Content(c) = ServerMessage::parse(audio).expect("parses").event() else {
            panic!("content");
        };
        let part = &c.model_turn.expect("turn").parts[0];
        assert_eq!(
            part.inline_data.as_ref().and_then(|b| b.pcm_rate()),
            Some(24_000)
        );
        assert_eq!(
            c.output_transcription.and_then(|t| t.text).as_deref(),
            Some("Hello, thanks for")
        );

        let call = br#"{"toolCall":{"functionCalls":[{"id":"function-call-123","name":"transfer_call","args":{"reason":"billing"}}]}}"#;
        let ServerEvent::ToolCall(t) = ServerMessage::parse(call).expect("parses").event() else {
            panic!("tool call");
        };
        assert_eq!(
            t.function_calls[0].args,
            Some(serde_json::json!({"reason":"billing"}))
        );

        let away = br#"{"goAway":{"timeLeft":"10s"},"usageMetadata":{"totalTokenCount":1500,"promptTokensDetails":[{"modality":"AUDIO","tokenCount":900}]}}"#;
        let m = ServerMessage::parse(away).expect("parses");
        assert_eq!(
            m.usage_metadata.as_ref().and_then(|u| u.total_token_count),
            Some(1500)
        );
        assert!(
            matches!(m.event(), ServerEvent::GoAway(g) if g.time_left.as_deref() == Some("10s"))
        );

        let update = br#"{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}"#;
        assert!(
            matches!(ServerMessage::parse(update).expect("parses").event(),
            ServerEvent::SessionResumptionUpdate(u) if u.new_handle.as_deref() == Some("h1"))
        );
        assert_eq!(
            ServerMessage::parse(br#"{"setupComplete":{}}"#)
                .expect("parses")
                .event(),
            ServerEvent::SetupComplete(SetupComplete::default())
        );
        // A key from a newer API version is not an error.
        assert_eq!(
            ServerMessage::parse(br#"{"voiceActivity":{"type":"ACTIVITY_START"}}"#)
                .expect("parses")
                .event(),
            ServerEvent::Other
        );
        assert!(ServerMessage::parse(b"not json").is_err());
    }
}
