//! `POST /twilio/fallback`: what Twilio asks when a call's voice webhook failed (the
//! number's `VoiceFallbackUrl`, an outbound call's `FallbackUrl`). Checked like every
//! webhook; answers TwiML that apologizes and hangs up, so a broken deploy never leaves
//! dead air. An outbound call is marked on its record and its dial, so a dialer places
//! it again.

use chrono::Utc;
use hotline_core::dial::dial_in_query;
use hotline_core::model::Organization;
use hotline_core::ports::{StoreError, modify_call_if};
use hotline_core::{CallSid, routes};
use hotline_twilio::VoiceResponse;
use hotline_webhook::{Verified, WebhookError, error_response, verify};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info, info_span, warn};

use crate::handler::Deps;

/// What a caller hears when hotline could not answer.
pub const FALLBACK_APOLOGY: &str = "Sorry, we are having technical difficulties and cannot take this call right now. Please try again later. Goodbye.";

/// Answers one fallback request: the apology, or a clear 4xx when the request is not
/// Twilio's.
pub async fn handle_fallback(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "fallback",
        call_sid = tracing::field::Empty,
        org = tracing::field::Empty
    );
    match fallback(deps, &req).instrument(span.clone()).await {
        Ok(twiml) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(Body::Text(twiml))
            .unwrap_or_default(),
        Err(e) => error_response(&span, "fallback", e.status(), &e),
    }
}

async fn fallback(deps: &Deps, req: &Request) -> Result<String, WebhookError> {
    let Verified { org, form } = verify(
        deps.directory.as_ref(),
        &deps.config.webhook,
        routes::FALLBACK,
        req,
    )
    .await?;
    let span = tracing::Span::current();
    span.record("org", org.id.as_str());
    let sid = form.parse_field("CallSid", CallSid::parse).ok();
    if let Some(sid) = &sid {
        span.record("call_sid", sid.as_str());
    }
    warn!(
        error_code = form.optional("ErrorCode").unwrap_or(""),
        "Twilio used the fallback URL"
    );
    // The apology goes out whatever the store says: marking for retry is best effort.
    if let Err(e) = mark_for_retry(deps, &org, sid.as_ref(), req.uri().query()).await {
        warn!(error = %e, "could not mark the call for retry");
    }
    Ok(VoiceResponse::new().say(FALLBACK_APOLOGY).hangup().render())
}

/// Marks an outbound call (its record, and the dial it came from) as one to place again.
async fn mark_for_retry(
    deps: &Deps,
    org: &Organization,
    sid: Option<&CallSid>,
    query: Option<&str>,
) -> Result<(), StoreError> {
    let mut dial_id = dial_in_query(query);
    if let Some(sid) = sid {
        match modify_call_if(deps.calls.as_ref(), sid, |call| {
            match call.outbound.as_mut().filter(|_| call.org == org.id) {
                Some(out) if !out.fallback => {
                    out.fallback = true;
                    true
                }
                _ => false,
            }
        })
        .await
        {
            Ok(modified) => {
                let call = modified.call();
                if call.org == org.id
                    && let Some(out) = &call.outbound
                {
                    dial_id = Some(out.dial.clone());
                }
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(id) = dial_id else { return Ok(()) };
    for _ in 0..6 {
        let Some(mut dial) = deps.dials.get_dial(&id).await? else {
            return Ok(());
        };
        if dial.org != org.id || dial.retry {
            return Ok(());
        }
        dial.retry = true;
        match deps.dials.update_dial(&dial).await {
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
            Ok(_) => {
                info!(dial = %id, at = %Utc::now(), "outbound call marked for retry");
                return Ok(());
            }
        }
    }
    Ok(())
}
