//! What the call loop says to and hears from a realtime AI, whatever the provider.
//! Each provider adapter maps its wire events onto these.

/// From the AI, as the call loop needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// The session accepted its configuration.
    Ready,
    /// The AI's voice activity detection heard the caller start speaking.
    SpeechStarted,
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
