//! A simulator of Deepgram's live transcription socket (`/v1/listen`, Nova) on a
//! loopback port, faithful on the wire for what hotline uses (`protocols/deepgram.md`
//! §2; `tests/deepgram_python.py` runs the `deepgram-sdk` types over what it sends).
//!
//! `GET /v1/listen?…` upgrades with `Authorization: Token <key>`; a wrong key is HTTP
//! 401 with Deepgram's legacy error body, a bad query 400, a scripted refusal its
//! status. The query must say `encoding=mulaw&sample_rate=8000` (what a Twilio stream
//! is). Then, as the real service:
//!
//! - binary frames are audio (µ-law 8 kHz); they run through an energy VAD 20 ms at a
//!   time. What the caller "says" is scripted ([`Script::heard`], one line per
//!   utterance). Speech onset sends `SpeechStarted` (with `vad_events=true`); while the
//!   caller speaks an interim `Results` (`is_final: false`) every 200 ms carries more of
//!   the line (with `interim_results=true`); `endpointing` ms of silence sends the final
//!   `Results` (`is_final`, `speech_final`), and `utterance_end_ms` later an
//!   `UtteranceEnd`.
//! - text frames: `KeepAlive` (no answer), `Finalize` (the pending words as a final
//!   result with `from_finalize: true`), `CloseStream` (final words, `Metadata`, close
//!   1000). A text frame that is not one of these gets an `Error` message.
//! - no audio and no `KeepAlive` for 10 s closes with 1011 `NET-0001`.
//! - [`Failure`]s drop the connection or close it at a point of the caller's audio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::http::header::{CONTENT_TYPE, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::server::{Server, Shared};

/// The live transcription path.
pub const LISTEN_PATH: &str = "/v1/listen";
/// µ-law at 8 kHz: bytes in a 20 ms frame.
const FRAME_BYTES: usize = 160;
const SPEECH_ONSET_MS: u64 = 60;
const INTERIM_EVERY_MS: u64 = 200;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the simulated service hears and does. Start from [`Script::default`].
#[derive(Debug, Clone)]
pub struct Script {
    /// The key `Authorization: Token …` must carry; `None` accepts any (`hotline up`).
    pub api_key: Option<String>,
    /// Refuse every upgrade with this HTTP status.
    pub refuse: Option<u16>,
    /// `refuse` applies from this connection on (0-based): the service accepts the
    /// first ones, then is down.
    pub refuse_from: usize,
    /// What the caller said, utterance by utterance (cycling).
    pub heard: Vec<String>,
    /// A 20 ms frame louder than this is speech.
    pub vad_threshold_dbfs: f32,
    pub fail: Option<Failure>,
    /// Stage `fail` in this session only (0-based, counting every connection); `None`:
    /// in every session. A client that reconnects after a drop then finds the service
    /// well again.
    pub fail_session: Option<usize>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            api_key: None,
            refuse: None,
            refuse_from: 0,
            heard: Vec::new(),
            vad_threshold_dbfs: -35.0,
            fail: None,
            fail_session: None,
        }
    }
}

/// A failure staged at ms of caller audio received, once per session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// End TCP without a close frame.
    DropAfterAudioMs(u64),
    /// Close with this code and reason (1011 `NET-0000`, say).
    CloseAfterAudioMs(u64, u16, String),
}

/// One connection attempt and, when upgraded, its session.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub path: String,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    /// `Authorization: Token <the right key>` came (or any key when none is expected).
    pub key_ok: bool,
    /// 101 when upgraded, else the refusal's status.
    pub status: u16,
    /// Binary audio frames and their bytes (µ-law).
    pub audio_frames: u64,
    pub audio_bytes: u64,
    /// Empty binary frames (Deepgram closes on these).
    pub empty_frames: u64,
    pub keep_alives: u32,
    pub finalizes: u32,
    pub close_stream: bool,
    /// Final transcripts sent, utterance by utterance.
    pub finals: Vec<String>,
    /// Every server message sent, as JSON, in order.
    pub sent: Vec<Value>,
    pub end: Option<SessionEnd>,
}

impl SessionLog {
    /// A query parameter's first value.
    pub fn param(&self, name: &str) -> Option<&str> {
        crate::server::query_param(&self.query, name)
    }

    /// Ms of caller audio (µ-law 8 kHz: 8 bytes a ms).
    pub fn audio_ms(&self) -> u64 {
        self.audio_bytes / 8
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    ClientClosed,
    ClientGone,
    /// The simulator closed it with this code and reason.
    Closed(u16, String),
    Dropped,
}

struct State {
    script: Arc<Script>,
    sessions: Vec<SessionLog>,
}

/// A running simulator; it stops with every session when dropped.
pub struct DeepgramSim {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

impl std::fmt::Debug for DeepgramSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepgramSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl DeepgramSim {
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            script: Arc::new(script),
            sessions: Vec::new(),
        }));
        let server = Server::start({
            let shared = Arc::clone(&shared);
            move |stream| connection(stream, Arc::clone(&shared))
        })
        .await?;
        Ok(Self {
            base_url: format!("http://{}", server.addr()),
            shared,
            _server: server,
        })
    }

    /// What `DEEPGRAM_BASE_URL` should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn set_script(&self, script: Script) {
        self.shared.lock().script = Arc::new(script);
    }

    pub fn sessions(&self) -> Vec<SessionLog> {
        self.shared.lock().sessions.clone()
    }

    pub fn session(&self, index: usize) -> Option<SessionLog> {
        self.shared.lock().sessions.get(index).cloned()
    }

    /// The first session whose log matches, now or within `timeout`.
    pub async fn wait_for_session(
        &self,
        matches: impl Fn(&SessionLog) -> bool,
        timeout: Duration,
    ) -> Option<SessionLog> {
        self.shared
            .wait_until(|s| s.sessions.iter().find(|l| matches(l)).cloned(), timeout)
            .await
    }
}

struct UpgradeCheck<'a> {
    script: &'a Script,
    /// This connection's index.
    connection: usize,
    seen: &'a mut Option<SessionLog>,
}

impl Callback for UpgradeCheck<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let path = request.uri().path().to_owned();
        let query: Vec<(String, String)> = request
            .uri()
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let key = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Token "))
            .map(str::to_owned);
        let key_ok = match (&self.script.api_key, &key) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(got)) => want == got,
        };
        let param = |name: &str| crate::server::query_param(&query, name);
        let refusal: Option<(u16, Value)> = if path != LISTEN_PATH {
            Some((
                404,
                json!({"err_code": "NOT_FOUND", "err_msg": "Not Found"}),
            ))
        } else if let Some(status) = self
            .script
            .refuse
            .filter(|_| self.connection >= self.script.refuse_from)
        {
            Some((
                status,
                json!({"err_code": "REQUEST_REFUSED", "err_msg": "The request was refused.",
                    "request_id": uuid::Uuid::new_v4().to_string()}),
            ))
        } else if !key_ok {
            Some((
                401,
                json!({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.",
                    "request_id": uuid::Uuid::new_v4().to_string()}),
            ))
        } else if param("encoding") != Some("mulaw") || param("sample_rate") != Some("8000") {
            Some((
                400,
                json!({"err_code": "Bad Request", "err_msg": "The simulator hears raw µ-law at 8 kHz only: encoding=mulaw&sample_rate=8000.",
                    "request_id": uuid::Uuid::new_v4().to_string()}),
            ))
        } else {
            None
        };
        let status = refusal.as_ref().map_or(101, |(s, _)| *s);
        *self.seen = Some(SessionLog {
            path,
            query,
            key_ok,
            status,
            audio_frames: 0,
            audio_bytes: 0,
            empty_frames: 0,
            keep_alives: 0,
            finalizes: 0,
            close_stream: false,
            finals: Vec::new(),
            sent: Vec::new(),
            end: None,
        });
        match refusal {
            None => Ok(response),
            Some((status, body)) => {
                let mut response = ErrorResponse::new(Some(body.to_string()));
                *response.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Err(response)
            }
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared<State>>) {
    let _ = stream.set_nodelay(true);
    let script = Arc::clone(&shared.lock().script);
    let mut seen = None;
    let connection_index = shared.lock().sessions.len();
    let accepted = tokio_tungstenite::accept_hdr_async(
        stream,
        UpgradeCheck {
            script: &script,
            connection: connection_index,
            seen: &mut seen,
        },
    )
    .await;
    let Some(log) = seen else {
        return;
    };
    let settings = Settings::of(&log);
    let index = {
        let mut state = shared.lock();
        state.sessions.push(log);
        state.sessions.len() - 1
    };
    shared.notify();
    let Ok(ws) = accepted else {
        return;
    };
    let mut session = Session {
        script,
        settings,
        shared: Arc::clone(&shared),
        index,
        request_id: uuid::Uuid::new_v4().to_string(),
        out: Vec::new(),
        audio_ms: 0,
        frame: Vec::with_capacity(FRAME_BYTES),
        loud_ms: 0,
        quiet_ms: 0,
        talking: false,
        utterance: 0,
        pending: false,
        speech_start_ms: 0,
        last_interim_ms: 0,
        utterance_end_at: None,
        failed: script_fail_elsewhere(&shared, index),
        last_input: Instant::now(),
    };
    let end = session.run(ws).await;
    {
        let mut state = shared.lock();
        if let Some(log) = state.sessions.get_mut(index) {
            log.end = Some(end);
        }
    }
    shared.notify();
}

/// Whether the scripted failure belongs to another session than `index`.
fn script_fail_elsewhere(shared: &Shared<State>, index: usize) -> bool {
    shared
        .lock()
        .script
        .fail_session
        .is_some_and(|only| only != index)
}

/// The query parameters the simulator acts on.
#[derive(Debug, Clone, Copy)]
struct Settings {
    interim_results: bool,
    vad_events: bool,
    /// `endpointing` in ms; `None` when `endpointing=false`.
    endpointing_ms: Option<u64>,
    utterance_end_ms: Option<u64>,
}

impl Settings {
    fn of(log: &SessionLog) -> Self {
        let flag = |name: &str| log.param(name) == Some("true");
        let endpointing_ms = match log.param("endpointing") {
            Some("false") => None,
            Some(ms) => Some(ms.parse().unwrap_or(10)),
            None => Some(10),
        };
        Self {
            interim_results: flag("interim_results"),
            vad_events: flag("vad_events"),
            endpointing_ms,
            utterance_end_ms: log
                .param("utterance_end_ms")
                .and_then(|ms| ms.parse().ok())
                .filter(|_| flag("interim_results")),
        }
    }
}

enum Out {
    Message(Value),
    Close(u16, String),
    Drop,
}

struct Session {
    script: Arc<Script>,
    settings: Settings,
    shared: Arc<Shared<State>>,
    index: usize,
    request_id: String,
    out: Vec<Out>,
    /// Ms of caller audio received.
    audio_ms: u64,
    frame: Vec<u8>,
    loud_ms: u64,
    quiet_ms: u64,
    talking: bool,
    /// The utterance being heard (index into the script's lines).
    utterance: usize,
    /// Speech was heard since the last final result.
    pending: bool,
    speech_start_ms: u64,
    last_interim_ms: u64,
    /// An `UtteranceEnd` is due at this ms of audio.
    utterance_end_at: Option<u64>,
    failed: bool,
    last_input: Instant,
}

impl Session {
    fn log(&self, change: impl FnOnce(&mut SessionLog)) {
        {
            let mut state = self.shared.lock();
            if let Some(log) = state.sessions.get_mut(self.index) {
                change(log);
            }
        }
        self.shared.notify();
    }

    fn send(&mut self, message: Value) {
        self.out.push(Out::Message(message));
    }

    async fn run(&mut self, mut ws: WebSocketStream<TcpStream>) -> SessionEnd {
        loop {
            for out in std::mem::take(&mut self.out) {
                match out {
                    Out::Message(m) => {
                        let json = m.to_string();
                        self.log(|l| l.sent.push(m));
                        if ws.feed(Message::text(json)).await.is_err() {
                            return SessionEnd::ClientGone;
                        }
                    }
                    Out::Close(code, reason) => {
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.clone().into(),
                        };
                        let _ = ws.send(Message::Close(Some(frame))).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = ws.next().await {}
                        })
                        .await;
                        return SessionEnd::Closed(code, reason);
                    }
                    Out::Drop => {
                        let _ = ws.flush().await;
                        let _ = ws.get_mut().shutdown().await;
                        return SessionEnd::Dropped;
                    }
                }
            }
            if ws.flush().await.is_err() {
                return SessionEnd::ClientGone;
            }
            let idle = tokio::time::Instant::from_std(self.last_input + IDLE_TIMEOUT);
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Binary(b))) => {
                        self.last_input = Instant::now();
                        self.audio(&b);
                    }
                    Some(Ok(Message::Text(t))) => {
                        self.last_input = Instant::now();
                        self.control(t.as_str());
                    }
                    Some(Ok(Message::Close(_))) => return SessionEnd::ClientClosed,
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return SessionEnd::ClientGone,
                },
                () = tokio::time::sleep_until(idle) => {
                    self.out.push(Out::Close(1011, "NET-0001".into()));
                }
            }
        }
    }

    fn control(&mut self, text: &str) {
        let kind = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned));
        match kind.as_deref() {
            Some("KeepAlive") => self.log(|l| l.keep_alives += 1),
            Some("Finalize") => {
                self.log(|l| l.finalizes += 1);
                self.finalize(false, true);
            }
            Some("CloseStream") => {
                self.log(|l| l.close_stream = true);
                self.finalize(false, false);
                let duration = self.audio_ms as f64 / 1000.0;
                let metadata = json!({"type": "Metadata", "transaction_key": "deprecated",
                    "request_id": self.request_id, "sha256": "0".repeat(64),
                    "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "duration": duration, "channels": 1});
                self.send(metadata);
                self.out.push(Out::Close(1000, String::new()));
            }
            _ => {
                let message = json!({"type": "Error", "variant": "SchemaError",
                    "description": "Message could not be parsed as a control message.",
                    "message": text});
                self.send(message);
            }
        }
    }

    fn audio(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.log(|l| l.empty_frames += 1);
            return;
        }
        let len = bytes.len() as u64;
        self.log(|l| {
            l.audio_frames += 1;
            l.audio_bytes += len;
        });
        for &b in bytes {
            self.frame.push(b);
            if self.frame.len() == FRAME_BYTES {
                let frame = std::mem::take(&mut self.frame);
                self.audio_ms += 20;
                self.step(&frame);
                self.frame = frame;
                self.frame.clear();
            }
        }
        if let Some(fail) = self.script.fail.clone()
            && !self.failed
        {
            match fail {
                Failure::DropAfterAudioMs(ms) if self.audio_ms >= ms => {
                    self.failed = true;
                    self.out.push(Out::Drop);
                }
                Failure::CloseAfterAudioMs(ms, code, reason) if self.audio_ms >= ms => {
                    self.failed = true;
                    self.out.push(Out::Close(code, reason));
                }
                _ => {}
            }
        }
    }

    /// One 20 ms frame through the VAD and the endpointer.
    fn step(&mut self, frame: &[u8]) {
        let loud = hotline_audio::frame_dbfs(frame) > self.script.vad_threshold_dbfs;
        if loud {
            self.loud_ms += 20;
            self.quiet_ms = 0;
        } else {
            self.quiet_ms += 20;
            self.loud_ms = 0;
        }
        if !self.talking && self.loud_ms >= SPEECH_ONSET_MS {
            self.talking = true;
            self.pending = true;
            self.utterance_end_at = None;
            self.speech_start_ms = self.audio_ms - self.loud_ms;
            self.last_interim_ms = self.audio_ms;
            if self.settings.vad_events {
                let message = json!({"type": "SpeechStarted", "channel": [0],
                    "timestamp": self.speech_start_ms as f64 / 1000.0});
                self.send(message);
            }
        }
        if self.talking
            && self.settings.interim_results
            && self.audio_ms - self.last_interim_ms >= INTERIM_EVERY_MS
        {
            self.last_interim_ms = self.audio_ms;
            let spoken_ms = self.audio_ms - self.speech_start_ms;
            self.interim(spoken_ms);
        }
        if self.talking
            && let Some(endpointing) = self.settings.endpointing_ms
            && self.quiet_ms >= endpointing.max(20)
        {
            self.talking = false;
            self.finalize(true, false);
            if let Some(after) = self.settings.utterance_end_ms {
                self.utterance_end_at = Some(self.audio_ms + after);
            }
        }
        if let Some(at) = self.utterance_end_at
            && self.audio_ms >= at
            && !self.talking
        {
            self.utterance_end_at = None;
            let message = json!({"type": "UtteranceEnd", "channel": [0, 1],
                "last_word_end": self.audio_ms.saturating_sub(self.quiet_ms) as f64 / 1000.0});
            self.send(message);
        }
    }

    fn line(&self) -> String {
        let lines = &self.script.heard;
        if lines.is_empty() {
            "(unintelligible)".to_owned()
        } else {
            lines[self.utterance % lines.len()].clone()
        }
    }

    /// An interim hypothesis: the words heard so far, about three a second.
    fn interim(&mut self, spoken_ms: u64) {
        let line = self.line();
        let words: Vec<&str> = line.split_whitespace().collect();
        let n = ((spoken_ms / 300) as usize + 1).min(words.len());
        let text = words[..n].join(" ");
        let result = self.results(&text, false, false, false);
        self.send(result);
    }

    /// The utterance heard since the last final as a final result; `speech_final`
    /// when endpointing ended it, `from_finalize` when the client asked (then even an
    /// empty one is sent).
    fn finalize(&mut self, speech_final: bool, from_finalize: bool) {
        let text = if self.pending {
            self.line()
        } else {
            String::new()
        };
        self.talking = false;
        if text.is_empty() && !from_finalize {
            return;
        }
        let result = self.results(&text, true, speech_final && !text.is_empty(), from_finalize);
        self.send(result);
        if !text.is_empty() {
            self.log(|l| l.finals.push(text));
            self.utterance += 1;
            self.pending = false;
        }
    }

    fn results(
        &self,
        text: &str,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> Value {
        let start = self.speech_start_ms as f64 / 1000.0;
        let end = self.audio_ms as f64 / 1000.0;
        let words: Vec<&str> = text.split_whitespace().collect();
        let step = if words.is_empty() {
            0.0
        } else {
            (end - start) / words.len() as f64
        };
        let words: Vec<Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let bare: String = w
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase();
                json!({"word": bare, "start": start + step * i as f64,
                    "end": start + step * (i + 1) as f64, "confidence": 0.98,
                    "punctuated_word": w})
            })
            .collect();
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": end - start,
            "start": start,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": words}]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": {"name": "general-nova-3", "version": "2024-12-20.0", "arch": "nova-3"},
                "model_uuid": "3b3aabe4-608a-46ac-9585-7960a25daf1a",
            },
        })
    }
}
