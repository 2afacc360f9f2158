//! OpenAI Realtime API over WebSocket, GA interface (no `OpenAI-Beta` header): one
//! `type`-tagged enum per direction, a struct per event, and the endpoint URL.
//!
//! Field names follow OpenAI's official Python SDK (`openai.types.realtime`); the test
//! suite checks our output against its pydantic models and parses events they produce.
//!
//! The audio path is allocation-light: [`ServerEvent::parse`] borrows a
//! `response.output_audio.delta` payload from the frame, and [`ClientEvent::append`] takes
//! a borrowed Twilio payload, so with `audio/pcmu` on both sides a frame crosses the bridge
//! with one allocation (the outgoing text).

mod audio;
mod client;
mod item;
mod json_text;
mod response;
mod serde_util;
mod server;
mod session;
mod url;

pub use audio::Audio;
pub use client::{
    ClientEvent, ConversationItemCreate, ConversationItemDelete, ConversationItemRetrieve,
    ConversationItemTruncate, InputAudioBufferAppend, InputAudioBufferClear,
    InputAudioBufferCommit, ResponseCancel, ResponseCreate, SessionUpdate,
};
pub use item::{
    ContentPart, FunctionCallItem, FunctionCallOutputItem, Item, ItemStatus, MessageItem, Role,
};
pub use response::{
    CachedTokenDetails, InputTokenDetails, OutputTokenDetails, Response, ResponseAudio,
    ResponseConfig, ResponseStatus, StatusDetails, StatusError, Usage,
};
pub use server::{
    ContentPartEvent, ConversationItemDeleted, ConversationItemEvent, ConversationItemTruncated,
    ErrorDetails, ErrorEvent, FunctionCallArgumentsDelta, FunctionCallArgumentsDone,
    InputAudioBufferCleared, InputAudioBufferCommitted, InputTranscriptionCompleted,
    InputTranscriptionDelta, InputTranscriptionFailed, OutputAudioDelta, OutputAudioTranscriptDone,
    OutputItemEvent, OutputPartDone, OutputTextDelta, OutputTextDone, RateLimit, RateLimitsUpdated,
    ResponseEvent, ServerEvent, SessionEvent, SpeechStarted, SpeechStopped, TimeoutTriggered,
    TranscriptionTokenDetails, TranscriptionUsage, UnknownEvent,
};
pub use session::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, FunctionTool, MaxOutputTokens, Modality,
    NoiseReduction, NoiseReductionKind, Reasoning, SemanticVad, ServerVad, Session, SessionKind,
    Tool, ToolChoice, ToolChoiceFunction, ToolChoiceMode, Transcription, TurnDetection, Voice,
};
pub use url::{DEFAULT_BASE_URL, UrlError, realtime_url};
