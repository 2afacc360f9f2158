//! A fake of Twilio's REST API (2010-04-01) on a loopback port, faithful on the wire
//! for the resources hotline uses (see `protocols/twilio-rest.md`):
//!
//! | request | answer |
//! |---|---|
//! | `POST /Accounts/{AC}/Calls.json` | 201, Call resource (`queued`, `outbound-api`) |
//! | `GET /Accounts/{AC}/Calls/{CA}.json` | 200, Call resource |
//! | `POST /Accounts/{AC}/Calls/{CA}.json` | 200, Call resource after `Status`/`Url`/`Twiml` |
//! | `GET /Accounts/{AC}/Calls/{CA}/Recordings.json` | 200, one page listing the call's recordings |
//! | `GET /Accounts/{AC}/Recordings/{RE}.json` | 200, Recording resource |
//! | `GET /Accounts/{AC}/Recordings/{RE}.mp3` / `.wav` / no suffix | 200, the media bytes |
//! | `DELETE /Accounts/{AC}/Recordings/{RE}.json` | 204 |
//! | `POST /Accounts/{AC}/Messages.json` | 201, Message resource (`queued`); status callbacks follow (`messages.rs`) |
//! | `GET /Accounts/{AC}/Conferences.json` | 200, the phones' conferences (`FriendlyName`, `Status` filters) |
//! | `GET /Accounts/{AC}/Conferences/{CF}/Participants.json` | 200, who is in the room now |
//!
//! Subaccounts and phone numbers: `twilio_rest/numbers.rs`.
//!
//! Everything else answers 404 (code 20404). Every request must carry HTTP Basic
//! credentials of a registered account ([`FakeTwilio::add_account`]) whose SID is the one
//! in the path, else 401 (or 403 for another account's path), code 20003. Errors are
//! Twilio's JSON: `{"code", "message", "more_info", "status"}`; responses use snake_case
//! keys and RFC 2822 dates, numbers as strings, like the real API.
//!
//! For tests: every request is recorded ([`FakeTwilio::requests`], [`FakeTwilio::wait_for`]),
//! call updates are broadcast ([`FakeTwilio::subscribe`]) so a phone simulator learns it
//! was hung up or redirected, calls can vanish ([`FakeTwilio::mark_gone`]), recordings
//! can answer 404 for a while as Twilio does while it processes them
//! ([`FakeTwilio::add_pending_recording`]), and the next requests can be made to fail
//! ([`FakeTwilio::fail_next`]).
//!
//! Error codes 20404, 20003 and 21220 are Twilio's; those for a create missing `To`,
//! `From` or `Url` (21201, 21213, 21205), for TwiML over 4000 characters (21205) and
//! for an invalid `Status` (20001) are the closest documented ones, not checked against
//! live Twilio.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::server::{self, Server, Shared};

mod messages;
pub use messages::FakeMessage;
mod numbers;
mod outbound;
pub use numbers::{FakeIncomingNumber, FakeSubaccount, openapi_violations, twilio_openapi};
pub use outbound::{Callee, CalleeLog, OutboundTiming};

const API_VERSION: &str = "2010-04-01";
const ACCOUNTS_PREFIX: &str = "/2010-04-01/Accounts/";
/// The simulator's own control route (not Twilio's): `POST` `To` and `Callee` with an
/// account's credentials scripts who answers that number.
pub const SIM_CALLEES: &str = "/_sim/callees";
/// Twilio's limit on inline TwiML, in characters.
const MAX_TWIML: usize = 4000;
/// Call updates kept for a subscriber that lags behind.
const UPDATES_CAPACITY: usize = 256;

/// A running fake. The server stops when this is dropped.
pub struct FakeTwilio {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

/// One request as the fake saw it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, e.g. `/2010-04-01/Accounts/AC…/Calls/CA….json`.
    pub path: String,
    pub query: Option<String>,
    /// The form-encoded body's fields in order, repeated keys kept.
    pub params: Vec<(String, String)>,
    /// The HTTP Basic username (an account SID), when credentials were sent.
    pub auth_user: Option<String>,
    /// The HTTP status the fake answered.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of a form field.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated form field, in order.
    pub fn params_named(&self, key: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A call was hung up or redirected through the API: what a phone simulator on that
/// call needs to know. `status` is the `Status` asked for, `twiml`/`url` the new
/// instructions; those not in the request are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallUpdated {
    pub account_sid: String,
    pub call_sid: String,
    pub status: Option<String>,
    pub twiml: Option<String>,
    pub url: Option<String>,
}

/// A call as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    pub sid: String,
    /// The owning account; `None` for calls from [`FakeTwilio::add_call`], which any
    /// registered account may address.
    pub account: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `completed`, `canceled`, …
    pub status: String,
    /// `inbound` for added calls, `outbound-api` for created ones.
    pub direction: String,
    pub to: String,
    pub from: String,
    /// The TwiML URL from the create or the last redirect.
    pub url: Option<String>,
    /// The inline TwiML from the create or the last update.
    pub twiml: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_events: Vec<String>,
    pub machine_detection: Option<String>,
    /// `AsyncAmdStatusCallback`, when `AsyncAmd=true`.
    pub async_amd_callback: Option<String>,
    /// `Timeout`: how long it may ring.
    pub timeout: Option<Duration>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
}

struct State {
    base_url: String,
    /// Hang-ups and redirects made through the API, for [`FakeTwilio::subscribe`].
    updates: broadcast::Sender<CallUpdated>,
    /// Account SID to auth token.
    accounts: HashMap<String, String>,
    calls: HashMap<String, FakeCall>,
    /// By (account SID, recording SID).
    recordings: HashMap<(String, String), StoredRecording>,
    requests: Vec<RecordedRequest>,
    /// Statuses to answer the next requests with, before anything else is looked at.
    failures: VecDeque<u16>,
    /// Media of every recording nobody added, for a local stack whose calls Twilio would
    /// have recorded ([`FakeTwilio::record_every_call`]).
    any_recording: Option<Vec<u8>>,
    /// Recordings deleted, which stay gone even under `any_recording`.
    deleted: std::collections::HashSet<(String, String)>,
    /// Texts taken through `Messages.json`.
    texts: messages::Texts,
    /// Subaccounts and phone numbers (`numbers.rs`).
    numbers: numbers::NumberState,
    /// Set: created calls are placed, each callee as scripted (`outbound.rs`).
    outbound_timing: Option<OutboundTiming>,
    /// Who answers which number, call after call: each placed call takes the first,
    /// and the last one answers every call after; a person by default.
    callees: HashMap<String, VecDeque<Callee>>,
    /// Placed calls not over yet, and the most there ever were at once.
    live_placed: usize,
    max_live_placed: usize,
    /// What each placed call's callee went through, by CallSid.
    callee_logs: HashMap<String, CalleeLog>,
    /// Calls created by the request being answered, to place once it is.
    to_place: Vec<String>,
    /// Conferences the simulated phones are in (`<Dial><Conference>`).
    conferences: crate::phone::conference::Conferences,
}

struct StoredRecording {
    bytes: Vec<u8>,
    /// The call recorded, when the test said ([`FakeTwilio::add_call_recording`]).
    call: Option<String>,
    /// Media requests still to answer 404, as while Twilio is processing.
    not_found_left: u32,
    created: DateTime<Utc>,
}

impl fmt::Debug for FakeTwilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTwilio")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeTwilio {
    /// Starts a fake on a free loopback port. It knows no accounts yet.
    pub async fn start() -> std::io::Result<Self> {
        let (updates, _) = broadcast::channel(UPDATES_CAPACITY);
        let shared = Arc::new(Shared::new(State {
            // Known once bound, before anybody can know the port.
            base_url: String::new(),
            updates,
            accounts: HashMap::new(),
            calls: HashMap::new(),
            recordings: HashMap::new(),
            requests: Vec::new(),
            failures: VecDeque::new(),
            any_recording: None,
            deleted: Default::default(),
            texts: Default::default(),
            numbers: Default::default(),
            outbound_timing: None,
            callees: HashMap::new(),
            live_placed: 0,
            max_live_placed: 0,
            callee_logs: HashMap::new(),
            to_place: Vec::new(),
            conferences: Default::default(),
        }));
        let server = Server::http(Arc::clone(&shared), handle).await?;
        let base_url = format!("http://{}", server.addr());
        shared.lock().base_url.clone_from(&base_url);
        Ok(Self {
            base_url,
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:{port}`: what `TWILIO_API_BASE_URL` should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Accepts these credentials from now on (replacing the account's token if known).
    pub fn add_account(&self, sid: impl AsRef<str>, token: impl AsRef<str>) {
        self.shared
            .lock()
            .accounts
            .insert(sid.as_ref().to_owned(), token.as_ref().to_owned());
    }

    /// Registers a live inbound call, `in-progress`, addressable from any account.
    pub fn add_call(&self, sid: impl AsRef<str>) {
        let now = Utc::now();
        let sid = sid.as_ref().to_owned();
        self.shared.lock().calls.insert(
            sid.clone(),
            FakeCall {
                sid,
                account: None,
                status: "in-progress".to_owned(),
                direction: "inbound".to_owned(),
                to: String::new(),
                from: String::new(),
                url: None,
                twiml: None,
                status_callback: None,
                status_callback_events: Vec::new(),
                machine_detection: None,
                async_amd_callback: None,
                timeout: None,
                created: now,
                updated: now,
                ended: None,
            },
        );
    }

    /// Sets a call's status, as Twilio would as it rings, connects or ends. Updating a
    /// call that is not `queued`, `ringing` or `in-progress` then answers 400, code 21220.
    pub fn set_call_status(&self, sid: impl AsRef<str>, status: &str) {
        if let Some(call) = self.shared.lock().calls.get_mut(sid.as_ref()) {
            call.status = status.to_owned();
            call.updated = Utc::now();
            if is_final(status) {
                call.ended.get_or_insert(call.updated);
            }
        }
    }

    /// Forgets a call: from now on it answers 404 (code 20404), like a SID Twilio does
    /// not know.
    pub fn mark_gone(&self, sid: impl AsRef<str>) {
        self.shared.lock().calls.remove(sid.as_ref());
    }

    /// The call as the fake holds it now.
    pub fn call(&self, sid: impl AsRef<str>) -> Option<FakeCall> {
        self.shared.lock().calls.get(sid.as_ref()).cloned()
    }

    /// Serves this recording's media (as `.mp3`, `.wav` or bare: the same bytes).
    pub fn add_recording(&self, account: impl AsRef<str>, sid: impl AsRef<str>, bytes: Vec<u8>) {
        self.add_pending_recording(account, sid, bytes, 0);
    }

    /// Like [`Self::add_recording`], but the first `not_found_first` media requests
    /// answer 404, as Twilio does while a recording is still processing.
    pub fn add_pending_recording(
        &self,
        account: impl AsRef<str>,
        sid: impl AsRef<str>,
        bytes: Vec<u8>,
        not_found_first: u32,
    ) {
        self.shared.lock().recordings.insert(
            (account.as_ref().to_owned(), sid.as_ref().to_owned()),
            StoredRecording {
                bytes,
                call: None,
                not_found_left: not_found_first,
                created: Utc::now(),
            },
        );
    }

    /// Like [`Self::add_pending_recording`], for a recording of `call` that the call's
    /// recording list shows (as `processing` while media requests still answer 404).
    pub fn add_call_recording(
        &self,
        account: impl AsRef<str>,
        call: impl AsRef<str>,
        sid: impl AsRef<str>,
        bytes: Vec<u8>,
        not_found_first: u32,
    ) {
        self.shared.lock().recordings.insert(
            (account.as_ref().to_owned(), sid.as_ref().to_owned()),
            StoredRecording {
                bytes,
                call: Some(call.as_ref().to_owned()),
                not_found_left: not_found_first,
                created: Utc::now(),
            },
        );
    }

    /// Serves `media` for every recording SID of a registered account that was never
    /// added, as if Twilio had recorded each call (the local stack's phones report
    /// recordings this fake never saw). Deleted recordings stay deleted.
    pub fn record_every_call(&self, media: Vec<u8>) {
        self.shared.lock().any_recording = Some(media);
    }

    /// Whether the recording exists (was added and not deleted).
    pub fn has_recording(&self, account: impl AsRef<str>, sid: impl AsRef<str>) -> bool {
        self.shared
            .lock()
            .recordings
            .contains_key(&(account.as_ref().to_owned(), sid.as_ref().to_owned()))
    }

    /// Answers the next `count` requests, whatever they are, with `status` and Twilio's
    /// error body: 429 (code 20429, `Retry-After: 1`) or 5xx (code 20500) for retry
    /// tests. They are recorded like any other request.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.shared
            .lock()
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The earliest request so far that matches, or else the first to arrive within
    /// `timeout`; `None` when none did. Looking at past requests too means a test can
    /// never miss one that came in before it started waiting.
    pub async fn wait_for(
        &self,
        matches: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        self.shared
            .wait_until(
                |state| state.requests.iter().find(|r| matches(r)).cloned(),
                timeout,
            )
            .await
    }

    /// Places every call created from now on as Twilio would (`outbound.rs`): status
    /// and answering-machine callbacks, the call's `Url` fetched and its stream played
    /// by the callee its number is scripted as ([`Self::set_callee`]).
    pub fn place_outbound_calls(&self, timing: OutboundTiming) {
        self.shared.lock().outbound_timing = Some(timing);
    }

    /// Who answers calls placed to `to` from now on.
    pub fn set_callee(&self, to: impl AsRef<str>, callee: Callee) {
        self.set_callees(to, &[callee]);
    }

    /// Who answers the next calls placed to `to`, in order: the first call gets
    /// `callees[0]`, …, and the last one answers every call after (busy, then a person:
    /// `[Busy, Human]`).
    pub fn set_callees(&self, to: impl AsRef<str>, callees: &[Callee]) {
        self.shared
            .lock()
            .callees
            .insert(to.as_ref().to_owned(), callees.iter().copied().collect());
    }

    /// The most placed calls that were under way at once (ringing or answered).
    pub fn max_live_calls(&self) -> usize {
        self.shared.lock().max_live_placed
    }

    /// Placed calls under way now.
    pub fn live_calls(&self) -> usize {
        self.shared.lock().live_placed
    }

    /// What the callee of a placed call went through so far.
    pub fn callee_log(&self, sid: impl AsRef<str>) -> Option<CalleeLog> {
        self.shared.lock().callee_logs.get(sid.as_ref()).cloned()
    }

    /// The callee's log once the placed call is over (its last callback sent), or
    /// `None` after `timeout`.
    pub async fn callee_done(&self, sid: impl AsRef<str>, timeout: Duration) -> Option<CalleeLog> {
        let sid = sid.as_ref().to_owned();
        self.shared
            .wait_until(
                |state| state.callee_logs.get(&sid).filter(|l| l.done).cloned(),
                timeout,
            )
            .await
    }

    /// The conferences of this fake's calls: phones given it (`CallSpec::conferences`)
    /// and the calls it places meet in them; `Conferences.json` lists them.
    pub fn conferences(&self) -> crate::phone::conference::Conferences {
        self.shared.lock().conferences.clone()
    }

    /// Call updates from now on: hang-ups and redirects made through the API.
    pub fn subscribe(&self) -> broadcast::Receiver<CallUpdated> {
        self.shared.lock().updates.subscribe()
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let auth = basic_auth(request.headers().get(AUTHORIZATION));
    let body = server::body(request).await;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();

    let (reply, update, updates, to_place) = {
        let mut state = shared.lock();
        let numbers = numbers::respond(
            &mut state,
            &method,
            &path,
            query.as_deref(),
            auth.as_ref(),
            &params,
        );
        let (reply, update) = match numbers {
            Some(reply) => (reply, None),
            None if path == SIM_CALLEES => {
                (state.set_callee_by_request(auth.as_ref(), &params), None)
            }
            None => {
                // A list's filters are in the query string.
                let filters: Vec<(String, String)> = query
                    .as_deref()
                    .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                    .unwrap_or_default();
                let given = if method == "GET" { &filters } else { &params };
                state.respond(&method, &path, auth.as_ref(), given)
            }
        };
        let to_place = std::mem::take(&mut state.to_place);
        state.requests.push(RecordedRequest {
            method,
            path,
            query,
            params,
            auth_user: auth.map(|(user, _)| user),
            status: reply.status.as_u16(),
        });
        (reply, update, state.updates.clone(), to_place)
    };
    shared.notify();
    for sid in to_place {
        outbound::spawn(Arc::clone(&shared), sid);
    }
    if let Some(update) = update {
        // Nobody listening is fine.
        let _ = updates.send(update);
    }
    reply.into_response()
}

/// `(user, password)` from an `Authorization: Basic …` header.
fn basic_auth(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let encoded = header?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn is_final(status: &str) -> bool {
    !matches!(status, "queued" | "ringing" | "in-progress")
}

fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// RFC 2822, as Twilio writes dates: `Tue, 31 Aug 2010 20:36:28 +0000`.
fn date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// `(415) 555-0100` for a North American number, the number itself otherwise.
fn formatted(number: &str) -> String {
    match number.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => number.to_owned(),
    }
}

/// What to answer, before it becomes a hyper response.
struct Reply {
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    retry_after: Option<u64>,
    challenge: bool,
}

impl Reply {
    fn json(status: StatusCode, value: &Value) -> Self {
        Self {
            status,
            content_type: Some("application/json; charset=utf-8"),
            body: value.to_string().into_bytes(),
            retry_after: None,
            challenge: false,
        }
    }

    fn error(status: StatusCode, code: u32, message: &str) -> Self {
        Self::json(
            status,
            &json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status.as_u16(),
            }),
        )
    }

    fn not_found(path: &str) -> Self {
        Self::error(
            StatusCode::NOT_FOUND,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    }

    fn unauthorized(status: StatusCode) -> Self {
        let mut reply = Self::json(
            status,
            &json!({
                "code": 20003,
                "detail": "Your AccountSid or AuthToken was incorrect.",
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": status.as_u16(),
            }),
        );
        reply.challenge = status == StatusCode::UNAUTHORIZED;
        reply
    }

    fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let mut reply = Self::error(status, 20429, "Too Many Requests");
            reply.retry_after = Some(1);
            reply
        } else {
            let message = status.canonical_reason().unwrap_or("Injected failure");
            Self::error(status, 20500, message)
        }
    }

    fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            content_type: None,
            body: Vec::new(),
            retry_after: None,
            challenge: false,
        }
    }

    fn media(content_type: &'static str, bytes: Vec<u8>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: Some(content_type),
            body: bytes,
            retry_after: None,
            challenge: false,
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = self.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.challenge {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

impl State {
    fn respond(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&(String, String)>,
        params: &[(String, String)],
    ) -> (Reply, Option<CallUpdated>) {
        if let Some(status) = self.failures.pop_front() {
            return (Reply::injected(status), None);
        }
        let Some(rest) = path.strip_prefix(ACCOUNTS_PREFIX) else {
            return (Reply::not_found(path), None);
        };
        let (account, resource) = rest.split_once('/').unwrap_or((rest, ""));
        if let Err(reply) = self.authorize(auth, account) {
            return (reply, None);
        }
        let segments: Vec<&str> = resource.split('/').collect();
        let reply = match (method, segments.as_slice()) {
            ("POST", ["Calls.json"]) => self.create_call(account, params),
            ("POST", ["Messages.json"]) => self.create_message(account, params),
            (_, ["Calls", file]) => match (method, file.strip_suffix(".json")) {
                ("GET", Some(sid)) => self.fetch_call(account, sid, path),
                ("POST", Some(sid)) => return self.update_call(account, sid, path, params),
                _ => Reply::not_found(path),
            },
            ("GET", ["Conferences.json"]) => self.list_conferences(account, path, params),
            ("GET", ["Conferences", sid, "Participants.json"]) => {
                self.list_participants(account, sid, path)
            }
            ("GET", ["Calls", call, "Recordings.json"]) => {
                self.list_recordings(account, call, path)
            }
            (_, ["Recordings", file]) => {
                let (sid, ext) = file.split_once('.').unwrap_or((file, ""));
                match (method, ext) {
                    ("GET", "json") => self.fetch_recording(account, sid, path),
                    ("DELETE", "json") => self.delete_recording(account, sid, path),
                    ("GET", "mp3") => self.recording_media(account, sid, "audio/mpeg", path),
                    ("GET", "wav" | "") => self.recording_media(account, sid, "audio/x-wav", path),
                    _ => Reply::not_found(path),
                }
            }
            _ => Reply::not_found(path),
        };
        (reply, None)
    }

    /// `GET Conferences.json` (`FriendlyName`, `Status` filters): the rooms the phones
    /// made, newest first, as Twilio lists them.
    fn list_conferences(&self, account: &str, path: &str, query: &[(String, String)]) -> Reply {
        let name = param(query, "FriendlyName");
        let status = param(query, "Status");
        let mut rooms = self.conferences.all();
        rooms.retain(|r| name.is_none_or(|n| n == r.name) && status.is_none_or(|s| s == r.status));
        rooms.sort_by_key(|r| std::cmp::Reverse(r.created));
        let conferences: Vec<Value> = rooms
            .iter()
            .map(|r| {
                let uri = format!("{ACCOUNTS_PREFIX}{account}/Conferences/{}", r.sid);
                json!({
                    "account_sid": account,
                    "api_version": API_VERSION,
                    "call_sid_ending_conference": null,
                    "date_created": date(r.created),
                    "date_updated": date(r.created),
                    "friendly_name": r.name,
                    "reason_conference_ended": if r.status == "completed" { json!("last-participant-left") } else { Value::Null },
                    "region": "us1",
                    "sid": r.sid,
                    "status": r.status,
                    "subresource_uris": {
                        "participants": format!("{uri}/Participants.json"),
                        "recordings": format!("{uri}/Recordings.json"),
                    },
                    "uri": format!("{uri}.json"),
                })
            })
            .collect();
        page(path, "conferences", conferences)
    }

    /// `GET Conferences/{CF}/Participants.json`: who is in the room now.
    fn list_participants(&self, account: &str, sid: &str, path: &str) -> Reply {
        let Some(room) = self.conferences.all().into_iter().find(|r| r.sid == sid) else {
            return Reply::not_found(path);
        };
        let participants: Vec<Value> = room
            .participants
            .iter()
            .map(|p| {
                json!({
                    "account_sid": account,
                    "call_sid": p.call_sid,
                    "call_sid_to_coach": null,
                    "coaching": false,
                    "conference_sid": room.sid,
                    "date_created": date(room.created),
                    "date_updated": date(room.created),
                    "end_conference_on_exit": p.end_on_exit,
                    "hold": p.hold,
                    "label": null,
                    "muted": false,
                    "queue_time": null,
                    "start_conference_on_enter": p.start_on_enter,
                    "status": "connected",
                    "uri": format!("{ACCOUNTS_PREFIX}{account}/Conferences/{}/Participants/{}.json", room.sid, p.call_sid),
                })
            })
            .collect();
        page(path, "participants", participants)
    }

    /// `POST /_sim/callees`: any registered account's credentials, `To`, `Callee` (one,
    /// or several comma-separated: the next calls' callees in order, the last repeating).
    fn set_callee_by_request(
        &mut self,
        auth: Option<&(String, String)>,
        params: &[(String, String)],
    ) -> Reply {
        let known = auth.is_some_and(|(user, password)| self.accounts.get(user) == Some(password));
        if !known {
            return Reply::unauthorized(StatusCode::UNAUTHORIZED);
        }
        let callees: Option<VecDeque<Callee>> = param(params, "Callee")
            .map(|c| c.split(',').map(|one| Callee::parse(one.trim())).collect())
            .and_then(|all: Option<VecDeque<Callee>>| all.filter(|a| !a.is_empty()));
        let (Some(to), Some(callees)) = (param(params, "To"), callees) else {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                20001,
                "To and Callee (human, declines, voicemail, busy, no-answer, fax; several comma-separated) are required",
            );
        };
        self.callees.insert(to.to_owned(), callees);
        Reply::no_content()
    }

    fn authorize(&self, auth: Option<&(String, String)>, account: &str) -> Result<(), Reply> {
        let Some((user, password)) = auth else {
            return Err(Reply::unauthorized(StatusCode::UNAUTHORIZED));
        };
        if self.accounts.get(user) != Some(password) {
            return Err(Reply::unauthorized(StatusCode::UNAUTHORIZED));
        }
        if user != account {
            return Err(Reply::unauthorized(StatusCode::FORBIDDEN));
        }
        Ok(())
    }

    /// The call, if it exists and this account may address it.
    fn call_mut(&mut self, account: &str, sid: &str) -> Option<&mut FakeCall> {
        self.calls
            .get_mut(sid)
            .filter(|c| c.account.as_deref().is_none_or(|a| a == account))
    }

    fn create_call(&mut self, account: &str, params: &[(String, String)]) -> Reply {
        let bad = |code, message| Reply::error(StatusCode::BAD_REQUEST, code, message);
        let Some(to) = param(params, "To") else {
            return bad(21201, "No 'To' number is specified");
        };
        let Some(from) = param(params, "From") else {
            return bad(21213, "No 'From' number is specified");
        };
        let url = param(params, "Url");
        let twiml = param(params, "Twiml");
        if url.is_none() && twiml.is_none() && param(params, "ApplicationSid").is_none() {
            return bad(21205, "Url parameter is required");
        }
        if twiml.is_some_and(|t| t.chars().count() > MAX_TWIML) {
            return bad(21205, "Twiml may not exceed 4000 characters");
        }
        let now = Utc::now();
        let call = FakeCall {
            sid: new_sid("CA"),
            account: Some(account.to_owned()),
            status: "queued".to_owned(),
            direction: "outbound-api".to_owned(),
            to: to.to_owned(),
            from: from.to_owned(),
            url: url.map(str::to_owned),
            // "If both twiml and url are provided then twiml will be ignored."
            twiml: if url.is_some() {
                None
            } else {
                twiml.map(str::to_owned)
            },
            status_callback: param(params, "StatusCallback").map(str::to_owned),
            status_callback_events: params
                .iter()
                .filter(|(k, _)| k == "StatusCallbackEvent")
                .map(|(_, v)| v.clone())
                .collect(),
            machine_detection: param(params, "MachineDetection").map(str::to_owned),
            async_amd_callback: param(params, "AsyncAmdStatusCallback")
                .filter(|_| param(params, "AsyncAmd") == Some("true"))
                .map(str::to_owned),
            timeout: param(params, "Timeout")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs),
            created: now,
            updated: now,
            ended: None,
        };
        let reply = Reply::json(StatusCode::CREATED, &call_json(&call, account));
        if self.outbound_timing.is_some() {
            self.to_place.push(call.sid.clone());
        }
        self.calls.insert(call.sid.clone(), call);
        reply
    }

    fn fetch_call(&mut self, account: &str, sid: &str, path: &str) -> Reply {
        match self.call_mut(account, sid) {
            Some(call) => Reply::json(StatusCode::OK, &call_json(call, account)),
            None => Reply::not_found(path),
        }
    }

    fn update_call(
        &mut self,
        account: &str,
        sid: &str,
        path: &str,
        params: &[(String, String)],
    ) -> (Reply, Option<CallUpdated>) {
        let bad = |code, message| (Reply::error(StatusCode::BAD_REQUEST, code, message), None);
        let Some(call) = self.call_mut(account, sid) else {
            return (Reply::not_found(path), None);
        };
        let status = param(params, "Status");
        let url = param(params, "Url");
        let twiml = param(params, "Twiml");
        if status.is_some_and(|s| !matches!(s, "completed" | "canceled")) {
            return bad(20001, "Status must be one of completed, canceled");
        }
        if twiml.is_some_and(|t| t.chars().count() > MAX_TWIML) {
            return bad(21205, "Twiml may not exceed 4000 characters");
        }
        if is_final(&call.status) {
            return bad(21220, "Call is not in-progress. Cannot redirect.");
        }
        let now = Utc::now();
        let mut update = CallUpdated {
            account_sid: account.to_owned(),
            call_sid: call.sid.clone(),
            status: None,
            twiml: None,
            url: None,
        };
        if let Some(status) = status {
            // `completed` ends a live call and cancels one still ringing; `canceled`
            // only reaches calls that have not connected.
            let ringing = matches!(call.status.as_str(), "queued" | "ringing");
            match (status, ringing) {
                (_, true) => call.status = "canceled".to_owned(),
                ("completed", false) => call.status = "completed".to_owned(),
                _ => {}
            }
            if is_final(&call.status) {
                call.ended = Some(now);
            }
            update.status = Some(status.to_owned());
        } else if let Some(url) = url {
            call.url = Some(url.to_owned());
            call.twiml = None;
            update.url = Some(url.to_owned());
        } else if let Some(twiml) = twiml {
            call.twiml = Some(twiml.to_owned());
            update.twiml = Some(twiml.to_owned());
        }
        call.updated = now;
        let reply = Reply::json(StatusCode::OK, &call_json(call, account));
        let changed = update.status.is_some() || update.url.is_some() || update.twiml.is_some();
        (reply, changed.then_some(update))
    }

    /// The stored recording, made up on first sight under `any_recording`.
    fn recording(&mut self, account: &str, sid: &str) -> Option<&mut StoredRecording> {
        let key = (account.to_owned(), sid.to_owned());
        if !self.recordings.contains_key(&key)
            && !self.deleted.contains(&key)
            && let Some(bytes) = &self.any_recording
        {
            let recording = StoredRecording {
                bytes: bytes.clone(),
                call: None,
                not_found_left: 0,
                created: Utc::now(),
            };
            self.recordings.insert(key.clone(), recording);
        }
        self.recordings.get_mut(&key)
    }

    fn recording_media(
        &mut self,
        account: &str,
        sid: &str,
        content_type: &'static str,
        path: &str,
    ) -> Reply {
        let Some(recording) = self.recording(account, sid) else {
            return Reply::not_found(path);
        };
        if recording.not_found_left > 0 {
            recording.not_found_left -= 1;
            return Reply::not_found(path);
        }
        Reply::media(content_type, recording.bytes.clone())
    }

    fn fetch_recording(&mut self, account: &str, sid: &str, path: &str) -> Reply {
        let base_url = self.base_url.clone();
        let Some(recording) = self.recording(account, sid) else {
            return Reply::not_found(path);
        };
        Reply::json(
            StatusCode::OK,
            &recording_json(&base_url, account, sid, recording),
        )
    }

    fn list_recordings(&mut self, account: &str, call: &str, path: &str) -> Reply {
        let mut listed: Vec<(&(String, String), &StoredRecording)> = self
            .recordings
            .iter()
            .filter(|((acct, _), r)| acct == account && r.call.as_deref() == Some(call))
            .collect();
        // Twilio lists the newest first.
        listed.sort_by_key(|(_, r)| std::cmp::Reverse(r.created));
        let recordings: Vec<Value> = listed
            .into_iter()
            .map(|((_, sid), r)| recording_json(&self.base_url, account, sid, r))
            .collect();
        let uri = path;
        Reply::json(
            StatusCode::OK,
            &json!({
                "recordings": recordings,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": recordings.len().saturating_sub(1),
                "first_page_uri": format!("{uri}?PageSize=50&Page=0"),
                "next_page_uri": null,
                "previous_page_uri": null,
                "uri": format!("{uri}?PageSize=50&Page=0"),
            }),
        )
    }

    fn delete_recording(&mut self, account: &str, sid: &str, path: &str) -> Reply {
        self.recording(account, sid);
        let key = (account.to_owned(), sid.to_owned());
        match self.recordings.remove(&key) {
            Some(_) => {
                self.deleted.insert(key);
                Reply::no_content()
            }
            None => Reply::not_found(path),
        }
    }
}

/// One page of a list, as Twilio pages them (everything on page 0 here).
fn page(path: &str, key: &str, items: Vec<Value>) -> Reply {
    let end = items.len().saturating_sub(1);
    Reply::json(
        StatusCode::OK,
        &json!({
            key: items,
            "page": 0,
            "page_size": 50,
            "start": 0,
            "end": end,
            "first_page_uri": format!("{path}?PageSize=50&Page=0"),
            "next_page_uri": null,
            "previous_page_uri": null,
            "uri": format!("{path}?PageSize=50&Page=0"),
        }),
    )
}

/// The Recording resource, keys as Twilio sends them.
fn recording_json(base_url: &str, account: &str, sid: &str, recording: &StoredRecording) -> Value {
    let status = if recording.not_found_left > 0 {
        "processing"
    } else {
        "completed"
    };
    let uri = format!("{ACCOUNTS_PREFIX}{account}/Recordings/{sid}");
    json!({
        "account_sid": account,
        "api_version": API_VERSION,
        "call_sid": recording.call,
        "conference_sid": null,
        "channels": 1,
        "date_created": date(recording.created),
        "date_updated": date(recording.created),
        "start_time": date(recording.created),
        "price": null,
        "price_unit": "USD",
        "duration": if status == "completed" { "1" } else { "-1" },
        "sid": sid,
        "source": "StartCallRecordingAPI",
        "status": status,
        "error_code": null,
        "encryption_details": null,
        "track": "both",
        "uri": format!("{uri}.json"),
        "subresource_uris": {
            "add_on_results": format!("{uri}/AddOnResults.json"),
            "transcriptions": format!("{uri}/Transcriptions.json"),
        },
        "media_url": format!("{base_url}{uri}"),
    })
}

/// The Call resource, keys as Twilio sends them.
fn call_json(call: &FakeCall, account: &str) -> Value {
    let uri = format!("{ACCOUNTS_PREFIX}{account}/Calls/{}", call.sid);
    let sub = |name: &str| format!("{uri}/{name}.json");
    let started =
        (call.status != "queued" && call.status != "ringing" && call.status != "canceled")
            .then_some(call.created);
    let duration = match (started, call.ended) {
        (Some(start), Some(end)) => Some((end - start).num_seconds().max(0).to_string()),
        _ => None,
    };
    json!({
        "account_sid": account,
        "answered_by": null,
        "api_version": API_VERSION,
        "caller_name": null,
        "date_created": date(call.created),
        "date_updated": date(call.updated),
        "direction": call.direction,
        "duration": duration,
        "end_time": call.ended.map(date),
        "forwarded_from": null,
        "from": call.from,
        "from_formatted": formatted(&call.from),
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": null,
        "price": null,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": started.map(date),
        "status": call.status,
        "subresource_uris": {
            "notifications": sub("Notifications"),
            "recordings": sub("Recordings"),
            "payments": sub("Payments"),
            "events": sub("Events"),
            "siprec": sub("Siprec"),
            "streams": sub("Streams"),
            "transcriptions": sub("Transcriptions"),
            "user_defined_message_subscriptions": sub("UserDefinedMessageSubscriptions"),
            "user_defined_messages": sub("UserDefinedMessages"),
        },
        "to": call.to,
        "to_formatted": formatted(&call.to),
        "trunk_sid": null,
        "uri": format!("{uri}.json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::model::RecordingStatus;
    use hotline_core::{AccountSid, CallSid, E164, Party, RecordingSid};
    use hotline_twilio::rest::{
        CallEvent, CallUpdate, CreateCall, MachineDetection, RecordingFormat, RestError,
        TwilioClient,
    };
    use secrecy::SecretString;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const OTHER_ACCOUNT: &str = "AC00000000000000000000000000000002";
    const TOKEN: &str = "test-auth-token";
    const CALL: &str = "CA0123456789abcdef0123456789abcdef";
    const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";
    const WAIT: Duration = Duration::from_secs(5);

    struct Setup {
        fake: FakeTwilio,
        client: TwilioClient,
        account: AccountSid,
        token: SecretString,
    }

    async fn setup() -> Setup {
        let fake = FakeTwilio::start().await.expect("start the fake");
        fake.add_account(ACCOUNT, TOKEN);
        fake.add_account(OTHER_ACCOUNT, "other-token");
        let client = TwilioClient::new(fake.base_url(), reqwest::Client::new());
        Setup {
            fake,
            client,
            account: AccountSid::parse(ACCOUNT).expect("valid"),
            token: SecretString::from(TOKEN),
        }
    }

    fn call_sid() -> CallSid {
        CallSid::parse(CALL).expect("valid")
    }

    fn recording_sid() -> RecordingSid {
        RecordingSid::parse(RECORDING).expect("valid")
    }

    #[tokio::test]
    async fn hangup_completes_the_call_and_tells_subscribers() {
        let s = setup().await;
        s.fake.add_call(CALL);
        let mut updates = s.fake.subscribe();

        s.client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect("hang up");

        let call = s.fake.call(CALL).expect("call known");
        assert_eq!(call.status, "completed");
        let update = updates.recv().await.expect("an update");
        assert_eq!(update.call_sid, CALL);
        assert_eq!(update.status.as_deref(), Some("completed"));
        assert_eq!(update.twiml, None);

        let requests = s.fake.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json")
        );
        assert_eq!(
            r.params,
            vec![("Status".to_owned(), "completed".to_owned())]
        );
        assert_eq!(r.auth_user.as_deref(), Some(ACCOUNT));
        assert_eq!(r.status, 200);
    }

    #[tokio::test]
    async fn twiml_redirects_the_call_and_is_broadcast() {
        let s = setup().await;
        s.fake.add_call(CALL);
        let mut updates = s.fake.subscribe();
        let twiml =
            r#"<Response><Dial><Conference beep="false">xfer-1</Conference></Dial></Response>"#;

        s.client
            .update_call(
                &s.account,
                &s.token,
                &call_sid(),
                &CallUpdate::Twiml(twiml.to_owned()),
            )
            .await
            .expect("redirect");

        let update = updates.recv().await.expect("an update");
        assert_eq!(update.twiml.as_deref(), Some(twiml));
        assert_eq!(update.status, None);
        let call = s.fake.call(CALL).expect("call known");
        assert_eq!(call.status, "in-progress");
        assert_eq!(call.twiml.as_deref(), Some(twiml));
        let r = s
            .fake
            .wait_for(|r| r.param("Twiml").is_some(), WAIT)
            .await
            .expect("request recorded");
        assert_eq!(r.param("Twiml"), Some(twiml), "form encoding round-trips");
    }

    #[tokio::test]
    async fn a_url_redirect_posts_url_and_method() {
        let s = setup().await;
        s.fake.add_call(CALL);
        let mut updates = s.fake.subscribe();
        let url = "https://api.example.com/twilio/voice?resume=1&x=a b";

        s.client
            .update_call(
                &s.account,
                &s.token,
                &call_sid(),
                &CallUpdate::Redirect {
                    url: url.to_owned(),
                },
            )
            .await
            .expect("redirect");

        let update = updates.recv().await.expect("an update");
        assert_eq!(update.url.as_deref(), Some(url));
        let r = &s.fake.requests()[0];
        assert_eq!(r.param("Url"), Some(url));
        assert_eq!(r.param("Method"), Some("POST"));
    }

    #[tokio::test]
    async fn updating_a_gone_or_unknown_call_is_not_found() {
        let s = setup().await;
        s.fake.add_call(CALL);
        s.fake.mark_gone(CALL);

        let err = s
            .client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect_err("the call is gone");
        assert!(
            matches!(
                err,
                RestError::NotFound {
                    code: Some(20404),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(s.fake.requests()[0].status, 404);
    }

    #[tokio::test]
    async fn updating_an_ended_call_is_rejected_with_21220() {
        let s = setup().await;
        s.fake.add_call(CALL);
        s.client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect("first hangup");

        let err = s
            .client
            .update_call(
                &s.account,
                &s.token,
                &call_sid(),
                &CallUpdate::Twiml("<Response/>".to_owned()),
            )
            .await
            .expect_err("call already completed");
        assert!(
            matches!(
                err,
                RestError::Rejected {
                    status: 400,
                    code: Some(21220),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn bad_credentials_are_auth_errors() {
        let s = setup().await;
        s.fake.add_call(CALL);

        let wrong_token = SecretString::from("not-the-token");
        let err = s
            .client
            .update_call(&s.account, &wrong_token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect_err("wrong token");
        assert!(
            matches!(
                err,
                RestError::Auth {
                    status: 401,
                    code: Some(20003),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert!(
            !err.to_string().contains("not-the-token"),
            "the token never shows"
        );

        let unknown = AccountSid::parse("AC0000000000000000000000000000dead").expect("valid");
        let err = s
            .client
            .update_call(&unknown, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect_err("unknown account");
        assert!(
            matches!(err, RestError::Auth { status: 401, .. }),
            "{err:?}"
        );

        // Valid credentials, but for another account than the one in the path.
        let raw = reqwest::Client::new()
            .post(format!(
                "{}/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json",
                s.fake.base_url()
            ))
            .basic_auth(OTHER_ACCOUNT, Some("other-token"))
            .form(&[("Status", "completed")])
            .send()
            .await
            .expect("response");
        assert_eq!(raw.status(), 403);
        assert_eq!(s.fake.call(CALL).expect("known").status, "in-progress");
    }

    #[tokio::test]
    async fn a_missing_authorization_header_gets_a_challenge() {
        let s = setup().await;
        let response = reqwest::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json",
                s.fake.base_url()
            ))
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], 20003);
        assert_eq!(body["status"], 401);
        assert_eq!(s.fake.requests()[0].auth_user, None);
    }

    #[tokio::test]
    async fn recording_every_call_serves_unknown_recordings_until_deleted() {
        let s = setup().await;
        let audio = crate::recording::silent_mp3(Duration::from_secs(2));
        s.fake.record_every_call(audio.clone());
        let got = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Mp3)
            .await
            .expect("made up on first sight");
        assert_eq!(got, audio);
        s.client
            .delete_recording(&s.account, &s.token, &recording_sid())
            .await
            .expect("delete");
        let err = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Mp3)
            .await
            .expect_err("deleted stays deleted");
        assert!(matches!(err, RestError::NotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_calls_recordings_are_listed_with_their_status_and_only_its_own() {
        let s = setup().await;
        let empty = s
            .client
            .list_call_recordings(&s.account, &s.token, &call_sid())
            .await
            .expect("list");
        assert!(empty.is_empty());
        s.fake
            .add_call_recording(ACCOUNT, CALL, RECORDING, b"ID3".to_vec(), 1);
        let other = "RE00000000000000000000000000000009";
        s.fake.add_call_recording(
            ACCOUNT,
            "CA00000000000000000000000000000009",
            other,
            b"ID3".to_vec(),
            0,
        );
        let listed = s
            .client
            .list_call_recordings(&s.account, &s.token, &call_sid())
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sid, recording_sid());
        assert_eq!(listed[0].status, RecordingStatus::Processing);
        assert_eq!(listed[0].duration_secs, None, "-1 while processing");
        // Once the media is there, the list says so.
        let _ = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Mp3)
            .await;
        let listed = s
            .client
            .list_call_recordings(&s.account, &s.token, &call_sid())
            .await
            .expect("list");
        assert_eq!(listed[0].status, RecordingStatus::Completed);
        assert_eq!(listed[0].duration_secs, Some(1));
        let raw = s.fake.requests();
        let list = raw.last().expect("request");
        assert_eq!(
            list.path,
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}/Recordings.json")
        );
    }

    #[tokio::test]
    async fn a_recording_is_not_found_while_processing_then_downloads() {
        let s = setup().await;
        let audio = b"ID3 fake mp3 bytes".to_vec();
        s.fake
            .add_pending_recording(ACCOUNT, RECORDING, audio.clone(), 2);

        for attempt in 0..2 {
            let err = s
                .client
                .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Mp3)
                .await
                .expect_err("still processing");
            assert!(
                matches!(err, RestError::NotFound { .. }),
                "attempt {attempt}: {err:?}"
            );
        }
        let bytes = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Mp3)
            .await
            .expect("ready now");
        assert_eq!(bytes, audio);

        let wav = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Wav)
            .await
            .expect("wav too");
        assert_eq!(wav, audio);

        let paths: Vec<(String, u16)> = s
            .fake
            .requests()
            .into_iter()
            .map(|r| (r.path, r.status))
            .collect();
        let mp3 = format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}.mp3");
        let wav = format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}.wav");
        assert_eq!(
            paths,
            vec![
                (mp3.clone(), 404),
                (mp3.clone(), 404),
                (mp3, 200),
                (wav, 200)
            ]
        );
    }

    #[tokio::test]
    async fn a_deleted_recording_is_gone() {
        let s = setup().await;
        s.fake.add_recording(ACCOUNT, RECORDING, vec![1, 2, 3]);
        // Another account cannot see it.
        assert!(!s.fake.has_recording(OTHER_ACCOUNT, RECORDING));

        s.client
            .delete_recording(&s.account, &s.token, &recording_sid())
            .await
            .expect("delete");
        assert!(!s.fake.has_recording(ACCOUNT, RECORDING));
        assert_eq!(s.fake.requests()[0].method, "DELETE");
        assert_eq!(s.fake.requests()[0].status, 204);

        let again = s
            .client
            .delete_recording(&s.account, &s.token, &recording_sid())
            .await
            .expect_err("already deleted");
        assert!(matches!(again, RestError::NotFound { .. }));
        let download = s
            .client
            .download_recording(&s.account, &s.token, &recording_sid(), RecordingFormat::Wav)
            .await
            .expect_err("no media");
        assert!(matches!(download, RestError::NotFound { .. }));
    }

    #[tokio::test]
    async fn create_call_returns_the_new_sid_and_sends_every_field() {
        let s = setup().await;
        let mut call = CreateCall::new(
            Party::parse("+14155550100").expect("valid"),
            E164::parse("+14155550199").expect("valid"),
            "https://api.example.com/twilio/voice?lead=l1",
        );
        call.status_callback = Some("https://api.example.com/twilio/status".to_owned());
        call.status_callback_events = vec![
            CallEvent::Initiated,
            CallEvent::Ringing,
            CallEvent::Answered,
            CallEvent::Completed,
        ];
        call.machine_detection = Some(MachineDetection::Enable);

        let sid = s
            .client
            .create_call(&s.account, &s.token, &call)
            .await
            .expect("created");

        let held = s.fake.call(sid.as_str()).expect("the fake holds it");
        assert_eq!(held.status, "queued");
        assert_eq!(held.direction, "outbound-api");
        assert_eq!(held.to, "+14155550100");
        assert_eq!(held.from, "+14155550199");
        assert_eq!(
            held.url.as_deref(),
            Some("https://api.example.com/twilio/voice?lead=l1")
        );
        assert_eq!(
            held.status_callback_events,
            ["initiated", "ringing", "answered", "completed"]
        );
        assert_eq!(held.machine_detection.as_deref(), Some("Enable"));
        assert_eq!(held.account.as_deref(), Some(ACCOUNT));

        let r = s
            .fake
            .wait_for(|r| r.path.ends_with("/Calls.json"), WAIT)
            .await
            .expect("recorded");
        assert_eq!(r.status, 201);
        assert_eq!(r.params_named("StatusCallbackEvent").len(), 4);
        assert_eq!(r.param("To"), Some("+14155550100"));
    }

    #[tokio::test]
    async fn the_call_resource_has_twilios_shape() {
        let s = setup().await;
        let response = reqwest::Client::new()
            .post(format!(
                "{}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
                s.fake.base_url()
            ))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(&[
                ("To", "+14155550100"),
                ("From", "+14155550199"),
                ("Twiml", "<Response><Say>Hi</Say></Response>"),
            ])
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        let sid = body["sid"].as_str().expect("sid");
        assert!(CallSid::parse(sid).is_ok(), "{sid}");
        assert_eq!(body["account_sid"], ACCOUNT);
        assert_eq!(body["to_formatted"], "(415) 555-0100");
        assert_eq!(body["api_version"], "2010-04-01");
        assert_eq!(
            body["uri"],
            format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json")
        );
        let created = body["date_created"].as_str().expect("date");
        assert!(
            DateTime::parse_from_rfc2822(created).is_ok(),
            "RFC 2822 date: {created}"
        );
        assert!(body["subresource_uris"]["recordings"].is_string());
    }

    #[tokio::test]
    async fn a_create_without_to_is_rejected_with_twilios_code() {
        let s = setup().await;
        let response = reqwest::Client::new()
            .post(format!(
                "{}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
                s.fake.base_url()
            ))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(&[("From", "+14155550199"), ("Url", "https://x.example/v")])
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], 21201);
        assert_eq!(
            body["more_info"],
            "https://www.twilio.com/docs/errors/21201"
        );
    }

    #[tokio::test]
    async fn injected_failures_are_retryable_then_the_request_succeeds() {
        let s = setup().await;
        s.fake.add_call(CALL);
        s.fake.fail_next(1, 429);
        s.fake.fail_next(1, 503);

        let first = s
            .client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect_err("rate limited");
        assert!(
            matches!(
                first,
                RestError::RateLimited {
                    retry_after: Some(d)
                } if d == Duration::from_secs(1)
            ),
            "{first:?}"
        );
        assert!(first.is_retryable());

        let second = s
            .client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect_err("server error");
        assert!(
            matches!(second, RestError::Server { status: 503, .. }),
            "{second:?}"
        );
        assert!(second.is_retryable());

        s.client
            .update_call(&s.account, &s.token, &call_sid(), &CallUpdate::Hangup)
            .await
            .expect("third time lucky");
        assert_eq!(s.fake.call(CALL).expect("known").status, "completed");
    }

    #[tokio::test]
    async fn an_unreachable_api_is_a_retryable_network_error() {
        let port = crate::moto::free_port().expect("a free port");
        let client = TwilioClient::new(&format!("http://127.0.0.1:{port}"), reqwest::Client::new());
        let err = client
            .update_call(
                &AccountSid::parse(ACCOUNT).expect("valid"),
                &SecretString::from(TOKEN),
                &call_sid(),
                &CallUpdate::Hangup,
            )
            .await
            .expect_err("nobody listens");
        assert!(matches!(err, RestError::Network(_)), "{err:?}");
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn wait_for_sees_past_and_future_requests_and_times_out() {
        let s = setup().await;
        s.fake.add_call(CALL);
        assert!(
            s.fake
                .wait_for(|_| true, Duration::from_millis(50))
                .await
                .is_none(),
            "nothing yet"
        );

        let waiter = s
            .fake
            .wait_for(|r| r.param("Status") == Some("completed"), WAIT);
        let sid = call_sid();
        let hangup = s
            .client
            .update_call(&s.account, &s.token, &sid, &CallUpdate::Hangup);
        let (seen, result) = tokio::join!(waiter, hangup);
        result.expect("hang up");
        assert_eq!(seen.expect("seen while waiting").status, 200);

        // Already recorded: found at once.
        let past = s
            .fake
            .wait_for(
                |r| r.path.ends_with(&format!("{CALL}.json")),
                Duration::ZERO,
            )
            .await;
        assert!(past.is_some());
    }

    #[test]
    fn dates_are_rfc_2822_with_a_utc_offset() {
        let at = DateTime::parse_from_rfc3339("2010-08-31T20:36:28Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(date(at), "Tue, 31 Aug 2010 20:36:28 +0000");
        assert_eq!(formatted("+14158675309"), "(415) 867-5309");
        assert_eq!(formatted("+442071838750"), "+442071838750");
        assert_eq!(formatted("client:alice"), "client:alice");
    }

    /// The keys of the spec's schema `name` (`components.schemas`).
    fn schema_keys(name: &str) -> Vec<String> {
        let spec = twilio_openapi();
        let mut keys: Vec<String> = spec["components"]["schemas"][name]["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn conferences_and_participants_are_listed_as_twilio_describes_them() {
        let s = setup().await;
        let rooms = s.fake.conferences();
        rooms.join(
            "xfer-CA1",
            "CA0000000000000000000000000000000a",
            false,
            true,
        );
        rooms.join("other", "CA0000000000000000000000000000000c", true, false);
        let http = reqwest::Client::new();
        let list = format!(
            "{}{ACCOUNTS_PREFIX}{ACCOUNT}/Conferences.json",
            s.fake.base_url()
        );
        let get = |url: String| http.get(url).basic_auth(ACCOUNT, Some(TOKEN)).send();
        let page: Value = get(format!("{list}?FriendlyName=xfer-CA1&Status=init"))
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let found = page["conferences"].as_array().expect("conferences");
        assert_eq!(found.len(), 1, "{page}");
        assert_eq!(keys(&found[0]), schema_keys("api.v2010.account.conference"));
        assert_eq!(found[0]["status"], "init");
        let sid = found[0]["sid"].as_str().expect("sid").to_owned();
        assert!(sid.starts_with("CF"));

        rooms.join("xfer-CA1", "CA0000000000000000000000000000000b", true, true);
        let url = format!(
            "{}{ACCOUNTS_PREFIX}{ACCOUNT}/Conferences/{sid}/Participants.json",
            s.fake.base_url()
        );
        let page: Value = get(url).await.expect("list").json().await.expect("json");
        let people = page["participants"].as_array().expect("participants");
        assert_eq!(people.len(), 2, "{page}");
        assert_eq!(
            keys(&people[0]),
            schema_keys("api.v2010.account.conference.participant")
        );
        assert_eq!(people[0]["hold"], false, "the room started: nobody on hold");
        assert_eq!(people[1]["start_conference_on_enter"], true);
        // Another account's credentials on this account's path are refused.
        let other = http
            .get(format!(
                "{}{ACCOUNTS_PREFIX}{ACCOUNT}/Conferences.json",
                s.fake.base_url()
            ))
            .basic_auth(OTHER_ACCOUNT, Some("other-token"))
            .send()
            .await
            .expect("list");
        assert_eq!(other.status(), 403);
        // The requests themselves are the spec's.
        let spec = twilio_openapi();
        for request in s.fake.requests().iter().filter(|r| r.status == 200) {
            assert!(openapi_violations(&spec, request).is_empty(), "{request:?}");
        }
    }
}
