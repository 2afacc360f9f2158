//! A simulator of OpenAI's Realtime API (GA interface) on a loopback port, faithful on
//! the wire for what hotline uses (see `protocols/openai-realtime.md`): end-to-end tests,
//! the 800-session benchmark and the offline demo talk to it instead of OpenAI.
//!
//! `GET /v1/realtime?model=…` upgrades to a WebSocket (401 with OpenAI's error body
//! when the script expects a key and the `Authorization: Bearer` header lacks it; any
//! status the script says to refuse with). Then, as the real server:
//!
//! - `session.created` first; `session.update` → `session.updated` echoing the whole
//!   merged session (instructions and tools included, however long), or — for anything
//!   but `audio/pcmu` both ways, a voice the API does not have, or a function tool it
//!   would refuse (bad name, duplicate, parameters not an object schema) — an `error`
//!   (`invalid_value` / `invalid_function_parameters`) carrying the `event_id` of the
//!   offending client event, the session keeping its previous configuration.
//! - `input_audio_buffer.append`: base64 µ-law, run through an energy VAD 20 ms at a
//!   time (speech = a frame above [`Script::vad_threshold_dbfs`], -35 dBFS by default).
//!   60 ms of speech → `input_audio_buffer.speech_started` (`audio_start_ms` = onset
//!   minus the prefix padding, 300 ms, floored at 0); `silence_duration_ms` (500) of
//!   non-speech → `speech_stopped` (`audio_end_ms` = the audio position then),
//!   `input_audio_buffer.committed`, `conversation.item.added` (the user item), a
//!   response if `create_response`, and — if the session turned transcription on —
//!   `…input_audio_transcription.delta`/`.completed` with the scripted line
//!   [`Script::transcription_delay`] later. All positions count ms of appended audio,
//!   never the wall clock, so the same audio gives the same events on every run.
//! - A response: `response.created`, `rate_limits.updated`, `response.output_item.added`,
//!   `conversation.item.added`, `response.content_part.added`, then chunks of a 440 Hz
//!   tone as `response.output_audio.delta` (with `response.output_audio_transcript.delta`s
//!   of the scripted line) paced by [`Pace`], then `response.output_audio.done`,
//!   `response.output_audio_transcript.done`, `response.content_part.done`,
//!   `response.output_item.done`, `conversation.item.done`, `response.done` (with usage).
//!   One at a time: `response.create` meanwhile → `error`
//!   `conversation_already_has_active_response`.
//! - Barge-in: speech starting during a response with `interrupt_response` cancels it
//!   (`response.done`, `cancelled`, reason `turn_detected`). `conversation.item.truncate`
//!   → `conversation.item.truncated`, or an `error` past the audio generated.
//! - [`ToolCue`]s replace a response's audio with a `function_call`; the reply after the
//!   client's `function_call_output` logs it as read ([`ResponseLog::tool_output`]). A
//!   reply's transcript is its scripted line alone: like a real agent, the simulator
//!   never reads out instructions or tool output. [`Failure`]s drop or close the
//!   connection, or send an `error`, at a given point of the caller's audio.
//! - Malformed JSON, unknown event types and binary frames get an `error` event; the
//!   session carries on.
//! - [`Script::garbled_response_done`] sends chosen `response.done`s in a shape a
//!   client's parser refuses.
//!
//! Every session is one tokio task owning its socket; the script's reply audio is
//! encoded once and shared. Everything each session received is logged
//! ([`RealtimeSim::sessions`], [`RealtimeSim::wait_for`]).
//!
//! Not simulated: text-only output, `idle_timeout_ms`, the VAD `threshold` (the script's
//! dBFS threshold stands in), out-of-band responses, `conversation.item.retrieve`.
//! Error codes `invalid_json`, `unsupported` and those of unknown items are this
//! simulator's; the others follow the protocol notes.

mod log;
mod script;
mod session;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub use log::{
    FunctionCallLog, LoggedEvent, Received, ResponseLog, SessionEnd, SessionLog, Trigger,
    UtteranceLog,
};
pub use script::{Failure, Pace, Script, ToolCue};

use script::Plan;
use session::{Due, Machine, Out};

use crate::server::{Changes, Server};

/// How long a closing session waits for the client's close frame, and a dropped one
/// for the client to hang up, before the socket goes.
const LINGER: Duration = Duration::from_secs(2);

/// A running simulator. The server and every session stop when this is dropped.
pub struct RealtimeSim {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    /// Owns the session tasks: dropping it ends them all.
    _server: Server,
}

impl std::fmt::Debug for RealtimeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// The script new sessions start under.
    plan: Mutex<Arc<Plan>>,
    /// One log per connection attempt, in order; each locked only by its own session
    /// task and by readers, so sessions never contend with each other.
    sessions: Mutex<Vec<Arc<Mutex<SessionLog>>>>,
    /// Bumped whenever a log changes (appends only while someone waits), so
    /// [`RealtimeSim::wait_for`] wakes.
    changes: Changes,
}

impl Shared {
    fn plan(&self) -> Arc<Plan> {
        Arc::clone(&lock(&self.plan))
    }

    fn bump(&self) {
        self.changes.notify();
    }

    fn logs(&self) -> Vec<Arc<Mutex<SessionLog>>> {
        lock(&self.sessions).clone()
    }

    fn register(&self, upgrade: Upgrade, at: Instant) -> (usize, Arc<Mutex<SessionLog>>) {
        let mut sessions = lock(&self.sessions);
        let index = sessions.len();
        let log = Arc::new(Mutex::new(SessionLog::new(index, upgrade, at)));
        sessions.push(Arc::clone(&log));
        drop(sessions);
        self.bump();
        (index, log)
    }
}

/// A lock that a panicking test thread leaves usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A session's handle on its log.
pub(crate) struct Recorder {
    index: usize,
    log: Arc<Mutex<SessionLog>>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Changes the log and wakes waiters.
    fn update(&self, change: impl FnOnce(&mut SessionLog)) {
        change(&mut lock(&self.log));
        self.shared.bump();
    }

    /// Changes the log, waking waiters only if there are any (the per-frame path).
    fn update_quiet(&self, change: impl FnOnce(&mut SessionLog)) {
        change(&mut lock(&self.log));
        if self.shared.changes.awaited() {
            self.shared.bump();
        }
    }
}

/// What the upgrade request said, and the answer it got.
#[derive(Debug)]
pub(crate) struct Upgrade {
    path: String,
    model: Option<String>,
    bearer_ok: bool,
    openai_beta: Option<String>,
    status: u16,
}

impl RealtimeSim {
    /// Starts a simulator on a free loopback port; sessions follow `script` until
    /// [`Self::set_script`].
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            plan: Mutex::new(Arc::new(Plan::new(script))),
            sessions: Mutex::new(Vec::new()),
            changes: Changes::new(),
        });
        let server = Server::start({
            let shared = Arc::clone(&shared);
            move |stream| connection(stream, Arc::clone(&shared))
        })
        .await?;
        let addr = server.addr();
        Ok(Self {
            addr,
            base_url: format!("http://{addr}/v1"),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:{port}/v1`: what `OPENAI_BASE_URL` should say (clients turn
    /// it into `ws://…/v1/realtime?model=…`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The WebSocket URL for `model`, for clients that take one.
    pub fn realtime_url(&self, model: &str) -> String {
        hotline_realtime::openai::realtime_url(&self.base_url, model)
            .unwrap_or_else(|_| format!("ws://{}/v1/realtime?model={model}", self.addr))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sessions that connect from now on follow `script`; running ones keep theirs.
    pub fn set_script(&self, script: Script) {
        *lock(&self.shared.plan) = Arc::new(Plan::new(script));
    }

    /// Every connection attempt so far (refused ones too), oldest first.
    pub fn sessions(&self) -> Vec<SessionLog> {
        self.shared
            .logs()
            .iter()
            .map(|log| lock(log).clone())
            .collect()
    }

    /// Connection attempt `index` (0-based).
    pub fn session(&self, index: usize) -> Option<SessionLog> {
        let log = lock(&self.shared.sessions).get(index).cloned()?;
        Some(lock(&log).clone())
    }

    /// Sessions upgraded and not yet ended.
    pub fn live_sessions(&self) -> usize {
        self.shared
            .logs()
            .iter()
            .filter(|log| lock(log).is_live())
            .count()
    }

    /// The earliest client event, of any session, that matches — among those already
    /// received or arriving within `timeout`. `None` when none did. Appends are not
    /// events here (see [`SessionLog::appended_bytes`] and [`Self::wait_for_session`]).
    pub async fn wait_for(
        &self,
        matches: impl Fn(&LoggedEvent) -> bool,
        timeout: Duration,
    ) -> Option<LoggedEvent> {
        self.wait(
            |log| log.events.iter().find(|e| matches(e)).cloned(),
            timeout,
        )
        .await
    }

    /// The first session (in [`SessionLog::index`] order) whose log matches, now or
    /// within `timeout`: e.g. "has ended", "received 3 s of audio", "sent 2 responses".
    pub async fn wait_for_session(
        &self,
        matches: impl Fn(&SessionLog) -> bool,
        timeout: Duration,
    ) -> Option<SessionLog> {
        self.wait(|log| matches(log).then(|| log.clone()), timeout)
            .await
    }

    async fn wait<T>(
        &self,
        find: impl Fn(&SessionLog) -> Option<T>,
        timeout: Duration,
    ) -> Option<T> {
        self.shared
            .changes
            .wait_until(
                || self.shared.logs().iter().find_map(|log| find(&lock(log))),
                timeout,
            )
            .await
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(32 * 1024)
        // The API takes up to 15 MiB of audio per append.
        .max_message_size(Some(16 * 1024 * 1024))
        .max_frame_size(Some(16 * 1024 * 1024))
}

/// One connection: the upgrade, then the session until either side ends it.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    // Events are small and latency matters more than packets.
    let _ = stream.set_nodelay(true);
    let plan = shared.plan();
    if !plan.script.connect_delay.is_zero() {
        tokio::time::sleep(plan.script.connect_delay).await;
    }
    let mut upgrade = None;
    let accepted = {
        let (plan, upgrade) = (&plan, &mut upgrade);
        tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            UpgradeCheck {
                plan,
                seen: upgrade,
            },
            Some(ws_config()),
        )
        .await
    };
    // No request at all (a port probe, garbage): nothing to log.
    let Some(upgrade) = upgrade else {
        return;
    };
    let model = upgrade.model.clone().unwrap_or_default();
    let connected = Instant::now();
    let (index, log) = shared.register(upgrade, connected);
    let end = match accepted {
        Ok(ws) => {
            let recorder = Recorder {
                index,
                log: Arc::clone(&log),
                shared: Arc::clone(&shared),
            };
            run(ws, Machine::new(plan, recorder, model, connected)).await
        }
        // Refused on purpose: no session to end.
        Err(_) if lock(&log).status != 101 => return,
        Err(_) => SessionEnd::ClientGone,
    };
    {
        let mut log = lock(&log);
        log.end = Some(end);
        log.ended_at = Some(Instant::now());
    }
    shared.bump();
}

/// Decides the upgrade: the script's refusal, then the path, the key, the model; and
/// notes what the request said in `seen`.
struct UpgradeCheck<'a> {
    plan: &'a Plan,
    seen: &'a mut Option<Upgrade>,
}

impl Callback for UpgradeCheck<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let (upgrade, refusal) = check_upgrade(self.plan, request);
        *self.seen = Some(upgrade);
        match refusal {
            None => Ok(response),
            Some((status, body)) => Err(error_response(status, body)),
        }
    }
}

/// What the request said, and the status and body to refuse it with, if any.
fn check_upgrade(plan: &Plan, request: &Request) -> (Upgrade, Option<(u16, String)>) {
    let path = request.uri().path().to_owned();
    let model = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "model")
            .map(|(_, value)| value.into_owned())
    });
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let bearer = header(AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty());
    let expected = plan.script.api_key.as_deref();
    let bearer_ok = match (expected, bearer) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(got)) => want == got,
    };
    let openai_beta = header("openai-beta").map(str::to_owned);

    let refusal = if let Some(status) = plan.script.refuse {
        Some((status, refusal_body(status)))
    } else if !path.ends_with("/realtime") {
        Some((
            404,
            error_body(
                &format!("Invalid URL (GET {path})"),
                "invalid_request_error",
                None,
                None,
            ),
        ))
    } else if expected.is_some() && !bearer_ok {
        Some((401, unauthorized_body(bearer.is_some())))
    } else if model.as_deref().is_none_or(str::is_empty) {
        Some((
            400,
            error_body(
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                Some("missing_required_parameter"),
                Some("model"),
            ),
        ))
    } else {
        None
    };
    let upgrade = Upgrade {
        path,
        model,
        bearer_ok,
        openai_beta,
        status: refusal.as_ref().map_or(101, |(status, _)| *status),
    };
    (upgrade, refusal)
}

fn error_body(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> String {
    serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    })
    .to_string()
}

fn unauthorized_body(key_sent: bool) -> String {
    if key_sent {
        error_body(
            "Incorrect API key provided. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
        )
    } else {
        error_body(
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
            None,
        )
    }
}

/// OpenAI's error body for a scripted refusal.
fn refusal_body(status: u16) -> String {
    match status {
        401 => unauthorized_body(true),
        429 => error_body(
            "Rate limit reached for requests. Please try again later.",
            "requests",
            Some("rate_limit_exceeded"),
            None,
        ),
        503 => error_body(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            None,
        ),
        500..=599 => error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        _ => error_body(
            "The request was refused.",
            "invalid_request_error",
            None,
            None,
        ),
    }
}

fn error_response(status: u16, body: String) -> ErrorResponse {
    let length = body.len();
    let mut response = ErrorResponse::new(Some(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

type Socket = WebSocketStream<TcpStream>;

/// The session loop: one `select!` over the client's frames, the transcription timer
/// and the reply pacing; everything the machine queues is sent after each input.
async fn run(mut ws: Socket, mut machine: Machine) -> SessionEnd {
    machine.start();
    let mut client_closed = false;
    loop {
        if let Some(end) = deliver(&mut ws, &mut machine.out).await {
            return end;
        }
        let chunk = machine.next_chunk();
        let timer = machine.next_timer();
        tokio::select! {
            // The client first: a barge-in must land before the next chunk goes out.
            biased;
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => machine.on_text(text.as_str(), Instant::now()),
                Some(Ok(Message::Binary(data))) => machine.on_binary(data.len(), Instant::now()),
                // tungstenite answers the close; the next read then ends the stream.
                Some(Ok(Message::Close(_))) => client_closed = true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    return if client_closed {
                        SessionEnd::ClientClosed
                    } else {
                        SessionEnd::ClientGone
                    };
                }
            },
            () = at(timer) => machine.on_timer(Instant::now()),
            () = pace(chunk) => machine.step(Instant::now()),
        }
    }
}

/// Sleeps until `when`; never wakes for `None`.
async fn at(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits for the next chunk's turn; never wakes for `None` (no response speaking).
async fn pace(due: Option<Due>) {
    match due {
        Some(Due::At(when)) => tokio::time::sleep_until(when.into()).await,
        Some(Due::Now) => tokio::task::yield_now().await,
        None => std::future::pending().await,
    }
}

/// Sends what the machine queued; `Some` when the session ends here.
async fn deliver(ws: &mut Socket, out: &mut Vec<Out>) -> Option<SessionEnd> {
    if out.is_empty() {
        return None;
    }
    for item in out.drain(..) {
        match item {
            Out::Text(text) => {
                if ws.feed(Message::text(text)).await.is_err() {
                    return Some(SessionEnd::ClientGone);
                }
            }
            Out::Close => {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "session closed".into(),
                };
                let _ = ws.send(Message::Close(Some(frame))).await;
                // Wait for the client's close frame, as the closing handshake asks.
                let _ = tokio::time::timeout(LINGER, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return Some(SessionEnd::Closed);
            }
            Out::Drop => {
                let _ = ws.flush().await;
                // End TCP without a close frame. Keep reading until the client hangs up:
                // closing a socket with unread input would reset it, and the client
                // could lose the events just sent.
                let stream = ws.get_mut();
                let _ = stream.shutdown().await;
                let mut sink = [0u8; 4096];
                let _ = tokio::time::timeout(LINGER, async {
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                })
                .await;
                return Some(SessionEnd::Dropped);
            }
        }
    }
    if ws.flush().await.is_err() {
        return Some(SessionEnd::ClientGone);
    }
    None
}
