//! Twilio's list of a call's recordings, for `hotline_core::sweep`.

use std::time::Duration;

use async_trait::async_trait;
use hotline_core::CallSid;
use hotline_core::model::{Organization, RecordingRef};
use hotline_core::sweep::{CallRecordings, LookupError};
use hotline_twilio::rest::TwilioClient;

/// One list request; the sweep goes on to the next call rather than wait longer.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks Twilio with each organization's own credentials.
#[derive(Debug, Clone)]
pub struct TwilioRecordings {
    client: TwilioClient,
}

impl TwilioRecordings {
    pub fn new(base_url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            client: TwilioClient::new(base_url, http).with_timeout(LIST_TIMEOUT),
        })
    }
}

#[async_trait]
impl CallRecordings for TwilioRecordings {
    async fn call_recordings(
        &self,
        org: &Organization,
        call: &CallSid,
    ) -> Result<Vec<RecordingRef>, LookupError> {
        let twilio = &org.twilio;
        self.client
            .list_call_recordings(&twilio.account_sid, &twilio.auth_token, call)
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    LookupError::Passing(e.to_string())
                } else {
                    LookupError::Refused(e.to_string())
                }
            })
    }
}
