//! The records hotline keeps.

mod agent;
mod call;
mod contact;
mod number;
mod org;

pub use agent::{Agent, Analyzer, CallLimits, Provider, ToolKind, ToolSpec};
pub use call::{
    Call, CallStatus, Direction, EndReason, Outcome, RecordingRef, Speaker, Stage, StageState,
    StageStatus, Turn,
};
pub use contact::Contact;
pub use number::PhoneNumber;
pub use org::{OrgSettings, Organization, TwilioAccount};
