//! Twilio's wire formats as hotline speaks them: webhook forms in, request signatures
//! checked, TwiML out. No I/O happens here; callers bring the bytes and the secrets.

pub mod calls;
pub mod form;
pub mod media;
pub mod messages;
pub mod numbers;
pub mod rest;
pub mod signature;
pub mod transfer;
pub mod twiml;
pub mod twiml_read;

pub use form::{Form, FormError, VoiceWebhook};
pub use twiml::{MessagingResponse, VoiceResponse};
