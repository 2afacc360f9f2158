//! The voice webhook: Twilio asks how to answer a call; hotline checks the signature,
//! records the call and answers with TwiML that connects it to the stream node. And its
//! fallback, for when that failed.

pub mod config;
pub mod fallback;
pub mod handler;
pub mod prewarm;

use lambda_http::{Body, Request, Response};

pub use config::VoiceConfig;
pub use fallback::{FALLBACK_APOLOGY, handle_fallback};
pub use handler::{Deps, STREAM_LOST, VoiceError, handle};
pub use prewarm::Prewarmer;

/// The function's routes: `POST /twilio/voice` and `POST /twilio/fallback`.
pub async fn route(deps: &Deps, req: Request) -> Response<Body> {
    if req.uri().path().ends_with(hotline_core::routes::FALLBACK) {
        handle_fallback(deps, req).await
    } else {
        handle(deps, req).await
    }
}
