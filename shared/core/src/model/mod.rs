//! The records hotline keeps.

mod agent;
mod api_key;
mod call;
mod contact;
mod dial;
mod message;
mod node;
mod number;
mod org;
mod todo;

pub use agent::{
    Agent, Analyzer, CallLimits, Fallback, LimitsError, PipelineSpec, Provider, SttSpec, SttVendor,
    ToolKind, ToolSpec, TtsSpec, TtsVendor,
};
pub use api_key::{ApiKey, Role};
pub use call::{
    AnalysisResult, Call, CallStatus, ContactFacts, Direction, EndReason, JobClaim, Latency,
    Outcome, PostCall, RecordingRef, RecordingStatus, Speaker, Spread, Stage, StageState,
    StageStatus, TodoItem, TranscriptRef, TranscriptSource, Turn,
};
pub use contact::{Contact, ContactField};
pub use dial::{AmdOutcome, AnsweredBy, Dial, DialState, OutboundCall};
pub use message::{Channel, DeliveryState, Message, MessageDirection};
pub use node::StreamNodeStatus;
pub use number::PhoneNumber;
pub use org::{OrgSettings, Organization, TwilioAccount};
pub use todo::Todo;
