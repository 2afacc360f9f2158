//! A small client for Twilio's REST API (2010-04-01), for what hotline does to calls it
//! does not hold the socket of: hang up, redirect (transfer), dial out, and fetch or
//! delete a recording afterwards.
//!
//! Requests are form-encoded with PascalCase keys and always address the `.json`
//! resources; responses are JSON with snake_case keys. Every request authenticates with
//! HTTP Basic (`AccountSid:AuthToken`) and carries a timeout. The credentials are passed
//! per call, because each organization has its own Twilio subaccount; the token is only
//! ever exposed to build the `Authorization` header and never appears in an error or a
//! log line.

use std::fmt;
use std::time::Duration;

use hotline_core::model::{RecordingRef, RecordingStatus};
use hotline_core::{AccountSid, CallSid, E164, Party, RecordingSid};
use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};

/// Where Twilio's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The setting that points the client elsewhere (a fake in tests, the local stack).
pub const BASE_URL_ENV: &str = "TWILIO_API_BASE_URL";
/// How long one request may take, connect to last byte, unless changed with
/// [`TwilioClient::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const API_VERSION: &str = "2010-04-01";
/// Longest non-JSON error body kept in an error message.
const MAX_ERROR_TEXT: usize = 200;

/// A Twilio REST client: a base URL and a shared HTTP client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    base_url: String,
    pub(crate) http: reqwest::Client,
    timeout: Duration,
}

/// What to do to a live call (`POST …/Calls/{CallSid}.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// `Status=completed`: hang up an in-progress call (and cancel a ringing one).
    Hangup,
    /// `Twiml=…`: stop what the call is doing, a Media Stream included, and run this
    /// TwiML now. Twilio accepts at most 4000 characters.
    Twiml(String),
    /// `Url=…&Method=POST`: fetch new TwiML from this URL now.
    Redirect { url: String },
}

impl CallUpdate {
    fn form(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Hangup => vec![("Status", "completed".to_owned())],
            Self::Twiml(twiml) => vec![("Twiml", twiml.clone())],
            Self::Redirect { url } => vec![("Url", url.clone()), ("Method", "POST".to_owned())],
        }
    }
}

/// Call progress events a status callback can be sent for (`StatusCallbackEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEvent {
    Initiated,
    Ringing,
    Answered,
    Completed,
}

impl CallEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::Answered => "answered",
            Self::Completed => "completed",
        }
    }
}

impl fmt::Display for CallEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Answering-machine detection for an outbound call (`MachineDetection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineDetection {
    /// Report `AnsweredBy` as soon as Twilio can tell.
    Enable,
    /// Wait for the end of a voicemail greeting (the beep) before running the TwiML.
    DetectMessageEnd,
}

impl MachineDetection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "Enable",
            Self::DetectMessageEnd => "DetectMessageEnd",
        }
    }
}

/// An outbound call to place (`POST …/Calls.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCall {
    /// `To`: a phone number, or a `client:`/`sip:` address.
    pub to: Party,
    /// `From`: one of the account's numbers or a verified caller ID.
    pub from: E164,
    /// `Url`: where Twilio fetches the call's TwiML when it connects (POST).
    pub url: String,
    /// `StatusCallback`: where call progress is POSTed.
    pub status_callback: Option<String>,
    /// `StatusCallbackEvent`, one key per event. Empty means Twilio's default: `completed`.
    pub status_callback_events: Vec<CallEvent>,
    pub machine_detection: Option<MachineDetection>,
    /// `AsyncAmd=true` with `AsyncAmdStatusCallback` (POST): detection runs beside the
    /// TwiML and its verdict (`AnsweredBy`) is posted here. Only with `machine_detection`.
    pub async_amd_callback: Option<String>,
    /// `FallbackUrl` (POST): where Twilio asks for TwiML when `Url` fails.
    pub fallback_url: Option<String>,
    /// `Timeout`: seconds to let it ring (Twilio's default 60, at most 600).
    pub ring_timeout_secs: Option<u32>,
}

impl CreateCall {
    pub fn new(to: Party, from: E164, url: impl Into<String>) -> Self {
        Self {
            to,
            from,
            url: url.into(),
            status_callback: None,
            status_callback_events: Vec::new(),
            machine_detection: None,
            async_amd_callback: None,
            fallback_url: None,
            ring_timeout_secs: None,
        }
    }

    fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", self.to.as_str().to_owned()),
            ("From", self.from.as_str().to_owned()),
            ("Url", self.url.clone()),
            ("Method", "POST".to_owned()),
        ];
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback.clone()));
            form.push(("StatusCallbackMethod", "POST".to_owned()));
        }
        for event in &self.status_callback_events {
            form.push(("StatusCallbackEvent", event.as_str().to_owned()));
        }
        if let Some(fallback) = &self.fallback_url {
            form.push(("FallbackUrl", fallback.clone()));
            form.push(("FallbackMethod", "POST".to_owned()));
        }
        if let Some(amd) = self.machine_detection {
            form.push(("MachineDetection", amd.as_str().to_owned()));
            if let Some(callback) = &self.async_amd_callback {
                form.push(("AsyncAmd", "true".to_owned()));
                form.push(("AsyncAmdStatusCallback", callback.clone()));
                form.push(("AsyncAmdStatusCallbackMethod", "POST".to_owned()));
            }
        }
        if let Some(secs) = self.ring_timeout_secs {
            form.push(("Timeout", secs.to_string()));
        }
        form
    }
}

/// The media format of a recording download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    Mp3,
    Wav,
}

impl RecordingFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Wav => "wav",
        }
    }
}

/// Why a request to Twilio failed. [`RestError::is_retryable`] says whether trying the
/// same request again later can help.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// 404: no such call or recording in this account (yet, for a recording that is
    /// still processing).
    #[error("Twilio: not found{}: {message}", code_text(*.code))]
    NotFound { code: Option<u32>, message: String },
    /// 401 or 403: wrong credentials, or they do not reach this account.
    #[error("Twilio refused the credentials (HTTP {status}{}): {message}", code_text(*.code))]
    Auth {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// 429: too many requests; `Retry-After` when Twilio sent one.
    #[error("Twilio: too many requests (HTTP 429), retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx: Twilio's side failed.
    #[error("Twilio: server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// No answer: connect failure, timeout, or the connection dropped mid-response.
    /// For a create, the call may have been placed anyway.
    #[error("Twilio: no answer from the API: {0}")]
    Network(#[source] reqwest::Error),
    /// Any other 4xx: Twilio understood and refused (invalid number, call not in
    /// progress, …). Permanent.
    #[error("Twilio rejected the request (HTTP {status}{}): {message}", code_text(*.code))]
    Rejected {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// A success status with a body we could not read.
    #[error("Twilio: unexpected response: {0}")]
    Unexpected(String),
}

fn code_text(code: Option<u32>) -> String {
    code.map_or_else(String::new, |c| format!(", code {c}"))
}

impl RestError {
    /// Rate limits, server errors and network failures: worth another try with backoff.
    /// Everything else is permanent.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Network(_)
        )
    }

    /// Twilio's error code (`21211`, `20404`, …) when its error body carried one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::NotFound { code, .. } | Self::Auth { code, .. } | Self::Rejected { code, .. } => {
                *code
            }
            Self::RateLimited { .. } | Self::Server { .. } | Self::Network(_) => None,
            Self::Unexpected(_) => None,
        }
    }

    /// The error for a non-success response, from its status, `Retry-After` and body.
    fn from_response(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let (code, message) = parse_error_body(body);
        let message =
            message.unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        match status.as_u16() {
            404 => Self::NotFound { code, message },
            s @ (401 | 403) => Self::Auth {
                status: s,
                code,
                message,
            },
            429 => Self::RateLimited { retry_after },
            s @ 500..=599 => Self::Server { status: s, message },
            s => Self::Rejected {
                status: s,
                code,
                message,
            },
        }
    }
}

/// One page of `…/Recordings.json`; the fields hotline reads.
#[derive(serde::Deserialize)]
struct RecordingPage {
    recordings: Vec<ListedRecording>,
}

#[derive(serde::Deserialize)]
struct ListedRecording {
    sid: String,
    status: String,
    #[serde(default)]
    duration: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<serde_json::Value>,
}

/// A JSON string or number as text; `None` for null and anything else.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Twilio's error JSON: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
/// A body that is not that keeps a short, printable prefix as the message.
fn parse_error_body(body: &[u8]) -> (Option<u32>, Option<String>) {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        let code = map
            .get("code")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u32::try_from(c).ok());
        let message = map
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_TEXT)
        .collect();
    (None, (!text.is_empty()).then_some(text))
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl TwilioClient {
    /// A client for the API at `base_url` (e.g. [`DEFAULT_BASE_URL`], or a fake's URL).
    /// A trailing `/` is ignored.
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client for the base URL in [`BASE_URL_ENV`], or Twilio's own.
    pub fn from_env(http: reqwest::Client) -> Self {
        Self::new(&Self::base_url_from(|k| std::env::var(k).ok()), http)
    }

    /// The base URL a settings lookup names: [`BASE_URL_ENV`] when set and not empty,
    /// otherwise [`DEFAULT_BASE_URL`].
    pub fn base_url_from(get: impl Fn(&str) -> Option<String>) -> String {
        get(BASE_URL_ENV)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
    }

    /// The same client with another per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Hangs up or redirects a live call. A call that is gone answers
    /// [`RestError::NotFound`]; one that already ended usually answers
    /// [`RestError::Rejected`] with code 21220.
    pub async fn update_call(
        &self,
        account: &AccountSid,
        token: &SecretString,
        call: &CallSid,
        update: &CallUpdate,
    ) -> Result<(), RestError> {
        let url = self.account_url(account, &format!("Calls/{call}.json"));
        let request = self.http.post(url).form(&update.form());
        self.send(request, account, token).await?;
        Ok(())
    }

    /// Places an outbound call and returns its SID. Not idempotent: after a
    /// [`RestError::Network`] the call may exist, so a retry can dial twice.
    pub async fn create_call(
        &self,
        account: &AccountSid,
        token: &SecretString,
        call: &CreateCall,
    ) -> Result<CallSid, RestError> {
        let url = self.account_url(account, "Calls.json");
        let request = self.http.post(url).form(&call.form());
        let response = self.send(request, account, token).await?;
        let body = response.bytes().await.map_err(RestError::Network)?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RestError::Unexpected(format!("call resource is not JSON: {e}")))?;
        let sid = json
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| RestError::Unexpected("call resource has no sid".to_owned()))?;
        CallSid::parse(sid).map_err(|e| RestError::Unexpected(format!("call resource sid: {e}")))
    }

    /// The media of a recording. Right after a call Twilio may still be processing it
    /// and answer 404 for a while: [`RestError::NotFound`] then means "not yet" as much
    /// as "never"; the caller decides how long to keep asking.
    pub async fn download_recording(
        &self,
        account: &AccountSid,
        token: &SecretString,
        recording: &RecordingSid,
        format: RecordingFormat,
    ) -> Result<Vec<u8>, RestError> {
        let url = self.account_url(
            account,
            &format!("Recordings/{recording}.{}", format.extension()),
        );
        let response = self.send(self.http.get(url), account, token).await?;
        let body = response.bytes().await.map_err(RestError::Network)?;
        Ok(body.to_vec())
    }

    /// Deletes a recording from Twilio (after we stored our copy). Deleting one that
    /// is already gone answers [`RestError::NotFound`].
    pub async fn delete_recording(
        &self,
        account: &AccountSid,
        token: &SecretString,
        recording: &RecordingSid,
    ) -> Result<(), RestError> {
        let url = self.account_url(account, &format!("Recordings/{recording}.json"));
        self.send(self.http.delete(url), account, token).await?;
        Ok(())
    }

    /// The recordings Twilio holds of a call (`GET …/Calls/{CallSid}/Recordings.json`),
    /// in Twilio's order. Only the first page is read: a call of hotline's has one
    /// recording, and a page holds 50. Recordings in a status hotline does not know
    /// (`deleted`) are left out.
    pub async fn list_call_recordings(
        &self,
        account: &AccountSid,
        token: &SecretString,
        call: &CallSid,
    ) -> Result<Vec<RecordingRef>, RestError> {
        let url = self.account_url(account, &format!("Calls/{call}/Recordings.json"));
        let response = self.send(self.http.get(url), account, token).await?;
        let body = response.bytes().await.map_err(RestError::Network)?;
        let page: RecordingPage = serde_json::from_slice(&body)
            .map_err(|e| RestError::Unexpected(format!("recording list: {e}")))?;
        Ok(page
            .recordings
            .into_iter()
            .filter_map(|r| {
                Some(RecordingRef {
                    sid: RecordingSid::parse(&r.sid).ok()?,
                    // `-1` or null while unknown.
                    status: RecordingStatus::parse(&r.status)?,
                    // Twilio sends numbers as strings here, `-1` while unknown.
                    duration_secs: r
                        .duration
                        .as_ref()
                        .and_then(scalar)
                        .and_then(|d| d.parse().ok()),
                    error_code: r.error_code.as_ref().and_then(scalar),
                    blob_key: None,
                    deleted_from_twilio: false,
                })
            })
            .collect())
    }

    /// `{base}/2010-04-01/Accounts/{account}/{rest}`. SIDs are hex by construction, so
    /// nothing here needs escaping.
    pub(crate) fn account_url(&self, account: &AccountSid, rest: &str) -> String {
        format!("{}/{API_VERSION}/Accounts/{account}/{rest}", self.base_url)
    }

    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        account: &AccountSid,
        token: &SecretString,
    ) -> Result<Response, RestError> {
        let response = request
            .basic_auth(account.as_str(), Some(token.expose_secret()))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(RestError::Network)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(&response);
        // An unreadable error body still leaves the status to go by.
        let body = response.bytes().await.unwrap_or_default();
        Err(RestError::from_response(status, retry_after, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, body: &str) -> RestError {
        let status = StatusCode::from_u16(status).expect("valid status");
        RestError::from_response(status, None, body.as_bytes())
    }

    #[test]
    fn updates_become_twilios_form_fields() {
        assert_eq!(
            CallUpdate::Hangup.form(),
            vec![("Status", "completed".to_owned())]
        );
        assert_eq!(
            CallUpdate::Twiml("<Response><Hangup/></Response>".to_owned()).form(),
            vec![("Twiml", "<Response><Hangup/></Response>".to_owned())]
        );
        assert_eq!(
            CallUpdate::Redirect {
                url: "https://api.example.com/twilio/voice".to_owned()
            }
            .form(),
            vec![
                ("Url", "https://api.example.com/twilio/voice".to_owned()),
                ("Method", "POST".to_owned())
            ]
        );
    }

    #[test]
    fn a_created_call_repeats_the_status_callback_event_key() {
        let mut call = CreateCall::new(
            Party::parse("+14155550100").expect("valid"),
            E164::parse("+14155550199").expect("valid"),
            "https://api.example.com/twilio/voice?campaign=c1",
        );
        call.status_callback = Some("https://api.example.com/twilio/status".to_owned());
        call.status_callback_events = vec![CallEvent::Initiated, CallEvent::Answered];
        call.machine_detection = Some(MachineDetection::Enable);
        call.ring_timeout_secs = Some(30);
        let form = call.form();
        let events: Vec<&str> = form
            .iter()
            .filter(|(k, _)| *k == "StatusCallbackEvent")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(events, ["initiated", "answered"]);
        assert!(form.contains(&("To", "+14155550100".to_owned())));
        assert!(form.contains(&("From", "+14155550199".to_owned())));
        assert!(form.contains(&("MachineDetection", "Enable".to_owned())));
        assert!(form.contains(&("Timeout", "30".to_owned())));
    }

    #[test]
    fn a_bare_created_call_sends_only_what_is_required() {
        let call = CreateCall::new(
            Party::parse("client:alice").expect("valid"),
            E164::parse("+14155550199").expect("valid"),
            "https://x.example/v",
        );
        let keys: Vec<&str> = call.form().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["To", "From", "Url", "Method"]);
    }

    #[test]
    fn statuses_map_to_kinds_and_retryability() {
        let not_found = error(
            404,
            r#"{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#,
        );
        assert!(matches!(
            not_found,
            RestError::NotFound {
                code: Some(20404),
                ..
            }
        ));
        assert!(!not_found.is_retryable());
        assert!(matches!(
            error(
                401,
                r#"{"code":20003,"message":"Authenticate","status":401}"#
            ),
            RestError::Auth {
                status: 401,
                code: Some(20003),
                ..
            }
        ));
        assert!(matches!(
            error(403, ""),
            RestError::Auth { status: 403, .. }
        ));
        assert!(error(429, "").is_retryable());
        assert!(error(500, "").is_retryable());
        assert!(error(503, "<html>busy</html>").is_retryable());
        assert!(!error(400, "").is_retryable());
    }

    #[test]
    fn other_client_errors_carry_twilios_code_and_message() {
        let e = error(
            400,
            r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        );
        match &e {
            RestError::Rejected {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, 400);
                assert_eq!(*code, Some(21211));
                assert!(message.contains("not a valid phone number"));
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert_eq!(e.code(), Some(21211));
        assert!(e.to_string().contains("code 21211"));
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_short() {
        let long = "x".repeat(1000);
        match error(400, &long) {
            RestError::Rejected { code, message, .. } => {
                assert_eq!(code, None);
                assert_eq!(message.len(), MAX_ERROR_TEXT);
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        match error(422, "") {
            RestError::Rejected { message, .. } => assert_eq!(message, "Unprocessable Entity"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn the_base_url_comes_from_settings_or_defaults_to_twilio() {
        assert_eq!(TwilioClient::base_url_from(|_| None), DEFAULT_BASE_URL);
        assert_eq!(
            TwilioClient::base_url_from(|_| Some(String::new())),
            DEFAULT_BASE_URL
        );
        assert_eq!(
            TwilioClient::base_url_from(
                |k| (k == BASE_URL_ENV).then(|| "http://127.0.0.1:9999".to_owned())
            ),
            "http://127.0.0.1:9999"
        );
        let client = TwilioClient::new("http://127.0.0.1:9999/", reqwest::Client::new());
        assert_eq!(client.base_url(), "http://127.0.0.1:9999");
        let account = AccountSid::parse("AC0123456789abcdef0123456789abcdef").expect("valid");
        assert_eq!(
            client.account_url(&account, "Calls.json"),
            "http://127.0.0.1:9999/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
        );
    }
}
