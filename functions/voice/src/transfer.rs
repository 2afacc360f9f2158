//! The person's leg of a warm transfer (see `hotline_core::transfer`), as Twilio drives
//! it, every request signed:
//!
//! * `POST /twilio/transfer/answer?call={caller}`: the leg answered (its `Url`; Twilio's
//!   answering-machine detection runs first and says `AnsweredBy`). A person hears the
//!   whisper and a `<Gather>`; a machine is hung up on.
//! * `POST /twilio/transfer/choice?call={caller}`: the key pressed. 1 joins the caller's
//!   conference; anything else declines.
//! * `POST /twilio/transfer/status?call={caller}`: the leg's progress. A leg that ends
//!   before the person accepted (no answer, busy, failed, hung up during the whisper)
//!   settles the attempt.
//!
//! Whatever settles an attempt without the person brings the caller back to the agent
//! (the caller's call redirected to a new stream), once: the first outcome stands. The
//! summary is spoken, stored on the record, never logged.

use chrono::Utc;
use hotline_core::model::{Call, EndReason, Organization, Outcome};
use hotline_core::ports::{StoreError, modify_call_if};
use hotline_core::transfer::{Transfer, TransferOutcome, outcome_of_choice, outcome_of_leg_status};
use hotline_core::{CallSid, routes};
use hotline_twilio::VoiceResponse;
use hotline_twilio::rest::CallUpdate;
use hotline_twilio::transfer::{CALLER_GONE, back_to_agent, person_joins, whisper};
use hotline_webhook::{Verified, WebhookError, error_response, no_content, verify};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info, info_span, warn};

use crate::handler::{Deps, STREAM_LOST, stream_base};

/// Why a transfer request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// No `call` in the URL, or one this organization has no transfer on.
    #[error("no such transfer")]
    NotFound,
}

impl TransferError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Webhook(e) => e.status(),
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl From<StoreError> for TransferError {
    fn from(e: StoreError) -> Self {
        Self::Webhook(WebhookError::Store(e))
    }
}

/// Serves the three transfer routes, by path.
pub async fn handle_transfer(deps: &Deps, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let span = info_span!(
        "transfer",
        call_sid = tracing::field::Empty,
        leg_sid = tracing::field::Empty,
        org = tracing::field::Empty
    );
    let result = if path.ends_with(routes::TRANSFER_ANSWER) {
        answered(deps, &req)
            .instrument(span.clone())
            .await
            .map(Some)
    } else if path.ends_with(routes::TRANSFER_CHOICE) {
        chose(deps, &req).instrument(span.clone()).await.map(Some)
    } else {
        status(deps, &req)
            .instrument(span.clone())
            .await
            .map(|()| None)
    };
    match result {
        Ok(Some(twiml)) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(Body::Text(twiml.render()))
            .unwrap_or_default(),
        Ok(None) => no_content(),
        Err(e) => error_response(&span, "transfer", e.status(), &e),
    }
}

/// The signed request, its organization's caller's call (`call` in the URL) and the
/// leg's CallSid. Another organization's call is as good as none.
struct Leg {
    org: Organization,
    form: hotline_twilio::Form,
    caller: CallSid,
    leg: CallSid,
}

async fn leg(deps: &Deps, req: &Request, path: &str) -> Result<Leg, TransferError> {
    let Verified { org, form } =
        verify(deps.directory.as_ref(), &deps.config.webhook, path, req).await?;
    let leg = form
        .parse_field("CallSid", CallSid::parse)
        .map_err(WebhookError::Malformed)?;
    let caller = caller_in_query(req.uri().query()).ok_or(TransferError::NotFound)?;
    let span = tracing::Span::current();
    span.record("org", org.id.as_str());
    span.record("call_sid", caller.as_str());
    span.record("leg_sid", leg.as_str());
    Ok(Leg {
        org,
        form,
        caller,
        leg,
    })
}

/// The caller's CallSid from `call=` in the query.
fn caller_in_query(query: Option<&str>) -> Option<CallSid> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "call")
        .and_then(|(_, v)| CallSid::parse(&v).ok())
}

/// The attempt `leg` belongs to: the latest one, when its leg is this one or not known
/// yet (Twilio can call back before the node stored the leg's SID).
fn attempt<'a>(call: &'a mut Call, leg: &CallSid) -> Option<&'a mut Transfer> {
    call.transfers
        .last_mut()
        .filter(|t| t.leg_sid.as_ref().is_none_or(|l| l == leg))
}

/// The caller's record, when it is this organization's and has this leg's attempt.
async fn record(deps: &Deps, l: &Leg) -> Result<Call, TransferError> {
    let mut call = deps
        .calls
        .get_call(&l.caller)
        .await?
        .filter(|c| c.org == l.org.id)
        .ok_or(TransferError::NotFound)?;
    attempt(&mut call, &l.leg).ok_or(TransferError::NotFound)?;
    Ok(call)
}

/// `/twilio/transfer/answer`: the whisper for a person, a hang-up for a machine.
async fn answered(deps: &Deps, req: &Request) -> Result<VoiceResponse, TransferError> {
    let l = leg(deps, req, routes::TRANSFER_ANSWER).await?;
    let mut call = record(deps, &l).await?;
    let answered_by = l.form.optional("AnsweredBy").unwrap_or("");
    if answered_by.starts_with("machine") || answered_by == "fax" {
        info!(answered_by, "a machine answered the transfer");
        settle(deps, &l, TransferOutcome::Voicemail).await?;
        return Ok(VoiceResponse::new().hangup());
    }
    let Some(transfer) = attempt(&mut call, &l.leg).filter(|t| t.outcome.is_none()) else {
        // Settled already (the caller hung up, a late duplicate): nothing to say.
        return Ok(VoiceResponse::new().hangup());
    };
    let choice = deps
        .config
        .webhook
        .url(&format!("{}?call={}", routes::TRANSFER_CHOICE, l.caller));
    info!("the person answered: whisper");
    Ok(whisper(&transfer.summary, &choice))
}

/// `/twilio/transfer/choice`: 1 joins the caller, anything else declines.
async fn chose(deps: &Deps, req: &Request) -> Result<VoiceResponse, TransferError> {
    let l = leg(deps, req, routes::TRANSFER_CHOICE).await?;
    let call = record(deps, &l).await?;
    let outcome = outcome_of_choice(l.form.optional("Digits"));
    info!(outcome = outcome.as_str(), "the person chose");
    if outcome != TransferOutcome::Connected {
        settle(deps, &l, outcome).await?;
        return Ok(VoiceResponse::new()
            .say(hotline_twilio::transfer::DECLINED)
            .hangup());
    }
    if call.status.is_terminal() {
        settle(deps, &l, TransferOutcome::Declined).await?;
        return Ok(VoiceResponse::new().say(CALLER_GONE).hangup());
    }
    if !settle(deps, &l, TransferOutcome::Connected).await? {
        // Settled otherwise first (the ring timeout, a duplicate): the caller is back
        // with the agent or gone.
        return Ok(VoiceResponse::new().say(CALLER_GONE).hangup());
    }
    Ok(person_joins(&call))
}

/// `/twilio/transfer/status`: the leg's status on the record; a leg over before the
/// person accepted settles the attempt.
async fn status(deps: &Deps, req: &Request) -> Result<(), TransferError> {
    let l = leg(deps, req, routes::TRANSFER_STATUS).await?;
    record(deps, &l).await?;
    let status = l
        .form
        .require("CallStatus")
        .map_err(WebhookError::Malformed)?
        .to_owned();
    let leg_sid = l.leg.clone();
    let noted = status.clone();
    modify_call_if(deps.calls.as_ref(), &l.caller, move |call| {
        let Some(t) = attempt(call, &leg_sid) else {
            return false;
        };
        t.leg_sid.get_or_insert_with(|| leg_sid.clone());
        // A terminal status is the leg's last word.
        let settled_leg = t
            .leg_status
            .as_deref()
            .is_some_and(|s| outcome_of_leg_status(s).is_some());
        if settled_leg || t.leg_status.as_deref() == Some(noted.as_str()) {
            return false;
        }
        t.leg_status = Some(noted.clone());
        true
    })
    .await?;
    if let Some(outcome) = outcome_of_leg_status(&status) {
        settle(deps, &l, outcome).await?;
    }
    Ok(())
}

/// Settles the attempt with `outcome` unless something else settled it first. A
/// connected attempt is the call's outcome; any other brings the caller back to the
/// agent. Returns whether this request settled it.
async fn settle(deps: &Deps, l: &Leg, outcome: TransferOutcome) -> Result<bool, TransferError> {
    let leg_sid = l.leg.clone();
    let modified = modify_call_if(deps.calls.as_ref(), &l.caller, move |call| {
        let now = Utc::now();
        let Some(t) = attempt(call, &leg_sid) else {
            return false;
        };
        t.leg_sid.get_or_insert_with(|| leg_sid.clone());
        if !t.settle(outcome, now) {
            return false;
        }
        if outcome == TransferOutcome::Connected {
            call.outcome.get_or_insert_with(|| Outcome {
                reason: EndReason::Transferred,
                detail: Some("warm transfer: connected".to_owned()),
                provider: None,
                latency: None,
            });
        }
        true
    })
    .await?;
    if !modified.is_written() {
        return Ok(false);
    }
    info!(outcome = outcome.as_str(), "transfer settled");
    if outcome != TransferOutcome::Connected {
        bring_back(deps, l, modified.call()).await;
    }
    Ok(true)
}

/// The caller, waiting in the conference, back to the agent on a new stream. A caller
/// who hung up meanwhile is no longer Twilio's to redirect: nothing to do.
async fn bring_back(deps: &Deps, l: &Leg, call: &Call) {
    if call.status.is_terminal() {
        return;
    }
    let (base, _) = stream_base(deps).await;
    let twiml = back_to_agent(&base, call, STREAM_LOST).render();
    let result = deps
        .twilio
        .update_call(
            &l.org.twilio.account_sid,
            &l.org.twilio.auth_token,
            &call.sid,
            &CallUpdate::Twiml(twiml),
        )
        .await;
    match result {
        Ok(()) => info!("caller back with the agent"),
        Err(e) => warn!(error = %e, "could not bring the caller back to the agent"),
    }
}
