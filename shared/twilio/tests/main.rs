//! Twilio's wire formats against the protocol notes and Twilio's own helper library.

mod media;
mod signatures;
mod twiml;
