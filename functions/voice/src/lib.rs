//! The voice webhook: Twilio asks how to answer a call; hotline checks the signature,
//! records the call and answers with TwiML that connects it to the stream node.

pub mod config;
pub mod handler;

pub use config::VoiceConfig;
pub use handler::{Deps, STREAM_LOST, VoiceError, handle};
