//! `POST /twilio/amd`: Twilio's answering-machine detection verdict on an outbound call
//! (`AsyncAmdStatusCallback`, sent once the voicemail greeting ended with
//! `DetectMessageEnd`). The first verdict is kept on the call; only the request that
//! wrote it acts on it, so a replay does nothing:
//!
//! * `machine_end_beep` / `_silence` / `_other`: the agent's voicemail message replaces
//!   the stream (Twilio says it, then hangs up) and the outcome is `voicemail_left`; with
//!   no message, a hang-up and `machine`;
//! * `machine_start`, `fax`: a hang-up (`machine`, `fax`);
//! * `human`, `unknown`: the stream node, which kept the agent silent until now, lets the
//!   conversation start (`human`, `unknown`).

use chrono::Utc;
use hotline_core::CallSid;
use hotline_core::model::{AmdOutcome, AnsweredBy, Organization};
use hotline_core::ports::{StoreError, modify_call_if};
use hotline_core::{ParseIdError, routes};
use hotline_twilio::{Form, FormError, VoiceResponse};
use hotline_webhook::{Verified, WebhookError, error_response, no_content, verify};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info, info_span, warn};

use crate::handler::{Deps, StatusError, record_placed_call};

/// The fields of Twilio's AMD callback hotline acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdCallback {
    pub call_sid: CallSid,
    pub answered_by: AnsweredBy,
}

impl AmdCallback {
    pub fn from_form(form: &Form) -> Result<Self, FormError> {
        Ok(Self {
            call_sid: form.parse_field("CallSid", CallSid::parse)?,
            answered_by: form.parse_field("AnsweredBy", |s| {
                AnsweredBy::parse(s).ok_or(ParseIdError {
                    kind: "AnsweredBy",
                    reason: "must be one of Twilio's answering-machine detection results",
                })
            })?,
        })
    }
}

/// The outcome a verdict gives before anything is done about it.
pub fn first_outcome(answered_by: AnsweredBy) -> AmdOutcome {
    match answered_by {
        AnsweredBy::Human => AmdOutcome::Human,
        AnsweredBy::Fax => AmdOutcome::Fax,
        AnsweredBy::Unknown => AmdOutcome::Unknown,
        AnsweredBy::MachineStart
        | AnsweredBy::MachineEndBeep
        | AnsweredBy::MachineEndSilence
        | AnsweredBy::MachineEndOther => AmdOutcome::Machine,
    }
}

/// Answers one AMD callback: 204 when taken in, a clear 4xx when refused, 503 when the
/// store failed.
pub async fn handle_amd(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "amd",
        call_sid = tracing::field::Empty,
        org = tracing::field::Empty,
        answered_by = tracing::field::Empty,
    );
    match apply(deps, &req).instrument(span.clone()).await {
        Ok(()) => no_content(),
        Err(e) => error_response(&span, "amd", e.status(), &e),
    }
}

async fn apply(deps: &Deps, req: &Request) -> Result<(), StatusError> {
    let Verified { org, form } =
        verify(deps.directory.as_ref(), &deps.config, routes::AMD, req).await?;
    let callback = AmdCallback::from_form(&form).map_err(WebhookError::Malformed)?;
    let span = tracing::Span::current();
    span.record("call_sid", callback.call_sid.as_str());
    span.record("org", org.id.as_str());
    span.record("answered_by", tracing::field::debug(callback.answered_by));
    record_placed_call(deps, &org, req.uri().query(), &callback.call_sid).await?;

    let verdict = callback.answered_by;
    let modified = modify_call_if(deps.calls.as_ref(), &callback.call_sid, |call| {
        if call.org != org.id {
            return false;
        }
        match call.outbound.as_mut() {
            Some(out) if out.answered_by.is_none() => {
                out.answered_by = Some(verdict);
                out.amd_outcome = Some(first_outcome(verdict));
                true
            }
            _ => false,
        }
    })
    .await;
    let modified = match modified {
        Err(StoreError::NotFound(_)) => {
            info!("AMD callback for a call without a record; nothing to do");
            return Ok(());
        }
        other => other?,
    };
    let call = modified.call();
    if call.org != org.id {
        warn!(owner = %call.org, "AMD callback for another organization's call refused");
        return Err(StatusError::NotFound);
    }
    if !modified.is_written() {
        info!("AMD verdict replayed or not an outbound call; nothing to do");
        return Ok(());
    }
    let message = call
        .outbound
        .as_ref()
        .and_then(|o| o.voicemail_message.clone());
    act(deps, &org, &callback.call_sid, verdict, message).await
}

/// Does what the verdict asks. Twilio failing is logged, not retried: the call goes on
/// (or ends) by itself and the outcome says what was done.
async fn act(
    deps: &Deps,
    org: &Organization,
    sid: &CallSid,
    verdict: AnsweredBy,
    message: Option<String>,
) -> Result<(), StatusError> {
    match (verdict, message) {
        (v, Some(message)) if v.is_message_end() => {
            // Noted before Twilio is asked: the message ends with a hang-up, whose
            // `completed` callback (which finishes a campaign's lead with the call's
            // outcome) can come before Twilio's answer here does.
            swap_outcome(deps, sid, AmdOutcome::Machine, AmdOutcome::VoicemailLeft).await?;
            let twiml = VoiceResponse::new().say(message.as_str()).hangup().render();
            match deps.placer.run_twiml(org, sid, &twiml).await {
                Ok(()) => info!(at = %Utc::now(), "voicemail left after the beep"),
                Err(e) => {
                    warn!(error = %e, "Twilio did not take the voicemail message");
                    swap_outcome(deps, sid, AmdOutcome::VoicemailLeft, AmdOutcome::Machine).await?;
                }
            }
        }
        (AnsweredBy::Human | AnsweredBy::Unknown, _) => {
            info!("a person (or nobody knows who) answered: the conversation starts");
        }
        _ => {
            if let Err(e) = deps.placer.hang_up(org, sid).await {
                warn!(error = %e, "Twilio did not hang up the machine-answered call");
            } else {
                info!("hung up on a machine or fax");
            }
        }
    }
    Ok(())
}

/// The call's outcome `to`, if it is `from`.
async fn swap_outcome(
    deps: &Deps,
    sid: &CallSid,
    from: AmdOutcome,
    to: AmdOutcome,
) -> Result<(), StoreError> {
    modify_call_if(deps.calls.as_ref(), sid, |call| {
        match call.outbound.as_mut() {
            Some(out) if out.amd_outcome == Some(from) => {
                out.amd_outcome = Some(to);
                true
            }
            _ => false,
        }
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "CA22222222222222222222222222222222";

    #[test]
    fn verdicts_are_read_in_twilios_spelling_and_unknown_values_refused() {
        let cb = AmdCallback::from_form(&Form::parse(
            format!("CallSid={CALL}&AnsweredBy=machine_end_beep").as_bytes(),
        ))
        .expect("callback");
        assert_eq!(cb.answered_by, AnsweredBy::MachineEndBeep);
        assert_eq!(first_outcome(cb.answered_by), AmdOutcome::Machine);
        let err = AmdCallback::from_form(&Form::parse(
            format!("CallSid={CALL}&AnsweredBy=robot").as_bytes(),
        ))
        .expect_err("robot");
        assert!(err.to_string().contains("AnsweredBy"), "{err}");
    }
}
