//! What the simulator saw and did, per session, for assertions.

use std::time::Instant;

use hotline_realtime::openai::{
    ClientEvent, ContentPart, ErrorDetails, Item, ResponseStatus, Role, Session,
};

/// One connection attempt and, when upgraded, its session.
#[derive(Debug, Clone)]
pub struct SessionLog {
    /// 0-based, in the order handshakes finished (refused ones included).
    pub index: usize,
    /// The request path, e.g. `/v1/realtime`.
    pub path: String,
    /// The `model` query parameter.
    pub model: Option<String>,
    /// An `Authorization: Bearer …` header was sent and, when the script expects a
    /// key, it was that key. (The key itself is not kept.)
    pub bearer_ok: bool,
    /// The `OpenAI-Beta` header, which a GA client must not send.
    pub openai_beta: Option<String>,
    /// 101 when upgraded, else the status the upgrade was refused with.
    pub status: u16,
    pub connected_at: Instant,
    pub ended_at: Option<Instant>,
    /// How the session ended; `None` while it runs (or if it was refused).
    pub end: Option<SessionEnd>,
    /// The session configuration in effect (what the last `session.updated` reported).
    pub session: Option<Session>,
    /// Every client event but `input_audio_buffer.append` (counted below), in order.
    pub events: Vec<LoggedEvent>,
    /// `input_audio_buffer.append` events received.
    pub appends: u64,
    /// Decoded µ-law bytes appended (8 per ms).
    pub appended_bytes: u64,
    /// Caller utterances committed (by the VAD or by `input_audio_buffer.commit`).
    pub utterances: Vec<UtteranceLog>,
    /// Responses, in order of creation.
    pub responses: Vec<ResponseLog>,
    /// Every `error` event the simulator sent.
    pub errors: Vec<ErrorDetails>,
}

impl SessionLog {
    pub(crate) fn new(index: usize, upgrade: super::Upgrade, at: Instant) -> Self {
        Self {
            index,
            path: upgrade.path,
            model: upgrade.model,
            bearer_ok: upgrade.bearer_ok,
            openai_beta: upgrade.openai_beta,
            status: upgrade.status,
            connected_at: at,
            ended_at: None,
            end: None,
            session: None,
            events: Vec::new(),
            appends: 0,
            appended_bytes: 0,
            utterances: Vec::new(),
            responses: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Whether the WebSocket upgrade succeeded.
    pub fn upgraded(&self) -> bool {
        self.status == 101
    }

    /// Whether the session is still running.
    pub fn is_live(&self) -> bool {
        self.upgraded() && self.end.is_none()
    }

    /// Ms of caller audio appended.
    pub fn appended_ms(&self) -> u64 {
        self.appended_bytes / hotline_audio::SAMPLES_PER_MS as u64
    }

    /// The events of one `type`, e.g. `"conversation.item.truncate"`.
    pub fn events_of<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a LoggedEvent> {
        self.events
            .iter()
            .filter(move |e| e.event_type() == event_type)
    }

    /// Every `session.update`'s `session`, in order.
    pub fn session_updates(&self) -> Vec<&Session> {
        self.events
            .iter()
            .filter_map(LoggedEvent::session_update)
            .collect()
    }

    /// Every `conversation.item.truncate` as `(item_id, audio_end_ms)`.
    pub fn truncates(&self) -> Vec<(&str, u64)> {
        self.events
            .iter()
            .filter_map(LoggedEvent::truncate)
            .collect()
    }

    /// Every `function_call_output` item created, as `(call_id, output)`.
    pub fn function_call_outputs(&self) -> Vec<(&str, &str)> {
        self.events
            .iter()
            .filter_map(LoggedEvent::function_call_output)
            .collect()
    }

    /// Every `response.create`'s `instructions` (`None` for a bare `response.create`).
    pub fn response_creates(&self) -> Vec<Option<&str>> {
        self.events
            .iter()
            .filter(|e| e.event_type() == "response.create")
            .map(LoggedEvent::instructions)
            .collect()
    }

    /// The text of every user `input_text` message created.
    pub fn user_texts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(LoggedEvent::user_text)
            .collect()
    }

    /// The text of every system `input_text` message created (e.g. DTMF digits relayed).
    pub fn system_texts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(LoggedEvent::system_text)
            .collect()
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client sent a close frame.
    ClientClosed,
    /// The client's connection ended without a close frame, or failed.
    ClientGone,
    /// [`Failure::DropAfterAudioMs`](super::Failure::DropAfterAudioMs) struck.
    Dropped,
    /// [`Failure::CloseAfterAudioMs`](super::Failure::CloseAfterAudioMs) struck.
    Closed,
}

/// One client event as received.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// The session's [`SessionLog::index`].
    pub session: usize,
    pub at: Instant,
    /// Ms of caller audio appended before this event: its position in the conversation.
    pub audio_ms: u64,
    pub received: Received,
}

/// What a client frame turned out to be.
#[derive(Debug, Clone)]
pub enum Received {
    /// A well-formed event (never `input_audio_buffer.append`, which is only counted,
    /// nor [`ClientEvent::Unknown`]).
    Event(ClientEvent<'static>),
    /// Valid JSON with a `type` the API does not have (answered with an `error`).
    Unknown { event_type: Option<String> },
    /// Not JSON, or a known event with missing or mistyped fields (answered with an
    /// `error`).
    Malformed { error: String },
    /// A binary frame (answered with an `error`; the API speaks text frames).
    Binary { len: usize },
}

impl LoggedEvent {
    /// The event's wire `type`, or `"(unknown)"`, `"(malformed)"`, `"(binary)"`.
    pub fn event_type(&self) -> &str {
        match &self.received {
            Received::Event(e) => e.event_type(),
            Received::Unknown { .. } => "(unknown)",
            Received::Malformed { .. } => "(malformed)",
            Received::Binary { .. } => "(binary)",
        }
    }

    /// The event, when it was a well-formed one.
    pub fn event(&self) -> Option<&ClientEvent<'static>> {
        match &self.received {
            Received::Event(e) => Some(e),
            _ => None,
        }
    }

    /// A `session.update`'s `session`.
    pub fn session_update(&self) -> Option<&Session> {
        match self.event()? {
            ClientEvent::SessionUpdate(u) => Some(&u.session),
            _ => None,
        }
    }

    /// A `conversation.item.truncate` as `(item_id, audio_end_ms)`.
    pub fn truncate(&self) -> Option<(&str, u64)> {
        match self.event()? {
            ClientEvent::ConversationItemTruncate(t) => Some((t.item_id.as_str(), t.audio_end_ms)),
            _ => None,
        }
    }

    /// A `conversation.item.create` of a `function_call_output` as `(call_id, output)`.
    pub fn function_call_output(&self) -> Option<(&str, &str)> {
        match self.event()? {
            ClientEvent::ConversationItemCreate(c) => match &c.item {
                Item::FunctionCallOutput(o) => Some((o.call_id.as_str(), o.output.as_str())),
                _ => None,
            },
            _ => None,
        }
    }

    /// A `response.create`'s `response.instructions`.
    pub fn instructions(&self) -> Option<&str> {
        match self.event()? {
            ClientEvent::ResponseCreate(c) => c.response.as_ref()?.instructions.as_deref(),
            _ => None,
        }
    }

    /// The text of a `conversation.item.create` of a user message's first `input_text`.
    pub fn user_text(&self) -> Option<&str> {
        self.message_text(Role::User)
    }

    /// The text of a `conversation.item.create` of a system message's first `input_text`.
    pub fn system_text(&self) -> Option<&str> {
        self.message_text(Role::System)
    }

    fn message_text(&self, role: Role) -> Option<&str> {
        match self.event()? {
            ClientEvent::ConversationItemCreate(c) => match &c.item {
                Item::Message(m) if m.role == role => {
                    m.content.iter().find_map(|part| match part {
                        ContentPart::InputText { text } => Some(text.as_str()),
                        _ => None,
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// A caller utterance the server committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtteranceLog {
    pub item_id: String,
    /// As in `speech_started` (prefix padding included); for a manual commit, where
    /// the buffer began.
    pub audio_start_ms: u64,
    /// As in `speech_stopped`; for a manual commit, where the buffer ended.
    pub audio_end_ms: u64,
    /// The scripted transcript (sent only if transcription is on in the session).
    pub transcript: String,
}

/// A response the simulator created.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseLog {
    /// `resp_…`.
    pub id: String,
    /// The output item: an assistant message, or the `function_call`.
    pub item_id: String,
    /// Created by the VAD (`create_response`) or by a client `response.create`.
    pub trigger: Trigger,
    /// The latest caller utterance (0-based) when it was created, if any.
    pub utterance: Option<usize>,
    /// `response.create`'s instructions.
    pub instructions: Option<String>,
    /// The `function_call_output` this response answers, if one came since the last
    /// response: the model reads it, the caller never hears it verbatim.
    pub tool_output: Option<String>,
    /// The function called instead of speaking, if a [`ToolCue`](super::ToolCue) fired.
    pub function_call: Option<FunctionCallLog>,
    /// The full scripted transcript (what `.done` reports on completion): the scripted
    /// line alone, as a real agent would say it, never the instructions or tool output.
    pub transcript: String,
    /// Ms of audio sent in `response.output_audio.delta`s.
    pub audio_ms: u64,
    /// `in_progress`, then `completed` or `cancelled`.
    pub status: ResponseStatus,
    pub created_at: Instant,
    pub done_at: Option<Instant>,
}

/// What started a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Vad,
    Client,
}

/// A scripted function call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCallLog {
    pub call_id: String,
    pub name: String,
    pub arguments: String,
}
