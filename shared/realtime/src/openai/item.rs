//! Conversation items: what `conversation.item.create` sends and what `conversation.item.*`,
//! `response.output_item.*` and `response.done` report.

use serde::{Deserialize, Serialize};

use super::audio::Audio;
use super::serde_util::null_as_default;

/// A conversation item, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Item {
    /// `"message"`: user, system or assistant content.
    #[serde(rename = "message")]
    Message(MessageItem),
    /// `"function_call"`: the model asks the client to run a tool.
    #[serde(rename = "function_call")]
    FunctionCall(FunctionCallItem),
    /// `"function_call_output"`: the client's answer to a function call.
    #[serde(rename = "function_call_output")]
    FunctionCallOutput(FunctionCallOutputItem),
    /// An item kind this library does not know, e.g. MCP items (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

impl Item {
    /// A user message with one `input_text` part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self::Message(MessageItem::new(Role::User, text))
    }

    /// A system message with one `input_text` part.
    pub fn system_text(text: impl Into<String>) -> Self {
        Self::Message(MessageItem::new(Role::System, text))
    }

    /// The result of a function call; `output` is free text, usually JSON.
    pub fn function_call_output(call_id: impl Into<String>, output: impl Into<String>) -> Self {
        Self::FunctionCallOutput(FunctionCallOutputItem {
            id: None,
            call_id: call_id.into(),
            output: output.into(),
            status: None,
        })
    }

    /// The item's id (`item_…`), when the server has assigned or echoed one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Message(m) => m.id.as_deref(),
            Self::FunctionCall(c) => c.id.as_deref(),
            Self::FunctionCallOutput(o) => o.id.as_deref(),
            Self::Unknown => None,
        }
    }
}

/// A message item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageItem {
    /// Server-assigned id; may be chosen by the client on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"realtime.item"` on server-sent items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    pub role: Role,
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<ContentPart>,
}

impl MessageItem {
    /// A message of one `input_text` part (the shape user and system messages take).
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            id: None,
            object: None,
            status: None,
            role,
            content: vec![ContentPart::InputText { text: text.into() }],
        }
    }
}

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    System,
    Assistant,
    /// A role this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Item lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Completed,
    Incomplete,
    InProgress,
    /// A status this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// One part of a message's content (also the `part` of `response.content_part.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ContentPart {
    /// User or system text.
    #[serde(rename = "input_text")]
    InputText { text: String },
    /// User audio; `transcript` fills in when input transcription is on.
    #[serde(rename = "input_audio")]
    InputAudio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<Audio<'static>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// User image as a data URI.
    #[serde(rename = "input_image")]
    InputImage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Assistant text.
    #[serde(rename = "output_text")]
    OutputText {
        #[serde(default)]
        text: String,
    },
    /// Assistant audio and its transcript.
    #[serde(rename = "output_audio")]
    OutputAudio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<Audio<'static>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// `response.content_part.*` text part.
    #[serde(rename = "text")]
    Text {
        #[serde(default)]
        text: String,
    },
    /// `response.content_part.*` audio part.
    #[serde(rename = "audio")]
    Audio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<Audio<'static>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// A part kind this library does not know (never serialized).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// The model asks the client to run the named function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// Correlates the call with its `function_call_output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    pub name: String,
    /// Arguments as a JSON **string**; empty until the call is complete.
    #[serde(default)]
    pub arguments: String,
}

/// The client's result for a function call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub call_id: String,
    /// Free text the model reads, usually JSON.
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
}
