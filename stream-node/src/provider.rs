//! What the call loop says to and hears from a realtime AI, whatever the provider.
//! Each provider adapter maps its wire events onto these.

/// From the AI, as the call loop needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// The session accepted its configuration.
    Ready,
    /// The AI's voice activity detection heard the caller start speaking.
    SpeechStarted,
    /// The caller's speech cut the reply in progress (a provider without speech
    /// events): stop playback and drop the rest of that reply.
    Interrupted,
    SpeechStopped,
    /// A response began.
    ResponseStarted {
        response_id: String,
    },
    /// All of a response's audio has been sent.
    AudioDone {
        response_id: String,
    },
    /// A response ended (completed, cancelled, failed…).
    ResponseDone {
        response_id: String,
        status: String,
    },
    /// What the caller said, transcribed.
    CallerTranscript {
        item_id: String,
        text: String,
    },
    /// What the agent said in one item.
    AgentTranscript {
        item_id: String,
        text: String,
    },
    /// The AI wants a tool run.
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The provider reported an error; the session goes on unless the socket closes.
    Error {
        code: Option<String>,
        message: String,
    },
    /// Anything the loop does not act on.
    Other,
}

/// To the AI. Audio appends do not go through here: the loop forwards them directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCommand {
    /// Cut an assistant item at what the caller heard.
    Truncate {
        item_id: String,
        audio_end_ms: u64,
    },
    /// Tell the AI, as the system and never as the caller's own words, something that
    /// happened (a keypress, a silence) or what comes next (greet, say goodbye). It joins
    /// the conversation, so the agent's own instructions still hold for the response.
    SystemNote(String),
    FunctionOutput {
        call_id: String,
        output: String,
    },
    CreateResponse {
        /// Replaces the agent's instructions for this response (persona, language and
        /// all): the call loop says what it needs with a [`Self::SystemNote`] instead.
        instructions: Option<String>,
    },
}

/// What a provider does by itself and what the call loop must do for it. The loop and
/// [`crate::call::state::CallState`] read these instead of asking which provider it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The provider detects turns on the caller's audio (server VAD). Without it the
    /// node would have to (a pipeline with a local VAD).
    pub server_vad: bool,
    /// The provider reports the caller starting and stopping to speak
    /// ([`ProviderEvent::SpeechStarted`] / [`ProviderEvent::SpeechStopped`]). Without
    /// them, barge-in arrives as [`ProviderEvent::Interrupted`].
    pub speech_events: bool,
    /// The provider's history can be cut at what the caller heard
    /// ([`ProviderCommand::Truncate`]). Without it the provider keeps its own account
    /// of an interrupted reply, and the loop sends no truncation.
    pub truncate: bool,
    /// After a tool's output the provider answers by itself. Without it the loop asks
    /// for a response ([`ProviderCommand::CreateResponse`]).
    pub answers_tool_output: bool,
    /// Transcripts of both sides come from the provider, for the call's turns.
    pub transcripts: bool,
}

impl Capabilities {
    /// Everything the call loop can make use of (what OpenAI Realtime offers).
    pub const FULL: Self = Self {
        server_vad: true,
        speech_events: true,
        truncate: true,
        answers_tool_output: false,
        transcripts: true,
    };
}

/// Agent audio ready for Twilio: base64 µ-law at 8 kHz, whatever the provider spoke.
/// Borrowed from the provider's frame when it already is µ-law (no copy on that path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAudio<'f> {
    pub response_id: std::borrow::Cow<'f, str>,
    /// What [`ProviderCommand::Truncate`] would name.
    pub item_id: std::borrow::Cow<'f, str>,
    pub payload: std::borrow::Cow<'f, str>,
}

/// One thing a provider frame meant for the call loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<'f> {
    Audio(AgentAudio<'f>),
    Event(ProviderEvent),
    /// Nothing the loop acts on.
    Nothing,
}

/// A frame from the provider's socket, text or binary (Gemini may send JSON as either).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(tokio_tungstenite::tungstenite::Utf8Bytes),
    Binary(tokio_tungstenite::tungstenite::Bytes),
}

/// The provider's side of the call is over: closed, dropped, or failed beyond repair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderGone(pub String);

/// A realtime AI session, as the call loop drives it. Each provider owns its socket(s),
/// wire types and audio format behind this; the loop is generic over it, so the
/// OpenAI passthrough path pays no dispatch or copy for the seam.
pub trait ProviderSession: Send {
    fn capabilities(&self) -> Capabilities;

    /// Sends one Twilio media payload (base64 µ-law, 8 kHz) to the AI, converted as
    /// the provider needs.
    fn send_audio(
        &mut self,
        payload: &str,
    ) -> impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>> + Send;

    /// Whether [`Self::feed_audio`] leaves frames for [`Self::flush`]; when not, the call
    /// loop sends each frame at once and has nothing to flush.
    const FEEDS_AUDIO: bool = false;

    /// As [`Self::send_audio`], but the frame may wait in the socket's buffer until
    /// [`Self::flush`]: the call loop flushes once nothing else is ready, so caller audio
    /// that piled up while the node was busy leaves in one write instead of one each.
    fn feed_audio(
        &mut self,
        payload: &str,
    ) -> impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>> + Send {
        self.send_audio(payload)
    }

    /// Writes out what [`Self::feed_audio`] left buffered.
    fn flush(
        &mut self,
    ) -> impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>> + Send {
        std::future::ready(Ok(()))
    }

    fn send(
        &mut self,
        command: ProviderCommand,
    ) -> impl Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>> + Send;

    /// The next frame worth reading. Cancel-safe: the call loop polls it in a
    /// `select!`. Reconnections (a Gemini `goAway`) happen in here, unseen by the loop.
    fn next_frame(&mut self) -> impl Future<Output = Result<Frame, ProviderGone>> + Send;

    /// What `frame` means for the call. Further items the same frame carried (Gemini
    /// packs audio, transcript and turn end into one message) follow from
    /// [`Self::pending`].
    fn read<'f>(&mut self, frame: &'f Frame) -> Incoming<'f>;

    /// The next item queued by [`Self::read`], in order.
    fn pending(&mut self) -> Option<Incoming<'static>>;

    /// Closes the session (best effort, bounded by the caller).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// The agent's tools as every provider declares them, each with the name the model
/// calls it by: `transfer_call` under the built-in's name (the call loop acts on it),
/// the others under their own. `end_call` is left out: each provider declares it as a
/// built-in with its goodbye instructions. One place, so a new tool kind reaches every
/// provider at once.
pub fn declared_tools(
    agent: &hotline_core::model::Agent,
) -> impl Iterator<Item = (&str, &hotline_core::model::ToolSpec)> {
    use hotline_core::model::ToolKind;
    agent.tools.iter().filter_map(|spec| match spec.kind {
        ToolKind::EndCall => None,
        ToolKind::TransferCall { .. } => Some((crate::call::state::TRANSFER_CALL, spec)),
        ToolKind::Webhook { .. } | ToolKind::SendSms | ToolKind::SendDtmf | ToolKind::OptOut => {
            Some((spec.name.as_str(), spec))
        }
    })
}
