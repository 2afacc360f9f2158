//! Incoming texts: Twilio posts each SMS to `/twilio/sms`; hotline checks the signature,
//! honours opt-out words, stores the text in the contact's conversation and answers it
//! with the number's agent, whose LLM sees the contact's recent calls and texts. The
//! answer is made once per `MessageSid`: a retried webhook gets the stored one.

pub mod config;
pub mod handler;
mod inbound;
mod late;
mod reply;
mod status;

pub use config::{ApiKeySource, ConfigError, SmsConfig};
pub use handler::{Deps, SmsError, handle};
pub use inbound::InboundSms;
pub use status::handle_status;

use lambda_http::{Body, Request, Response};

/// One Lambda serves both routes: the delivery reports by their path (behind any stage
/// prefix), every other request as an incoming text.
pub async fn route(deps: &Deps, req: Request) -> Response<Body> {
    if req.uri().path().ends_with(hotline_core::routes::SMS_STATUS) {
        handle_status(deps, req).await
    } else {
        handle(deps, req).await
    }
}
