//! Incoming texts: Twilio posts each SMS to `/twilio/sms`; hotline checks the signature,
//! honours opt-out words, stores the text in the contact's conversation and answers it
//! with the number's agent, whose LLM sees the contact's recent calls and texts. The
//! answer is made once per `MessageSid`: a retried webhook gets the stored one.

pub mod config;
pub mod handler;
mod inbound;
mod reply;

pub use config::{ApiKeySource, ConfigError, SmsConfig};
pub use handler::{Deps, SmsError, handle};
pub use inbound::InboundSms;
