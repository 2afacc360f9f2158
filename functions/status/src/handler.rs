//! `POST /twilio/status`: check who is asking, apply the status to the call, answer 204.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hotline_core::campaign::AttemptOutcome;
use hotline_core::campaign::dialer::record_call_result;
use hotline_core::dial::{CallPlacer, bind_call, dial_in_query, ensure_call};
use hotline_core::model::Call;
use hotline_core::model::CallStatus;
use hotline_core::model::Organization;
use hotline_core::ports::{
    Calls, Campaigns, Dials, Directory, Modified, StoreError, modify_call_if,
};
use hotline_core::{CallSid, ParseIdError, routes};
use hotline_twilio::{Form, FormError};
use hotline_webhook::{Verified, WebhookConfig, WebhookError, error_response, no_content, verify};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, debug, info, info_span, warn};

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: WebhookConfig,
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    /// Outbound calls as placed: a callback may come before the call's record exists.
    pub dials: Arc<dyn Dials>,
    /// Campaign leads, moved when their call ends.
    pub campaigns: Arc<dyn Campaigns>,
    /// Twilio's Calls API, to leave a voicemail or hang up on a machine.
    pub placer: Arc<dyn CallPlacer>,
}

/// Why a status callback was not applied.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Refused before the call was looked at, or the store failed.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The call is another organization's: as far as this account knows, there is none.
    #[error("no such call")]
    NotFound,
}

impl StatusError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Webhook(e) => e.status(),
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl From<StoreError> for StatusError {
    fn from(e: StoreError) -> Self {
        Self::Webhook(WebhookError::Store(e))
    }
}

/// The fields of Twilio's call status callback hotline acts on; the rest of the form
/// (the voice webhook's parameters, `SequenceNumber`, `SipResponseCode`, …) is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// `CallSid`.
    pub call_sid: CallSid,
    /// `CallStatus`, in Twilio's spelling.
    pub status: CallStatus,
    /// `Timestamp` (RFC 2822): when Twilio fired the event.
    pub timestamp: Option<DateTime<Utc>>,
    /// `CallDuration`: seconds, on terminal events.
    pub duration_secs: Option<u32>,
}

impl StatusCallback {
    /// Required fields absent or malformed are an error naming the field. The optional
    /// ones are informational: empty or malformed, they count as absent (a status must
    /// not be lost because a timestamp changed its format).
    pub fn from_form(form: &Form) -> Result<Self, FormError> {
        Ok(Self {
            call_sid: form.parse_field("CallSid", CallSid::parse)?,
            status: form.parse_field("CallStatus", |s| {
                CallStatus::parse(s).ok_or(ParseIdError {
                    kind: "call status",
                    reason: "must be one of Twilio's call statuses",
                })
            })?,
            timestamp: form
                .optional("Timestamp")
                .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            duration_secs: form.optional("CallDuration").and_then(|d| d.parse().ok()),
        })
    }
}

/// Answers one status callback: 204 when it was taken in (applied, or nothing to do),
/// a clear 4xx when refused, 503 when the store failed (Twilio may retry).
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "status",
        call_sid = tracing::field::Empty,
        org = tracing::field::Empty,
        call_status = tracing::field::Empty,
    );
    match apply(deps, &req).instrument(span.clone()).await {
        Ok(()) => no_content(),
        Err(e) => error_response(&span, "status", e.status(), &e),
    }
}

async fn apply(deps: &Deps, req: &Request) -> Result<(), StatusError> {
    let Verified { org, form } =
        verify(deps.directory.as_ref(), &deps.config, routes::STATUS, req).await?;
    let callback = StatusCallback::from_form(&form).map_err(WebhookError::Malformed)?;
    let span = tracing::Span::current();
    span.record("call_sid", callback.call_sid.as_str());
    span.record("org", org.id.as_str());
    span.record("call_status", tracing::field::debug(callback.status));
    let at = callback.timestamp.unwrap_or_else(Utc::now);
    record_placed_call(deps, &org, req.uri().query(), &callback.call_sid).await?;

    // Only this organization's call is ever changed; a replayed or stale callback
    // changes nothing and so writes nothing.
    let modified = modify_call_if(deps.calls.as_ref(), &callback.call_sid, |call| {
        call.org == org.id && call.apply_status(callback.status, at)
    })
    .await;
    let modified = match modified {
        Err(StoreError::NotFound(_)) => {
            // Twilio knows calls hotline never recorded: a call refused before its
            // record was written, or one placed before its record exists.
            info!("status callback for a call without a record; nothing to update");
            return Ok(());
        }
        other => other?,
    };
    let call = modified.call();
    if call.org != org.id {
        warn!(owner = %call.org, "status callback for another organization's call refused");
        return Err(StatusError::NotFound);
    }
    match &modified {
        Modified::Written(call) => info!(
            status = ?call.status,
            answered_at = ?call.answered_at,
            ended_at = ?call.ended_at,
            duration_secs = callback.duration_secs,
            "call status updated"
        ),
        Modified::Unchanged(call) => {
            debug!(status = ?call.status, "status callback is stale or replayed; nothing to update");
        }
    }
    // A replay moves the lead again only if the first time did not get to (the move is
    // counted once per attempt whatever comes).
    if call.status.is_terminal() {
        move_lead(deps, &org, call, at).await?;
        if call.transfers.iter().any(|t| t.outcome.is_none()) {
            end_open_transfer(deps, &org, &call.sid, at).await?;
        }
    }
    Ok(())
}

/// A caller who hangs up on hold ends the warm transfer they were waiting for: the
/// attempt is settled `caller-left`, the call's outcome says so, and the person's phone,
/// perhaps still ringing, is hung up rather than connected to nobody.
async fn end_open_transfer(
    deps: &Deps,
    org: &Organization,
    sid: &CallSid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let modified = modify_call_if(deps.calls.as_ref(), sid, |call| {
        hotline_core::transfer::caller_left(call, at).is_some()
    })
    .await?;
    let Modified::Written(call) = &modified else {
        return Ok(());
    };
    info!("the caller hung up on hold: warm transfer ended");
    let leg = call
        .transfers
        .iter()
        .rev()
        .find(|t| t.outcome == Some(hotline_core::transfer::TransferOutcome::CallerLeft))
        .and_then(|t| t.leg_sid.clone());
    if let Some(leg) = leg
        && let Err(e) = deps.placer.hang_up(org, &leg).await
    {
        warn!(error = %e, "could not hang up the transfer's leg");
    }
    Ok(())
}

/// Records the end of a campaign call on its lead: its outcome from the final status
/// and the detection verdict, `failed` when Twilio had to use the fallback URL.
async fn move_lead(
    deps: &Deps,
    org: &Organization,
    call: &Call,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(out) = &call.outbound else {
        return Ok(());
    };
    let Some(dial) = deps.dials.get_dial(&out.dial).await? else {
        return Ok(());
    };
    if dial.org != org.id || dial.lead.is_none() {
        return Ok(());
    }
    let outcome = if dial.retry {
        Some(AttemptOutcome::Failed)
    } else {
        AttemptOutcome::of_call(call.status, out.amd_outcome)
    };
    let Some(outcome) = outcome else {
        return Ok(());
    };
    // Twilio's `Timestamp` has whole seconds: the time the end was heard of bounds it
    // from above, so a cooldown counted from it is never short of the real end.
    let ended = call.ended_at.map_or(at, |end| end.max(Utc::now()));
    record_call_result(deps.campaigns.as_ref(), &dial, &call.sid, outcome, ended).await?;
    Ok(())
}

/// Makes sure an outbound call hotline placed has its record before a callback is
/// applied to it: Twilio's first callbacks can come before the API has written it. The
/// URL's `call` names the dial; only this organization's dial, to a call not bound to
/// another, counts. Anything else leaves things as they are.
pub(crate) async fn record_placed_call(
    deps: &Deps,
    org: &Organization,
    query: Option<&str>,
    sid: &CallSid,
) -> Result<(), StoreError> {
    let Some(id) = dial_in_query(query) else {
        return Ok(());
    };
    if deps.calls.get_call(sid).await?.is_some() {
        return Ok(());
    }
    let Some(dial) = deps.dials.get_dial(&id).await? else {
        return Ok(());
    };
    if dial.org != org.id {
        warn!("callback names another organization's dial");
        return Ok(());
    }
    let dial = match bind_call(deps.dials.as_ref(), &id, sid).await {
        Ok(dial) => dial,
        Err(StoreError::Conflict(_)) => {
            warn!("callback's dial belongs to another call");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    ensure_call(deps.calls.as_ref(), &dial, sid, Utc::now()).await?;
    info!("outbound call recorded from its dial");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "CA22222222222222222222222222222222";

    fn form(extra: &str) -> Form {
        Form::parse(format!("CallSid={CALL}&CallStatus=completed{extra}").as_bytes())
    }

    #[test]
    fn reads_twilio_spellings_and_rfc_2822_timestamps() {
        let cb = StatusCallback::from_form(&form(
            "&Timestamp=Tue%2C+31+Aug+2010+20%3A36%3A44+%2B0000&CallDuration=42&Duration=1",
        ))
        .expect("callback");
        assert_eq!(cb.call_sid.as_str(), CALL);
        assert_eq!(cb.status, CallStatus::Completed);
        assert_eq!(
            cb.timestamp,
            DateTime::parse_from_rfc3339("2010-08-31T20:36:44Z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        );
        assert_eq!(cb.duration_secs, Some(42));
        let cb = StatusCallback::from_form(&Form::parse(
            format!("CallSid={CALL}&CallStatus=no-answer").as_bytes(),
        ))
        .expect("callback");
        assert_eq!(cb.status, CallStatus::NoAnswer);
        assert_eq!((cb.timestamp, cb.duration_secs), (None, None));
    }

    #[test]
    fn optional_fields_that_do_not_parse_count_as_absent() {
        let cb = StatusCallback::from_form(&form("&Timestamp=yesterday&CallDuration=-1"))
            .expect("callback");
        assert_eq!((cb.timestamp, cb.duration_secs), (None, None));
    }

    #[test]
    fn required_fields_are_named_when_missing_or_malformed() {
        let cases = [
            ("CallStatus=completed", "CallSid"),
            ("CallSid=CA1&CallStatus=completed", "CallSid"),
            ("CallSid=CA22222222222222222222222222222222", "CallStatus"),
            (
                "CallSid=CA22222222222222222222222222222222&CallStatus=answered",
                "CallStatus",
            ),
        ];
        for (body, field) in cases {
            let err = StatusCallback::from_form(&Form::parse(body.as_bytes()))
                .expect_err(body)
                .to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
    }
}
