//! The recording status callback: Twilio reports the call's recording (`completed`,
//! `absent`, …); hotline checks the signature, notes the recording on the call and, once
//! Twilio is done with it, requests the call's post-call job exactly once.

pub mod handler;

pub use handler::{Deps, RecordingCallback, RecordingError, handle};
