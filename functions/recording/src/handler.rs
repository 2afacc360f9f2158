//! `POST /twilio/recording`: check who is asking, note the recording on the call,
//! request the post-call job once the recording is final, answer 204.

use std::sync::Arc;

use chrono::Utc;
use hotline_core::model::{RecordingRef, RecordingStatus};
use hotline_core::ports::{Calls, Directory, Queue, StoreError, modify_call_if};
use hotline_core::postcall::{PostcallJob, Requested, request_job};
use hotline_core::{CallSid, ParseIdError, RecordingSid, routes};
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
    /// The post-call queue.
    pub queue: Arc<dyn Queue>,
}

/// Why a recording callback was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Refused before the call was looked at, or the store or queue failed.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// No call of this organization has this CallSid.
    #[error("no such call")]
    NotFound,
}

impl RecordingError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Webhook(e) => e.status(),
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl From<StoreError> for RecordingError {
    fn from(e: StoreError) -> Self {
        Self::Webhook(WebhookError::Store(e))
    }
}

/// The fields of Twilio's recording status callback hotline acts on; `RecordingUrl` is
/// not kept (the post-call job builds the media URL from the account and the sid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingCallback {
    /// `CallSid`: the call (the parent leg) the recording belongs to.
    pub call_sid: CallSid,
    /// `RecordingSid`.
    pub recording_sid: RecordingSid,
    /// `RecordingStatus`.
    pub status: RecordingStatus,
    /// `RecordingDuration`: seconds, when completed.
    pub duration_secs: Option<u32>,
    /// `ErrorCode`, when Twilio gives one (a Twilio error number; `0` means none).
    pub error_code: Option<String>,
}

impl RecordingCallback {
    /// Required fields absent or malformed are an error naming the field; optional ones
    /// that are empty or malformed count as absent.
    pub fn from_form(form: &Form) -> Result<Self, FormError> {
        Ok(Self {
            call_sid: form.parse_field("CallSid", CallSid::parse)?,
            recording_sid: form.parse_field("RecordingSid", RecordingSid::parse)?,
            status: form.parse_field("RecordingStatus", |s| {
                RecordingStatus::parse(s).ok_or(ParseIdError {
                    kind: "recording status",
                    reason: "must be one of Twilio's recording statuses",
                })
            })?,
            duration_secs: form
                .optional("RecordingDuration")
                .and_then(|d| d.parse().ok()),
            error_code: form
                .optional("ErrorCode")
                .filter(|c| {
                    *c != "0" && c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric())
                })
                .map(str::to_owned),
        })
    }

    /// The recording as the call record keeps it.
    pub fn to_ref(&self) -> RecordingRef {
        RecordingRef {
            sid: self.recording_sid.clone(),
            status: self.status,
            duration_secs: self.duration_secs,
            error_code: self.error_code.clone(),
            blob_key: None,
            deleted_from_twilio: false,
        }
    }
}

/// Answers one recording callback: 204 once it is taken in (and, for a final status, the
/// post-call job requested), a clear 4xx when refused, 503 when the store or the queue
/// failed, so that Twilio's retry finds nothing half-done.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "recording",
        call_sid = tracing::field::Empty,
        org = tracing::field::Empty,
        recording_sid = tracing::field::Empty,
        recording_status = tracing::field::Empty,
    );
    match take(deps, &req).instrument(span.clone()).await {
        Ok(()) => no_content(),
        Err(e) => error_response(&span, "recording", e.status(), &e),
    }
}

async fn take(deps: &Deps, req: &Request) -> Result<(), RecordingError> {
    let Verified { org, form } = verify(
        deps.directory.as_ref(),
        &deps.config,
        routes::RECORDING,
        req,
    )
    .await?;
    let callback = RecordingCallback::from_form(&form).map_err(WebhookError::Malformed)?;
    let span = tracing::Span::current();
    span.record("call_sid", callback.call_sid.as_str());
    span.record("org", org.id.as_str());
    span.record("recording_sid", callback.recording_sid.as_str());
    span.record("recording_status", callback.status.as_str());

    // Only this organization's call is ever changed; a replayed or stale callback
    // changes nothing and so writes nothing.
    let incoming = callback.to_ref();
    let modified = modify_call_if(deps.calls.as_ref(), &callback.call_sid, |call| {
        call.org == org.id && call.note_recording(&incoming)
    })
    .await;
    let modified = match modified {
        Err(StoreError::NotFound(_)) => return Err(RecordingError::NotFound),
        other => other?,
    };
    let call = modified.call();
    if call.org != org.id {
        warn!(owner = %call.org, "recording callback for another organization's call refused");
        return Err(RecordingError::NotFound);
    }
    if let Some(first) = call
        .recording
        .as_ref()
        .filter(|r| r.sid != callback.recording_sid)
    {
        warn!(kept = %first.sid, "the call already has another recording; kept the first, ignored this one");
        return Ok(());
    }
    if modified.is_written() {
        info!(
            duration_secs = callback.duration_secs,
            error_code = callback.error_code.as_deref(),
            "recording noted on the call"
        );
    } else {
        debug!("recording callback is stale or replayed; nothing to note");
    }
    if !callback.status.is_final() {
        return Ok(());
    }
    let job = PostcallJob::new(
        org.id.clone(),
        callback.call_sid.clone(),
        callback.recording_sid.clone(),
    );
    match request_job(deps.calls.as_ref(), deps.queue.as_ref(), &job, Utc::now()).await {
        Ok(Requested::Enqueued { .. }) => Ok(()),
        Ok(Requested::AlreadyRequested) => {
            debug!("post-call job already requested");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "CA22222222222222222222222222222222";
    const REC: &str = "RE33333333333333333333333333333333";

    fn callback(body: &str) -> Result<RecordingCallback, FormError> {
        RecordingCallback::from_form(&Form::parse(body.as_bytes()))
    }

    #[test]
    fn reads_the_fields_hotline_keeps() {
        let cb = callback(&format!(
            "CallSid={CALL}&RecordingSid={REC}&RecordingStatus=completed&RecordingDuration=61\
             &RecordingUrl=https%3A%2F%2Fapi.twilio.com%2Fx&ErrorCode=0&RecordingChannels=1"
        ))
        .expect("callback");
        assert_eq!(cb.status, RecordingStatus::Completed);
        assert_eq!(cb.duration_secs, Some(61));
        assert_eq!(cb.error_code, None);
        let r = cb.to_ref();
        assert_eq!(
            (r.sid.as_str(), r.status),
            (REC, RecordingStatus::Completed)
        );
        assert!(r.is_available());
        let failed = callback(&format!(
            "CallSid={CALL}&RecordingSid={REC}&RecordingStatus=failed&ErrorCode=16109&RecordingDuration=-1"
        ))
        .expect("callback");
        assert_eq!(failed.error_code.as_deref(), Some("16109"));
        assert_eq!(failed.duration_secs, None);
    }

    #[test]
    fn required_fields_are_named_when_missing_or_malformed() {
        for (body, field) in [
            (
                format!("RecordingSid={REC}&RecordingStatus=completed"),
                "CallSid",
            ),
            (
                format!("CallSid={CALL}&RecordingStatus=completed"),
                "RecordingSid",
            ),
            (
                format!("CallSid={CALL}&RecordingSid=CA1&RecordingStatus=completed"),
                "RecordingSid",
            ),
            (
                format!("CallSid={CALL}&RecordingSid={REC}"),
                "RecordingStatus",
            ),
            (
                format!("CallSid={CALL}&RecordingSid={REC}&RecordingStatus=done"),
                "RecordingStatus",
            ),
        ] {
            let err = callback(&body).expect_err(&body).to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
    }
}
