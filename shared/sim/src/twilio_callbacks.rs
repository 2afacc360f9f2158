//! The callbacks Twilio POSTs after the voice webhook, with Twilio's own parameter names
//! and formats (`protocols/twilio-webhooks.md` §3, §4), and [`post_signed`] to deliver
//! them signed as Twilio signs them.
//!
//! * [`RecordingCallback`]: the recording status callback (`recordingStatusCallback`).
//!   Values follow what live calls send: `RecordingStartTime` in RFC 2822,
//!   `ErrorCode=0` on success, and for `<Start><Recording>` the source
//!   `StartCallRecordingTwiML` with 2 channels (observed on live calls; Twilio's docs do
//!   not name that source).
//! * [`CallStatusCallback`]: the call status callback (`StatusCallback`): the voice
//!   webhook's parameters ([`crate::phone::twilio_form`]) plus `CallStatus`,
//!   `Timestamp`, `CallbackSource`, `SequenceNumber`, and on terminal events
//!   `CallDuration` (seconds) and `Duration` (billed minutes).
//!
//! Extra parameters (`extra`) are appended as given, as Twilio adds new ones freely.

use chrono::{DateTime, Utc};
use hotline_core::{AccountSid, CallSid, RecordingSid};

use crate::phone::{self, CallSpec, Direction};

/// Where Twilio's API lives, as the callbacks name it.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";
/// Twilio's API version, sent as `ApiVersion` and in resource URLs.
const API_VERSION: &str = "2010-04-01";
/// RFC 2822 as Twilio writes it: `Tue, 31 Aug 2010 20:36:44 +0000`.
const RFC_2822: &str = "%a, %d %b %Y %H:%M:%S +0000";

/// A recording status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingCallback {
    pub account_sid: AccountSid,
    /// The parent leg of the recorded call.
    pub call_sid: CallSid,
    pub recording_sid: RecordingSid,
    /// Base of `RecordingUrl`: [`TWILIO_API_BASE`], or a fake's
    /// [`crate::twilio_rest::FakeTwilio::base_url`] so the media can be fetched from it.
    pub api_base: String,
    /// `RecordingStatus`: `in-progress`, `completed`, `absent`, `failed`, …
    pub status: String,
    /// `RecordingDuration` in seconds; Twilio sends it once the recording is completed.
    pub duration_secs: Option<u32>,
    /// `RecordingChannels`: 1 or 2.
    pub channels: u8,
    /// `RecordingSource`, e.g. `StartCallRecordingTwiML`, `StartCallRecordingAPI`,
    /// `DialVerb`, `OutboundAPI`.
    pub source: String,
    /// `RecordingStartTime`.
    pub start_time: DateTime<Utc>,
    /// `RecordingTrack`: `inbound`, `outbound` or `both`.
    pub track: String,
    /// `ErrorCode`: `0` when all went well, e.g. 16101 (too short) or 16102 (silent)
    /// with `absent`.
    pub error_code: u32,
    /// More parameters, appended as given.
    pub extra: Vec<(String, String)>,
}

impl RecordingCallback {
    /// A `<Start><Recording>` of `call_sid` that finished: `completed`, dual channel,
    /// both tracks, `duration_secs` long, started that long ago; a fresh `RE…` SID.
    pub fn completed(account_sid: AccountSid, call_sid: CallSid, duration_secs: u32) -> Self {
        Self {
            account_sid,
            call_sid,
            recording_sid: new_recording_sid(),
            api_base: TWILIO_API_BASE.to_owned(),
            status: "completed".to_owned(),
            duration_secs: Some(duration_secs),
            channels: 2,
            source: "StartCallRecordingTwiML".to_owned(),
            start_time: Utc::now() - chrono::Duration::seconds(i64::from(duration_secs)),
            track: "both".to_owned(),
            error_code: 0,
            extra: Vec::new(),
        }
    }

    /// The same recording when Twilio has no file for it: `absent`, no duration,
    /// `ErrorCode` 16102 (silent, with silent recordings auto-deleted).
    pub fn absent(account_sid: AccountSid, call_sid: CallSid) -> Self {
        Self {
            status: "absent".to_owned(),
            duration_secs: None,
            error_code: 16102,
            ..Self::completed(account_sid, call_sid, 0)
        }
    }

    /// `RecordingUrl`: `{api_base}/2010-04-01/Accounts/AC…/Recordings/RE…`, no extension.
    pub fn recording_url(&self) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}/Recordings/{}",
            self.api_base.trim_end_matches('/'),
            self.account_sid.as_str(),
            self.recording_sid.as_str()
        )
    }

    /// The form Twilio POSTs.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut form = Form::default();
        form.add("AccountSid", self.account_sid.as_str());
        form.add("CallSid", self.call_sid.as_str());
        form.add("RecordingSid", self.recording_sid.as_str());
        form.add("RecordingUrl", &self.recording_url());
        form.add("RecordingStatus", &self.status);
        if let Some(secs) = self.duration_secs {
            form.add("RecordingDuration", &secs.to_string());
        }
        form.add("RecordingChannels", &self.channels.to_string());
        form.add("RecordingSource", &self.source);
        form.add(
            "RecordingStartTime",
            &self.start_time.format(RFC_2822).to_string(),
        );
        form.add("RecordingTrack", &self.track);
        form.add("ErrorCode", &self.error_code.to_string());
        form.0.extend(self.extra.iter().cloned());
        form.0
    }
}

/// A call status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatusCallback {
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
    /// `From` / `Caller`.
    pub from: String,
    /// `To` / `Called`.
    pub to: String,
    pub direction: Direction,
    /// `CallStatus`: `initiated`, `ringing`, `in-progress`, `completed`, `busy`,
    /// `failed`, `no-answer`, `canceled`.
    pub status: String,
    /// `CallDuration` in seconds, and `Duration` in whole minutes rounded up; Twilio
    /// sends them on terminal events only.
    pub duration_secs: Option<u32>,
    /// `SequenceNumber`: 0, 1, … in the order Twilio fired the callbacks.
    pub sequence_number: u32,
    /// `Timestamp`, when the event happened.
    pub timestamp: DateTime<Utc>,
    /// `SipResponseCode`, on terminal events when known.
    pub sip_response_code: Option<u16>,
    /// More parameters, appended as given (`StirStatus`, `ErrorCode`, …).
    pub extra: Vec<(String, String)>,
}

impl CallStatusCallback {
    /// An event of an inbound call from `+14155550100` to `+14155550199` (the phone
    /// simulator's defaults), happening now, sequence number 0.
    pub fn new(account_sid: AccountSid, call_sid: CallSid, status: &str) -> Self {
        Self {
            account_sid,
            call_sid,
            from: "+14155550100".to_owned(),
            to: "+14155550199".to_owned(),
            direction: Direction::Inbound,
            status: status.to_owned(),
            duration_secs: None,
            sequence_number: 0,
            timestamp: Utc::now(),
            sip_response_code: None,
            extra: Vec::new(),
        }
    }

    /// The call ended normally after `duration_secs`: `completed`, SIP 200.
    pub fn completed(account_sid: AccountSid, call_sid: CallSid, duration_secs: u32) -> Self {
        Self {
            duration_secs: Some(duration_secs),
            sip_response_code: Some(200),
            ..Self::new(account_sid, call_sid, "completed")
        }
    }

    /// The form Twilio POSTs.
    pub fn params(&self) -> Vec<(String, String)> {
        // The voice webhook's parameters, minus what only the webhook carries.
        let mut spec = CallSpec::new("", self.account_sid.clone(), "");
        spec.from.clone_from(&self.from);
        spec.to.clone_from(&self.to);
        spec.direction = self.direction;
        let mut form = Form(
            phone::twilio_form(&spec, &self.call_sid)
                .into_iter()
                .filter(|(name, _)| name != "CallToken" && name != "CallStatus")
                .collect(),
        );
        form.add("CallStatus", &self.status);
        if let Some(secs) = self.duration_secs {
            form.add("CallDuration", &secs.to_string());
            form.add("Duration", &secs.div_ceil(60).to_string());
        }
        if let Some(code) = self.sip_response_code {
            form.add("SipResponseCode", &code.to_string());
        }
        form.add("Timestamp", &self.timestamp.format(RFC_2822).to_string());
        form.add("CallbackSource", "call-progress-events");
        form.add("SequenceNumber", &self.sequence_number.to_string());
        form.0.extend(self.extra.iter().cloned());
        form.0
    }
}

/// POSTs `params` form-encoded to `url` as Twilio does: `X-Twilio-Signature` over `url`
/// exactly as given (query included) and the parameters, keyed with `auth_token`; an
/// `I-Twilio-Idempotency-Token`; Twilio's user agent. Answers the status and body.
pub async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    auth_token: &str,
    params: &[(String, String)],
) -> reqwest::Result<(u16, String)> {
    let response = http
        .post(url)
        .header("X-Twilio-Signature", phone::sign(auth_token, url, params))
        .header(
            "I-Twilio-Idempotency-Token",
            uuid::Uuid::new_v4().to_string(),
        )
        .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
        .form(params)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// A fresh `RE…` recording SID.
pub fn new_recording_sid() -> RecordingSid {
    loop {
        // Always 32 lowercase hex digits: parsing cannot fail, but the type insists.
        if let Ok(sid) = RecordingSid::parse(&format!(
            "{}{}",
            RecordingSid::PREFIX,
            uuid::Uuid::new_v4().simple()
        )) {
            return sid;
        }
    }
}

/// Form fields in order.
#[derive(Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::Ipv4Addr;

    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;

    fn account() -> AccountSid {
        AccountSid::parse("AC0123456789abcdef0123456789abcdef").expect("valid")
    }

    fn call() -> CallSid {
        CallSid::parse("CA0123456789abcdef0123456789abcdef").expect("valid")
    }

    fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What one request carried: its signature header, content type and form.
    type Seen = (Option<String>, Option<String>, Vec<(String, String)>);

    /// A server that answers 204 and hands over what each request carried.
    async fn capture() -> (String, mpsc::UnboundedReceiver<Seen>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let url = format!(
            "http://{}/twilio/recording?org=demo",
            listener.local_addr().expect("addr")
        );
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let tx = tx.clone();
                async move {
                    let header = |name: &str| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let signature = header("x-twilio-signature");
                    let content_type = header("content-type");
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes();
                    let form = form_urlencoded::parse(&body).into_owned().collect();
                    tx.send((signature, content_type, form))
                        .expect("test listens");
                    let mut response = hyper::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        (url, rx)
    }

    #[tokio::test]
    async fn posted_callbacks_carry_a_signature_twilio_validation_accepts() {
        let (url, mut seen) = capture().await;
        let mut callback = RecordingCallback::completed(account(), call(), 42);
        callback
            .extra
            .push(("Note".to_owned(), "café & ☎ + more".to_owned()));
        let params = callback.params();
        let (status, _) = post_signed(&reqwest::Client::new(), &url, "token-1", &params)
            .await
            .expect("post");
        assert_eq!(status, 204);
        let (signature, content_type, form) = seen.recv().await.expect("request");
        let signature = signature.expect("X-Twilio-Signature sent");
        assert_eq!(
            content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(form, params);
        assert!(hotline_twilio::signature::validate(
            "token-1", &url, &form, &signature
        ));
        assert!(!hotline_twilio::signature::validate(
            "token-2", &url, &form, &signature
        ));
    }

    #[test]
    fn recording_callback_uses_twilio_names_and_formats() {
        let mut callback = RecordingCallback::completed(account(), call(), 42);
        callback.start_time = DateTime::parse_from_rfc3339("2010-08-31T20:36:44Z")
            .expect("valid")
            .with_timezone(&Utc);
        let params = callback.params();
        let sid = callback.recording_sid.as_str();
        assert_eq!(
            get(&params, "RecordingUrl").map(str::to_owned),
            Some(format!(
                "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/{sid}"
            ))
        );
        assert_eq!(get(&params, "RecordingSid"), Some(sid));
        assert_eq!(get(&params, "RecordingStatus"), Some("completed"));
        assert_eq!(get(&params, "RecordingDuration"), Some("42"));
        assert_eq!(get(&params, "RecordingChannels"), Some("2"));
        assert_eq!(
            get(&params, "RecordingSource"),
            Some("StartCallRecordingTwiML")
        );
        assert_eq!(
            get(&params, "RecordingStartTime"),
            Some("Tue, 31 Aug 2010 20:36:44 +0000")
        );
        assert_eq!(get(&params, "RecordingTrack"), Some("both"));
        assert_eq!(get(&params, "ErrorCode"), Some("0"));
        assert_eq!(get(&params, "CallSid"), Some(call().as_str()));
        assert_eq!(get(&params, "AccountSid"), Some(account().as_str()));

        let absent = RecordingCallback::absent(account(), call()).params();
        assert_eq!(get(&absent, "RecordingStatus"), Some("absent"));
        assert_eq!(get(&absent, "RecordingDuration"), None);
        assert_eq!(get(&absent, "ErrorCode"), Some("16102"));
    }

    #[test]
    fn recording_url_follows_a_fake_api_base() {
        let mut callback = RecordingCallback::completed(account(), call(), 1);
        callback.api_base = "http://127.0.0.1:9/".to_owned();
        assert!(
            callback
                .recording_url()
                .starts_with("http://127.0.0.1:9/2010-04-01/Accounts/AC")
        );
    }

    #[test]
    fn status_callback_is_the_voice_form_plus_progress_fields() {
        let mut callback = CallStatusCallback::completed(account(), call(), 61);
        callback.sequence_number = 3;
        callback.timestamp = DateTime::parse_from_rfc3339("2010-08-31T20:36:44Z")
            .expect("valid")
            .with_timezone(&Utc);
        let params = callback.params();
        for (name, value) in [
            ("AccountSid", account().as_str()),
            ("CallSid", call().as_str()),
            ("ApiVersion", "2010-04-01"),
            ("Direction", "inbound"),
            ("From", "+14155550100"),
            ("Caller", "+14155550100"),
            ("To", "+14155550199"),
            ("Called", "+14155550199"),
            ("FromCountry", "US"),
            ("CallStatus", "completed"),
            ("CallDuration", "61"),
            ("Duration", "2"),
            ("SipResponseCode", "200"),
            ("Timestamp", "Tue, 31 Aug 2010 20:36:44 +0000"),
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", "3"),
        ] {
            assert_eq!(get(&params, name), Some(value), "{name}");
        }
        assert_eq!(params.iter().filter(|(k, _)| k == "CallStatus").count(), 1);
        assert_eq!(get(&params, "CallToken"), None);

        let ringing = CallStatusCallback::new(account(), call(), "ringing").params();
        assert_eq!(get(&ringing, "CallStatus"), Some("ringing"));
        assert_eq!(get(&ringing, "CallDuration"), None);
        assert_eq!(get(&ringing, "Duration"), None);
    }
}
