//! An organization's endpoint for hotline's signed call-report webhooks, on a loopback
//! port: it checks each delivery the way a careful receiver would, records it, and
//! answers with the statuses a test asks for.
//!
//! The scheme, verified here independently of hotline's signing code:
//!
//! | header | value |
//! |---|---|
//! | `Hotline-Signature` | `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; several `v1=` while a secret rotates, valid if any matches |
//! | `Hotline-Event-Id` | the event's id, the same on every retry: receivers dedupe on it |
//! | `Content-Type` | `application/json` |
//!
//! A delivery is refused with 401 when the signature is absent, malformed or wrong, or
//! when `t` is more than [`TOLERANCE`] away from the receiver's clock; with 415 when the
//! body is not declared JSON, 400 without an event id, 405 for anything but `POST`.
//! Accepted deliveries are answered with the statuses queued by
//! [`WebhookReceiver::respond_with`], then 200. Every request is recorded, refused or not.
//!
//! The same receiver stands in for a webhook tool's endpoint, which is signed the same
//! way: [`WebhookReceiver::answer_with`] sets the JSON it answers with, and
//! [`WebhookReceiver::delay`] makes it slow.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};
use sha2::Sha256;

use crate::server::{self, Server, Shared};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Hotline-Signature";
/// The event id header.
pub const EVENT_ID_HEADER: &str = "Hotline-Event-Id";
/// How far a signature's timestamp may be from now, either way.
pub const TOLERANCE: Duration = Duration::from_secs(300);
/// The path [`WebhookReceiver::url`] points at; any other path is served the same way.
pub const PATH: &str = "/hooks/calls";

type HmacSha256 = Hmac<Sha256>;

/// One request as the receiver saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub method: String,
    /// The path, e.g. `/hooks/calls`.
    pub path: String,
    /// `Hotline-Event-Id`, when sent.
    pub event_id: Option<String>,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// `Hotline-Signature` as sent.
    pub signature: Option<String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body as JSON, when it parses.
    pub json: Option<serde_json::Value>,
    /// Whether the delivery passed every check, or why not.
    pub verified: Result<(), String>,
    /// The status the receiver answered.
    pub status: u16,
    pub received_at: DateTime<Utc>,
}

/// A running receiver. The server stops when this is dropped.
pub struct WebhookReceiver {
    url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

struct State {
    secret: Vec<u8>,
    /// Statuses for the next verified deliveries, before the default 200.
    statuses: VecDeque<u16>,
    /// The body of a 2xx answer (JSON); none is the status's reason phrase as text.
    answer: Option<String>,
    /// How long to wait before answering (after recording the request).
    delay: Duration,
    deliveries: Vec<Delivery>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("WebhookReceiver")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port that accepts signatures made with
    /// `secret`.
    pub async fn start(secret: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            secret: secret.as_bytes().to_vec(),
            statuses: VecDeque::new(),
            answer: None,
            delay: Duration::ZERO,
            deliveries: Vec::new(),
        }));
        let server = Server::http(Arc::clone(&shared), handle).await?;
        Ok(Self {
            url: format!("http://{}{PATH}", server.addr()),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:{port}/hooks/calls`: the organization's webhook URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next verified deliveries with these statuses, in order (after any
    /// still queued), then 200 again. `[500, 500]` makes the first two tries fail.
    pub fn respond_with(&self, statuses: Vec<u16>) {
        self.shared.lock().statuses.extend(statuses);
    }

    /// Answers verified deliveries that succeed with `json` (as `application/json`), as a
    /// webhook tool would.
    pub fn answer_with(&self, json: &str) {
        self.shared.lock().answer = Some(json.to_owned());
    }

    /// Waits this long before answering each request from now on; the request is
    /// recorded on arrival.
    pub fn delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Accepts signatures made with `secret` from now on, as after a rotation.
    pub fn set_secret(&self, secret: &str) {
        self.shared.lock().secret = secret.as_bytes().to_vec();
    }

    /// Every request so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// The deliveries once there are at least `n`, or those there are when `timeout`
    /// runs out: check the length.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.shared
            .wait_until(|state| (state.deliveries.len() >= n).then_some(()), timeout)
            .await;
        self.deliveries()
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let received_at = Utc::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = server::body(request).await;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let (status, answer, delay) = {
        let mut state = shared.lock();
        let checked = check(&method, &headers, &body, &state.secret, received_at);
        let status = match &checked {
            Ok(()) => state.statuses.pop_front().unwrap_or(200),
            Err((status, _)) => status.as_u16(),
        };
        state.deliveries.push(Delivery {
            method: method.as_str().to_owned(),
            path,
            event_id: header(EVENT_ID_HEADER),
            content_type: header(CONTENT_TYPE.as_str()),
            signature: header(SIGNATURE_HEADER),
            json: serde_json::from_slice(&body).ok(),
            body: body.to_vec(),
            verified: checked.map_err(|(_, why)| why),
            status,
            received_at,
        });
        (status, state.answer.clone(), state.delay)
    };
    shared.notify();
    tokio::time::sleep(delay).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match answer.filter(|_| status.is_success()) {
        Some(json) => {
            let mut r = Response::new(Full::new(Bytes::from(json)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            r
        }
        None => Response::new(Full::new(Bytes::from(
            status.canonical_reason().unwrap_or("").to_owned(),
        ))),
    };
    *response.status_mut() = status;
    response
}

/// Every check a receiver makes, signature first; the status to refuse with and why.
fn check(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(), (StatusCode, String)> {
    if method != Method::POST {
        return Err((StatusCode::METHOD_NOT_ALLOWED, format!("method {method}")));
    }
    let unauthorized = |why: String| (StatusCode::UNAUTHORIZED, why);
    let signature = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized(format!("no {SIGNATURE_HEADER} header")))?
        .to_str()
        .map_err(|_| unauthorized(format!("{SIGNATURE_HEADER} is not ASCII")))?;
    verify_signature(signature, body, secret, now.timestamp()).map_err(unauthorized)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {content_type:?}, not application/json"),
        ));
    }
    let has_event_id = headers
        .get(EVENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|id| !id.trim().is_empty());
    if !has_event_id {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("no {EVENT_ID_HEADER} header"),
        ));
    }
    Ok(())
}

/// Checks a `Hotline-Signature` value against `body` at `now` (unix seconds): exactly
/// one `t=`, at least one `v1=`, `t` within [`TOLERANCE`], and some `v1` equal (in
/// constant time) to HMAC-SHA256 of `"{t}.{body}"` keyed with `secret`. Other keys (a
/// future `v2=`) are ignored. The error says what was wrong.
pub fn verify_signature(header: &str, body: &[u8], secret: &[u8], now: i64) -> Result<(), String> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(format!("malformed signature element {part:?}"));
        };
        match key {
            "t" if timestamp.is_some() => return Err("more than one t=".into()),
            "t" => timestamp = Some(value),
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let t = timestamp.ok_or("no t= in the signature")?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("t={t:?} is not unix seconds"));
    }
    let seconds: i64 = t
        .parse()
        .map_err(|_| format!("t={t:?} is not unix seconds"))?;
    if candidates.is_empty() {
        return Err("no v1= in the signature".into());
    }
    let skew = now.abs_diff(seconds);
    if skew > TOLERANCE.as_secs() {
        return Err(format!(
            "timestamp {seconds} is {skew} s from now, more than {} s",
            TOLERANCE.as_secs()
        ));
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|e| e.to_string())?;
    // The timestamp exactly as sent: it is what was signed.
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut valid = false;
    for candidate in candidates {
        // Every candidate is checked, so timing does not tell which one matched.
        if let Ok(bytes) = hex::decode(candidate) {
            valid |= mac.clone().verify_slice(&bytes).is_ok();
        }
    }
    if valid {
        Ok(())
    } else {
        Err("no v1 signature matches".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    const NOW: i64 = 1_795_210_800;

    #[test]
    fn a_matching_signature_within_the_window_verifies() {
        let v1 = sign("s", NOW - 299, b"{}");
        let header = format!("t={},v1={v1}", NOW - 299);
        assert_eq!(verify_signature(&header, b"{}", b"s", NOW), Ok(()));
    }

    #[test]
    fn uppercase_hex_and_spaces_after_commas_are_tolerated() {
        let v1 = sign("s", NOW, b"x").to_uppercase();
        let header = format!("t={NOW}, v1={v1}");
        assert_eq!(verify_signature(&header, b"x", b"s", NOW), Ok(()));
    }

    #[test]
    fn malformed_headers_say_why() {
        for (header, why) in [
            ("", "malformed"),
            ("v1=00", "no t="),
            (&format!("t={NOW}"), "no v1="),
            (&format!("t={NOW},t={NOW},v1=00"), "more than one"),
            ("t=-5,v1=00", "not unix seconds"),
            (&format!("t={NOW},v1=zz"), "no v1 signature matches"),
        ] {
            let err = verify_signature(header, b"", b"s", NOW).expect_err(header);
            assert!(err.contains(why), "{header:?}: {err}");
        }
    }

    #[test]
    fn a_future_timestamp_is_as_stale_as_a_past_one() {
        let t = NOW + 301;
        let header = format!("t={t},v1={}", sign("s", t, b""));
        let err = verify_signature(&header, b"", b"s", NOW).expect_err("stale");
        assert!(err.contains("301 s"), "{err}");
    }
}
