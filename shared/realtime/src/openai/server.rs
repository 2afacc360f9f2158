//! Server → client events.
//!
//! Parsing is one pass over the frame with no intermediate tree: the server writes `type`
//! first, so the tag is read and the rest of the object goes straight into the event's
//! struct. Frames with `type` elsewhere take a slower buffered path; an unknown `type`
//! yields [`ServerEvent::Unknown`] and never an error. The hot events (audio and text
//! deltas) borrow their ids and payload from the frame.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::audio::{self, Audio};
use super::item::{ContentPart, Item};
use super::response::Response;
use super::serde_util::{is_empty, null_as_default};
use super::session::Session;

/// Declares [`ServerEvent`], its `event_type`, and the dispatch from `type` to struct,
/// so each wire name is written once.
macro_rules! server_events {
    ($( $(#[$doc:meta])* $tag:literal => $variant:ident($ty:ty), )*) => {
        /// Everything the Realtime API sends, tagged by `type`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type")]
        pub enum ServerEvent<'a> {
            $( $(#[$doc])* #[serde(rename = $tag)] $variant($ty), )*
            /// A `type` this library does not handle; the rest of the frame is skipped.
            #[serde(skip_serializing)]
            Unknown(UnknownEvent),
        }

        impl ServerEvent<'_> {
            /// The wire `type`, e.g. `"response.output_audio.delta"`.
            pub fn event_type(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $tag, )*
                    Self::Unknown(u) => &u.event_type,
                }
            }
        }

        /// Reads the fields after `type` into the struct `type` names.
        fn dispatch<'de, D: Deserializer<'de>>(
            event_type: &str,
            rest: D,
        ) -> Result<ServerEvent<'de>, D::Error> {
            Ok(match event_type {
                $( $tag => ServerEvent::$variant(Deserialize::deserialize(rest)?), )*
                _ => {
                    IgnoredAny::deserialize(rest)?;
                    ServerEvent::Unknown(UnknownEvent { event_type: event_type.to_owned() })
                }
            })
        }
    };
}

server_events! {
    /// `session.created`: first event of every session, with the default config.
    "session.created" => SessionCreated(Box<SessionEvent>),
    /// `session.updated`: the full effective config after a `session.update`.
    "session.updated" => SessionUpdated(Box<SessionEvent>),
    /// `error`: most errors are recoverable and the session stays open.
    "error" => Error(ErrorEvent),
    /// `input_audio_buffer.speech_started`: the caller started talking (barge-in).
    "input_audio_buffer.speech_started" => InputAudioBufferSpeechStarted(SpeechStarted),
    /// `input_audio_buffer.speech_stopped`.
    "input_audio_buffer.speech_stopped" => InputAudioBufferSpeechStopped(SpeechStopped),
    /// `input_audio_buffer.committed`: a user item was created from the buffer.
    "input_audio_buffer.committed" => InputAudioBufferCommitted(InputAudioBufferCommitted),
    /// `input_audio_buffer.cleared`.
    "input_audio_buffer.cleared" => InputAudioBufferCleared(InputAudioBufferCleared),
    /// `input_audio_buffer.timeout_triggered`: the idle timeout fired.
    "input_audio_buffer.timeout_triggered" => InputAudioBufferTimeoutTriggered(TimeoutTriggered),
    /// `conversation.item.added`: an item entered the conversation (GA).
    "conversation.item.added" => ConversationItemAdded(ConversationItemEvent),
    /// `conversation.item.done`: an item is complete (GA).
    "conversation.item.done" => ConversationItemDone(ConversationItemEvent),
    /// `conversation.item.created`: still in the GA union.
    "conversation.item.created" => ConversationItemCreated(ConversationItemEvent),
    /// `conversation.item.retrieved`: reply to `conversation.item.retrieve`.
    "conversation.item.retrieved" => ConversationItemRetrieved(ConversationItemEvent),
    /// `conversation.item.deleted`.
    "conversation.item.deleted" => ConversationItemDeleted(ConversationItemDeleted),
    /// `conversation.item.truncated`: reply to `conversation.item.truncate`.
    "conversation.item.truncated" => ConversationItemTruncated(ConversationItemTruncated),
    /// `conversation.item.input_audio_transcription.delta`.
    "conversation.item.input_audio_transcription.delta" =>
        InputAudioTranscriptionDelta(InputTranscriptionDelta<'a>),
    /// `conversation.item.input_audio_transcription.completed`: what the caller said;
    /// asynchronous, may arrive before or after the response events.
    "conversation.item.input_audio_transcription.completed" =>
        InputAudioTranscriptionCompleted(InputTranscriptionCompleted),
    /// `conversation.item.input_audio_transcription.failed`.
    "conversation.item.input_audio_transcription.failed" =>
        InputAudioTranscriptionFailed(InputTranscriptionFailed),
    /// `response.created`.
    "response.created" => ResponseCreated(Box<ResponseEvent>),
    /// `response.done`: final status, output items and usage.
    "response.done" => ResponseDone(Box<ResponseEvent>),
    /// `rate_limits.updated`: emitted at the start of a response.
    "rate_limits.updated" => RateLimitsUpdated(RateLimitsUpdated),
    /// `response.output_item.added`.
    "response.output_item.added" => ResponseOutputItemAdded(OutputItemEvent),
    /// `response.output_item.done`.
    "response.output_item.done" => ResponseOutputItemDone(OutputItemEvent),
    /// `response.content_part.added`.
    "response.content_part.added" => ResponseContentPartAdded(ContentPartEvent),
    /// `response.content_part.done`.
    "response.content_part.done" => ResponseContentPartDone(ContentPartEvent),
    /// `response.output_audio.delta`: audio to forward to the caller.
    "response.output_audio.delta" => ResponseOutputAudioDelta(OutputAudioDelta<'a>),
    /// `response.output_audio.done`.
    "response.output_audio.done" => ResponseOutputAudioDone(OutputPartDone),
    /// `response.output_audio_transcript.delta`.
    "response.output_audio_transcript.delta" =>
        ResponseOutputAudioTranscriptDelta(OutputTextDelta<'a>),
    /// `response.output_audio_transcript.done`: also sent when a response is interrupted.
    "response.output_audio_transcript.done" =>
        ResponseOutputAudioTranscriptDone(OutputAudioTranscriptDone),
    /// `response.output_text.delta` (text-only responses).
    "response.output_text.delta" => ResponseOutputTextDelta(OutputTextDelta<'a>),
    /// `response.output_text.done`.
    "response.output_text.done" => ResponseOutputTextDone(OutputTextDone),
    /// `response.function_call_arguments.delta`.
    "response.function_call_arguments.delta" =>
        ResponseFunctionCallArgumentsDelta(FunctionCallArgumentsDelta<'a>),
    /// `response.function_call_arguments.done`: run the tool now.
    "response.function_call_arguments.done" =>
        ResponseFunctionCallArgumentsDone(FunctionCallArgumentsDone),
}

impl<'a> ServerEvent<'a> {
    /// Parses one text frame. Unknown `type`s give [`ServerEvent::Unknown`]; malformed
    /// JSON, a missing `type`, or a known event with missing or mistyped required fields
    /// give an error.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The same event, owning all its text (to send it to another task).
    pub fn into_owned(self) -> ServerEvent<'static> {
        match self {
            Self::SessionCreated(e) => ServerEvent::SessionCreated(e),
            Self::SessionUpdated(e) => ServerEvent::SessionUpdated(e),
            Self::Error(e) => ServerEvent::Error(e),
            Self::InputAudioBufferSpeechStarted(e) => ServerEvent::InputAudioBufferSpeechStarted(e),
            Self::InputAudioBufferSpeechStopped(e) => ServerEvent::InputAudioBufferSpeechStopped(e),
            Self::InputAudioBufferCommitted(e) => ServerEvent::InputAudioBufferCommitted(e),
            Self::InputAudioBufferCleared(e) => ServerEvent::InputAudioBufferCleared(e),
            Self::InputAudioBufferTimeoutTriggered(e) => {
                ServerEvent::InputAudioBufferTimeoutTriggered(e)
            }
            Self::ConversationItemAdded(e) => ServerEvent::ConversationItemAdded(e),
            Self::ConversationItemDone(e) => ServerEvent::ConversationItemDone(e),
            Self::ConversationItemCreated(e) => ServerEvent::ConversationItemCreated(e),
            Self::ConversationItemRetrieved(e) => ServerEvent::ConversationItemRetrieved(e),
            Self::ConversationItemDeleted(e) => ServerEvent::ConversationItemDeleted(e),
            Self::ConversationItemTruncated(e) => ServerEvent::ConversationItemTruncated(e),
            Self::InputAudioTranscriptionDelta(e) => {
                ServerEvent::InputAudioTranscriptionDelta(e.into_owned())
            }
            Self::InputAudioTranscriptionCompleted(e) => {
                ServerEvent::InputAudioTranscriptionCompleted(e)
            }
            Self::InputAudioTranscriptionFailed(e) => ServerEvent::InputAudioTranscriptionFailed(e),
            Self::ResponseCreated(e) => ServerEvent::ResponseCreated(e),
            Self::ResponseDone(e) => ServerEvent::ResponseDone(e),
            Self::RateLimitsUpdated(e) => ServerEvent::RateLimitsUpdated(e),
            Self::ResponseOutputItemAdded(e) => ServerEvent::ResponseOutputItemAdded(e),
            Self::ResponseOutputItemDone(e) => ServerEvent::ResponseOutputItemDone(e),
            Self::ResponseContentPartAdded(e) => ServerEvent::ResponseContentPartAdded(e),
            Self::ResponseContentPartDone(e) => ServerEvent::ResponseContentPartDone(e),
            Self::ResponseOutputAudioDelta(e) => {
                ServerEvent::ResponseOutputAudioDelta(e.into_owned())
            }
            Self::ResponseOutputAudioDone(e) => ServerEvent::ResponseOutputAudioDone(e),
            Self::ResponseOutputAudioTranscriptDelta(e) => {
                ServerEvent::ResponseOutputAudioTranscriptDelta(e.into_owned())
            }
            Self::ResponseOutputAudioTranscriptDone(e) => {
                ServerEvent::ResponseOutputAudioTranscriptDone(e)
            }
            Self::ResponseOutputTextDelta(e) => {
                ServerEvent::ResponseOutputTextDelta(e.into_owned())
            }
            Self::ResponseOutputTextDone(e) => ServerEvent::ResponseOutputTextDone(e),
            Self::ResponseFunctionCallArgumentsDelta(e) => {
                ServerEvent::ResponseFunctionCallArgumentsDelta(e.into_owned())
            }
            Self::ResponseFunctionCallArgumentsDone(e) => {
                ServerEvent::ResponseFunctionCallArgumentsDone(e)
            }
            Self::Unknown(e) => ServerEvent::Unknown(e),
        }
    }

    /// The JSON text frame, as the server would send it (for fakes of the server and tests).
    /// Fails only for [`ServerEvent::Unknown`], which keeps no payload.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ServerEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ServerEventVisitor)
    }
}

struct ServerEventVisitor;

impl<'de> Visitor<'de> for ServerEventVisitor {
    type Value = ServerEvent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Realtime server event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key_seed(Text)? else {
            return Err(de::Error::missing_field("type"));
        };
        if first == "type" {
            // Fast path: the server writes `type` first.
            let event_type = map.next_value_seed(Text)?;
            return dispatch(&event_type, MapAccessDeserializer::new(map));
        }
        // Slow path: buffer the object, find `type`, then read the buffer.
        let mut object = serde_json::Map::new();
        object.insert(first.into_owned(), map.next_value::<serde_json::Value>()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let event_type = match object.remove("type") {
            Some(serde_json::Value::String(t)) => t,
            Some(_) => return Err(de::Error::custom("event `type` is not a string")),
            None => return Err(de::Error::missing_field("type")),
        };
        dispatch(&event_type, serde_json::Value::Object(object)).map_err(de::Error::custom)
    }
}

/// A string read without copying when the input allows it (keys and the `type` tag).
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// An event whose `type` this library does not handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    /// The wire `type`, for logging.
    pub event_type: String,
}

/// `session.created` / `session.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub session: Session,
}

/// `error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub error: ErrorDetails,
}

/// `error.error` (also the `error` of a failed input transcription).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    /// e.g. `invalid_request_error`, `server_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// e.g. `invalid_value`, `conversation_already_has_active_response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    /// The offending parameter, e.g. `session.audio.input.format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The `event_id` of the client event that failed, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `input_audio_buffer.speech_started`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechStarted {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    /// Ms since the session's audio started, prefix padding included.
    pub audio_start_ms: u64,
    /// The user item that will be created for this speech.
    pub item_id: String,
}

/// `input_audio_buffer.speech_stopped`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechStopped {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub audio_end_ms: u64,
    pub item_id: String,
}

/// `input_audio_buffer.committed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAudioBufferCommitted {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_item_id: Option<String>,
}

/// `input_audio_buffer.cleared`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAudioBufferCleared {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
}

/// `input_audio_buffer.timeout_triggered`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutTriggered {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub audio_start_ms: u64,
    #[serde(default)]
    pub audio_end_ms: u64,
    pub item_id: String,
}

/// `conversation.item.added` / `.done` / `.created` / `.retrieved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_item_id: Option<String>,
    pub item: Item,
}

/// `conversation.item.deleted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemDeleted {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub item_id: String,
}

/// `conversation.item.truncated`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemTruncated {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    pub audio_end_ms: u64,
}

/// `conversation.item.input_audio_transcription.delta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTranscriptionDelta<'a> {
    #[serde(borrow, default, skip_serializing_if = "is_empty")]
    pub event_id: Cow<'a, str>,
    #[serde(borrow)]
    pub item_id: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_index: Option<u32>,
    #[serde(borrow, default)]
    pub delta: Cow<'a, str>,
}

impl InputTranscriptionDelta<'_> {
    /// The same event, owning its text.
    pub fn into_owned(self) -> InputTranscriptionDelta<'static> {
        InputTranscriptionDelta {
            event_id: Cow::Owned(self.event_id.into_owned()),
            item_id: Cow::Owned(self.item_id.into_owned()),
            content_index: self.content_index,
            delta: Cow::Owned(self.delta.into_owned()),
        }
    }
}

/// `conversation.item.input_audio_transcription.completed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTranscriptionCompleted {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    pub transcript: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TranscriptionUsage>,
}

/// Usage of an input transcription: tokens or, for `whisper-1`, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TranscriptionUsage {
    #[serde(rename = "tokens")]
    Tokens {
        #[serde(default)]
        input_tokens: u64,
        #[serde(default)]
        output_tokens: u64,
        #[serde(default)]
        total_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_token_details: Option<TranscriptionTokenDetails>,
    },
    #[serde(rename = "duration")]
    Duration { seconds: f64 },
    /// A usage kind this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Input token split of a transcription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionTokenDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
}

/// `conversation.item.input_audio_transcription.failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTranscriptionFailed {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub item_id: String,
    #[serde(default)]
    pub content_index: u32,
    #[serde(default)]
    pub error: ErrorDetails,
}

/// `response.created` / `response.done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    pub response: Response,
}

/// `rate_limits.updated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitsUpdated {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rate_limits: Vec<RateLimit>,
}

/// One entry of `rate_limits.updated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// `requests` or `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_seconds: Option<f64>,
}

/// `response.output_item.added` / `.done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputItemEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub output_index: u32,
    pub item: Item,
}

/// `response.content_part.added` / `.done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentPartEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    pub part: ContentPart,
}

/// `response.output_audio.delta`: the per-frame event, borrowed from the frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputAudioDelta<'a> {
    #[serde(borrow, default, skip_serializing_if = "is_empty")]
    pub event_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub response_id: Cow<'a, str>,
    /// The assistant item this audio belongs to (what a truncate names).
    #[serde(borrow)]
    pub item_id: Cow<'a, str>,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    /// Base64 audio in the session's output format.
    #[serde(borrow, deserialize_with = "audio::borrowed")]
    pub delta: Audio<'a>,
}

impl OutputAudioDelta<'_> {
    /// The same event, owning its text.
    pub fn into_owned(self) -> OutputAudioDelta<'static> {
        OutputAudioDelta {
            event_id: Cow::Owned(self.event_id.into_owned()),
            response_id: Cow::Owned(self.response_id.into_owned()),
            item_id: Cow::Owned(self.item_id.into_owned()),
            output_index: self.output_index,
            content_index: self.content_index,
            delta: self.delta.into_owned(),
        }
    }
}

/// `response.output_audio.done` (no payload beyond the ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputPartDone {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
}

/// `response.output_audio_transcript.delta` / `response.output_text.delta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTextDelta<'a> {
    #[serde(borrow, default, skip_serializing_if = "is_empty")]
    pub event_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub response_id: Cow<'a, str>,
    #[serde(borrow)]
    pub item_id: Cow<'a, str>,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    #[serde(borrow)]
    pub delta: Cow<'a, str>,
}

impl OutputTextDelta<'_> {
    /// The same event, owning its text.
    pub fn into_owned(self) -> OutputTextDelta<'static> {
        OutputTextDelta {
            event_id: Cow::Owned(self.event_id.into_owned()),
            response_id: Cow::Owned(self.response_id.into_owned()),
            item_id: Cow::Owned(self.item_id.into_owned()),
            output_index: self.output_index,
            content_index: self.content_index,
            delta: Cow::Owned(self.delta.into_owned()),
        }
    }
}

/// `response.output_audio_transcript.done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputAudioTranscriptDone {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    /// What the assistant said (up to the interruption, if any).
    pub transcript: String,
}

/// `response.output_text.done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTextDone {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
    pub text: String,
}

/// `response.function_call_arguments.delta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallArgumentsDelta<'a> {
    #[serde(borrow, default, skip_serializing_if = "is_empty")]
    pub event_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub response_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub item_id: Cow<'a, str>,
    #[serde(default)]
    pub output_index: u32,
    #[serde(borrow)]
    pub call_id: Cow<'a, str>,
    #[serde(borrow)]
    pub delta: Cow<'a, str>,
}

impl FunctionCallArgumentsDelta<'_> {
    /// The same event, owning its text.
    pub fn into_owned(self) -> FunctionCallArgumentsDelta<'static> {
        FunctionCallArgumentsDelta {
            event_id: Cow::Owned(self.event_id.into_owned()),
            response_id: Cow::Owned(self.response_id.into_owned()),
            item_id: Cow::Owned(self.item_id.into_owned()),
            output_index: self.output_index,
            call_id: Cow::Owned(self.call_id.into_owned()),
            delta: Cow::Owned(self.delta.into_owned()),
        }
    }
}

/// `response.function_call_arguments.done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallArgumentsDone {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    /// Goes back in the `function_call_output` item.
    pub call_id: String,
    /// The tool to run.
    pub name: String,
    /// Arguments as a JSON **string**; parse it.
    pub arguments: String,
}
