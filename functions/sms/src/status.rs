//! `POST /twilio/sms/status`: Twilio reports where an outbound text stands. The state
//! only moves forward; a late or replayed report changes nothing.

use hotline_core::model::DeliveryState;
use hotline_core::outbox::{self, DeliveryUpdate};
use hotline_core::{MessageSid, routes};
use hotline_webhook::{Verified, WebhookError, error_response, no_content, verify};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info, info_span};

use crate::Deps;

/// Applies one delivery report: 204 once taken in (also when it is old news or names
/// a text hotline did not send), 403 unsigned, 400 malformed, 503 when the store failed
/// (Twilio may try again).
pub async fn handle_status(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "sms_status",
        message_sid = tracing::field::Empty,
        org = tracing::field::Empty,
    );
    match apply(deps, &req).instrument(span.clone()).await {
        Ok(()) => no_content(),
        Err(e) => error_response(&span, "sms status", e.status(), &e),
    }
}

async fn apply(deps: &Deps, req: &Request) -> Result<(), WebhookError> {
    let Verified { org, form } = verify(
        deps.directory.as_ref(),
        &deps.config,
        routes::SMS_STATUS,
        req,
    )
    .await?;
    let sid = form.parse_field("MessageSid", MessageSid::parse)?;
    let span = tracing::Span::current();
    span.record("message_sid", sid.as_str());
    span.record("org", org.id.as_str());
    let reported = form.optional("MessageStatus").unwrap_or_default();
    let Some(state) = DeliveryState::parse(reported) else {
        info!(
            status = reported,
            "a message status hotline does not track; ignored"
        );
        return Ok(());
    };
    let update = outbox::record_delivery(deps.messages.as_ref(), &org.id, &sid, state).await?;
    match update {
        DeliveryUpdate::Advanced(s) => info!(state = s.as_str(), "delivery state advanced"),
        DeliveryUpdate::Unchanged(s) => {
            info!(reported = state.as_str(), current = ?s, "late or replayed report; unchanged");
        }
        DeliveryUpdate::Unknown => info!("a report for a text this organization did not send"),
    }
    Ok(())
}
