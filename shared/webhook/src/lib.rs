//! What every Twilio webhook function does before it acts: accept only `POST`, require
//! `X-Twilio-Signature`, find the organization from the form's `AccountSid` and check the
//! signature with that organization's auth token over the configured public URL. Then
//! the answers every webhook shares: 204, or a plain-text refusal logged at the right
//! level.

mod config;
mod respond;
mod verify;

pub use config::{ConfigError, WebhookConfig, setting};
pub use respond::{error_response, no_content};
pub use verify::{Verified, WebhookError, verify};
