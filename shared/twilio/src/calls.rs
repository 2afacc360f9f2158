//! Placing and controlling outbound calls through Twilio's Calls API with each
//! organization's own account: the [`CallPlacer`] port the dial use case runs on.

use async_trait::async_trait;
use hotline_core::dial::{CallPlacer, PlaceCall, PlaceError};
use hotline_core::model::Organization;
use hotline_core::{CallSid, Party};

use crate::rest::{CallEvent, CallUpdate, CreateCall, MachineDetection, RestError, TwilioClient};

/// Every progress event: a dialer needs `busy` and `no-answer` as much as `completed`.
pub const ALL_EVENTS: [CallEvent; 4] = [
    CallEvent::Initiated,
    CallEvent::Ringing,
    CallEvent::Answered,
    CallEvent::Completed,
];

/// Twilio's request for hotline's [`PlaceCall`]: every status event (POST), detection
/// waiting for the end of a voicemail greeting run beside the TwiML when asked
/// (`MachineDetection=DetectMessageEnd`, `AsyncAmd=true`), the fallback URL and the ring
/// timeout. The recording is the one the voice webhook's TwiML starts, as on inbound
/// calls (`<Start><Recording>`): asking for `Record=true` as well would record twice.
pub fn create_request(call: &PlaceCall) -> CreateCall {
    let mut create = CreateCall::new(
        Party::Phone(call.to.clone()),
        call.from.clone(),
        call.url.clone(),
    );
    create.status_callback = Some(call.status_callback.clone());
    create.status_callback_events = ALL_EVENTS.to_vec();
    if let Some(amd) = &call.amd_callback {
        create.machine_detection = Some(MachineDetection::DetectMessageEnd);
        create.async_amd_callback = Some(amd.clone());
    }
    create.fallback_url = Some(call.fallback_url.clone());
    create.ring_timeout_secs = Some(call.ring_timeout_secs);
    create
}

fn place_error(e: RestError) -> PlaceError {
    match e {
        RestError::NotFound { .. } => PlaceError::NotFound,
        e if e.is_retryable() => PlaceError::Unavailable(e.to_string()),
        e => PlaceError::Rejected(e.to_string()),
    }
}

/// Calls placed and controlled through Twilio with each organization's account.
#[derive(Debug, Clone)]
pub struct TwilioCalls(pub TwilioClient);

#[async_trait]
impl CallPlacer for TwilioCalls {
    async fn place(&self, org: &Organization, call: &PlaceCall) -> Result<CallSid, PlaceError> {
        self.0
            .create_call(
                &org.twilio.account_sid,
                &org.twilio.auth_token,
                &create_request(call),
            )
            .await
            .map_err(place_error)
    }

    async fn hang_up(&self, org: &Organization, call: &CallSid) -> Result<(), PlaceError> {
        self.0
            .update_call(
                &org.twilio.account_sid,
                &org.twilio.auth_token,
                call,
                &CallUpdate::Hangup,
            )
            .await
            .map_err(place_error)
    }

    async fn run_twiml(
        &self,
        org: &Organization,
        call: &CallSid,
        twiml: &str,
    ) -> Result<(), PlaceError> {
        self.0
            .update_call(
                &org.twilio.account_sid,
                &org.twilio.auth_token,
                call,
                &CallUpdate::Twiml(twiml.to_owned()),
            )
            .await
            .map_err(place_error)
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::E164;

    use super::*;

    #[test]
    fn a_placed_call_asks_for_every_event_async_detection_and_the_fallback() {
        let call = PlaceCall {
            to: E164::parse("+14155550100").expect("to"),
            from: E164::parse("+14155550111").expect("from"),
            url: "https://h.example/twilio/voice?call=dl_1".into(),
            status_callback: "https://h.example/twilio/status?call=dl_1".into(),
            amd_callback: Some("https://h.example/twilio/amd?call=dl_1".into()),
            fallback_url: "https://h.example/twilio/fallback?call=dl_1".into(),
            ring_timeout_secs: 30,
        };
        let req = create_request(&call);
        assert_eq!(req.status_callback_events, ALL_EVENTS.to_vec());
        assert_eq!(
            req.machine_detection,
            Some(MachineDetection::DetectMessageEnd)
        );
        assert_eq!(
            req.async_amd_callback.as_deref(),
            Some("https://h.example/twilio/amd?call=dl_1")
        );
        let without = create_request(&PlaceCall {
            amd_callback: None,
            ..call
        });
        assert_eq!(without.machine_detection, None);
        assert_eq!(without.async_amd_callback, None);
    }
}
