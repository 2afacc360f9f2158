//! The call status callback: Twilio reports a call's progress (`ringing`, `in-progress`,
//! `completed`, …); hotline checks the signature and moves the call record forward,
//! never backwards, whatever order the callbacks arrive in. And the answering-machine
//! detection callback of outbound calls.

pub mod amd;
pub mod handler;

use lambda_http::{Body, Request, Response};

pub use amd::{AmdCallback, handle_amd};
pub use handler::{Deps, StatusCallback, StatusError, handle};

/// The function's routes: `POST /twilio/status` and `POST /twilio/amd`.
pub async fn route(deps: &Deps, req: Request) -> Response<Body> {
    if req.uri().path().ends_with(hotline_core::routes::AMD) {
        handle_amd(deps, req).await
    } else {
        handle(deps, req).await
    }
}
