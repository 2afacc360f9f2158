//! Client → server events.

use serde::{Deserialize, Serialize};

use super::audio::{self, Audio};
use super::item::Item;
use super::json_text::push_str_literal;
use super::response::ResponseConfig;
use super::session::Session;

/// Everything hotline sends to the Realtime API, tagged by `type`.
///
/// Every event may carry a client-chosen `event_id`, echoed in `error.event_id` when the
/// event fails. Deserializing (for fakes and tests) maps unknown types to
/// [`ClientEvent::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent<'a> {
    /// `session.update`: partial update of the session configuration.
    #[serde(rename = "session.update")]
    SessionUpdate(Box<SessionUpdate>),
    /// `input_audio_buffer.append`: caller audio; no confirmation event.
    #[serde(rename = "input_audio_buffer.append")]
    InputAudioBufferAppend(#[serde(borrow)] InputAudioBufferAppend<'a>),
    /// `input_audio_buffer.commit`: end the user turn (only without turn detection).
    #[serde(rename = "input_audio_buffer.commit")]
    InputAudioBufferCommit(InputAudioBufferCommit),
    /// `input_audio_buffer.clear`: drop uncommitted input audio.
    #[serde(rename = "input_audio_buffer.clear")]
    InputAudioBufferClear(InputAudioBufferClear),
    /// `conversation.item.create`: add a message or a function call's output.
    #[serde(rename = "conversation.item.create")]
    ConversationItemCreate(ConversationItemCreate),
    /// `conversation.item.truncate`: cut an assistant item's audio at what the caller heard.
    #[serde(rename = "conversation.item.truncate")]
    ConversationItemTruncate(ConversationItemTruncate),
    /// `conversation.item.delete`.
    #[serde(rename = "conversation.item.delete")]
    ConversationItemDelete(ConversationItemDelete),
    /// `conversation.item.retrieve`.
    #[serde(rename = "conversation.item.retrieve")]
    ConversationItemRetrieve(ConversationItemRetrieve),
    /// `response.create`: ask the model to respond (one active response at a time).
    #[serde(rename = "response.create")]
    ResponseCreate(Box<ResponseCreate>),
    /// `response.cancel`: stop the active response.
    #[serde(rename = "response.cancel")]
    ResponseCancel(ResponseCancel),
    /// A type this library does not know (only when deserializing; never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

impl<'a> ClientEvent<'a> {
    /// `session.update` with `session`.
    pub fn session_update(session: Session) -> Self {
        Self::SessionUpdate(Box::new(SessionUpdate {
            event_id: None,
            session,
        }))
    }

    /// `input_audio_buffer.append` of base64 audio, borrowed (e.g. a Twilio media payload).
    pub fn append(audio: impl Into<Audio<'a>>) -> Self {
        Self::InputAudioBufferAppend(InputAudioBufferAppend {
            event_id: None,
            audio: audio.into(),
        })
    }

    /// `conversation.item.create` appending `item` to the conversation.
    pub fn item_create(item: Item) -> Self {
        Self::ConversationItemCreate(ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item,
        })
    }

    /// `conversation.item.truncate` of content part 0 at `audio_end_ms`.
    pub fn truncate(item_id: impl Into<String>, audio_end_ms: u64) -> Self {
        Self::ConversationItemTruncate(ConversationItemTruncate {
            event_id: None,
            item_id: item_id.into(),
            content_index: 0,
            audio_end_ms,
        })
    }

    /// `response.create`, optionally with per-response overrides.
    pub fn response_create(response: Option<ResponseConfig>) -> Self {
        Self::ResponseCreate(Box::new(ResponseCreate {
            event_id: None,
            response,
        }))
    }

    /// `response.cancel` of whatever response is active.
    pub fn response_cancel() -> Self {
        Self::ResponseCancel(ResponseCancel::default())
    }

    /// The wire `type`, e.g. `"input_audio_buffer.append"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::SessionUpdate(_) => "session.update",
            Self::InputAudioBufferAppend(_) => "input_audio_buffer.append",
            Self::InputAudioBufferCommit(_) => "input_audio_buffer.commit",
            Self::InputAudioBufferClear(_) => "input_audio_buffer.clear",
            Self::ConversationItemCreate(_) => "conversation.item.create",
            Self::ConversationItemTruncate(_) => "conversation.item.truncate",
            Self::ConversationItemDelete(_) => "conversation.item.delete",
            Self::ConversationItemRetrieve(_) => "conversation.item.retrieve",
            Self::ResponseCreate(_) => "response.create",
            Self::ResponseCancel(_) => "response.cancel",
            Self::Unknown => "unknown",
        }
    }

    /// The JSON text frame. Fails only for [`ClientEvent::Unknown`], which has no wire form.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            // Audio frames dominate: written by hand, byte for byte what serde writes.
            Self::InputAudioBufferAppend(append) => Ok(append.to_json()),
            _ => serde_json::to_string(self),
        }
    }

    /// Parses a client event (for fakes of the server and tests).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The same event, owning all its text (to send it to another task).
    pub fn into_owned(self) -> ClientEvent<'static> {
        match self {
            Self::SessionUpdate(e) => ClientEvent::SessionUpdate(e),
            Self::InputAudioBufferAppend(e) => {
                ClientEvent::InputAudioBufferAppend(InputAudioBufferAppend {
                    event_id: e.event_id,
                    audio: e.audio.into_owned(),
                })
            }
            Self::InputAudioBufferCommit(e) => ClientEvent::InputAudioBufferCommit(e),
            Self::InputAudioBufferClear(e) => ClientEvent::InputAudioBufferClear(e),
            Self::ConversationItemCreate(e) => ClientEvent::ConversationItemCreate(e),
            Self::ConversationItemTruncate(e) => ClientEvent::ConversationItemTruncate(e),
            Self::ConversationItemDelete(e) => ClientEvent::ConversationItemDelete(e),
            Self::ConversationItemRetrieve(e) => ClientEvent::ConversationItemRetrieve(e),
            Self::ResponseCreate(e) => ClientEvent::ResponseCreate(e),
            Self::ResponseCancel(e) => ClientEvent::ResponseCancel(e),
            Self::Unknown => ClientEvent::Unknown,
        }
    }
}

/// `session.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub session: Session,
}

/// `input_audio_buffer.append`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAudioBufferAppend<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Base64 audio in the session's input format (at most 15 MiB per event).
    #[serde(borrow, deserialize_with = "audio::borrowed")]
    pub audio: Audio<'a>,
}

impl InputAudioBufferAppend<'_> {
    /// `{"type":"input_audio_buffer.append",["event_id":…,]"audio":…}` in one allocation.
    fn to_json(&self) -> String {
        const HEAD: &str = r#"{"type":"input_audio_buffer.append""#;
        let audio = self.audio.as_base64();
        let event_id = self.event_id.as_deref();
        let mut out = String::with_capacity(
            HEAD.len() + audio.len() + event_id.map_or(0, |id| id.len() + 14) + 12,
        );
        out.push_str(HEAD);
        if let Some(id) = event_id {
            out.push_str(r#","event_id":"#);
            push_str_literal(&mut out, id);
        }
        out.push_str(r#","audio":"#);
        push_str_literal(&mut out, audio);
        out.push('}');
        out
    }
}

/// `input_audio_buffer.commit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAudioBufferCommit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `input_audio_buffer.clear`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAudioBufferClear {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `conversation.item.create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemCreate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Insert after this item; `"root"` prepends; absent appends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_item_id: Option<String>,
    pub item: Item,
}

/// `conversation.item.truncate` (assistant items only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemTruncate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub item_id: String,
    /// Always 0 for audio.
    pub content_index: u32,
    /// Audio the caller heard, ms; more than the item's audio is an error.
    pub audio_end_ms: u64,
}

/// `conversation.item.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemDelete {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub item_id: String,
}

/// `conversation.item.retrieve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItemRetrieve {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub item_id: String,
}

/// `response.create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseCreate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseConfig>,
}

/// `response.cancel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseCancel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// A specific response; absent cancels the active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}
