//! The call status callback: Twilio reports a call's progress (`ringing`, `in-progress`,
//! `completed`, …); hotline checks the signature and moves the call record forward,
//! never backwards, whatever order the callbacks arrive in.

pub mod handler;

pub use handler::{Deps, StatusCallback, StatusError, handle};
