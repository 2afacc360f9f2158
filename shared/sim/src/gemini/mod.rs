//! A simulator of Google's Gemini Live API (`BidiGenerateContent`) on a loopback port,
//! faithful on the wire for what hotline uses (`protocols/gemini-live.md`; the
//! `google-genai` SDK's own client and types are run against it by
//! `tests/gemini_python.py`).
//!
//! `GET /ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent`
//! upgrades (the key in `x-goog-api-key` or `?key=`; any other path is 404, a scripted
//! refusal gets Google's JSON error). Then, as the real service:
//!
//! - the first message must be `setup` (else close 1007); a bad key, a model without
//!   `models/`, a voice the service lacks, lower-case schema types or a handle it never
//!   issued close the socket (1008 / 1007) with Google's reason; else `setupComplete`,
//!   and with `sessionResumption` a `sessionResumptionUpdate` after setup and each turn.
//!   Resuming with an issued handle continues that conversation's script.
//! - `realtimeInput.audio` must be `audio/pcm;rate=16000`; it runs through an energy
//!   VAD 20 ms at a time. Caller speech during a model turn interrupts it
//!   (`interrupted`, then `turnComplete`); 500 ms of silence ends the caller's turn:
//!   `inputTranscription` pieces, then the model's reply: `modelTurn` audio (a tone,
//!   PCM16 24 kHz) with `outputTranscription` pieces, `generationComplete`,
//!   `turnComplete` with `usageMetadata`. A [`ToolCue`] replaces a reply with a
//!   `toolCall`; the `toolResponse` gets the next reply.
//! - `clientContent` with `turnComplete` interrupts a reply in progress and gets one.
//! - [`Failure`]s drop or close the connection, or send `goAway`, at a point of the
//!   caller's audio. Malformed messages close with 1007.

mod script;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt as _, StreamExt as _};
use hotline_realtime::gemini::{
    Blob, ClientMessage, Content, FunctionCall, GoAway, LIVE_PATH, Part, ServerContent,
    ServerMessage, SessionResumptionUpdate, Setup, SetupComplete, ToolCall, Transcription,
    UsageMetadata,
};
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

pub use script::{Failure, Pace, ReplyLog, Script, SessionEnd, SessionLog, ToolCue};

use script::Plan;

use crate::server::{Server, Shared};

/// Voices the service offers (the notes' list and a few of the HD ones).
const VOICES: &[&str] = &[
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Aoede",
    "Leda",
    "Orus",
    "Zephyr",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
];
const FRAME_SAMPLES: usize = 320;
const SPEECH_ONSET_MS: u32 = 60;
const SILENCE_MS: u32 = 500;
/// Caller audio kept in the log for analysis: one minute at 16 kHz.
const KEPT_SAMPLES: usize = 16_000 * 60;

struct State {
    plan: Arc<Plan>,
    sessions: Vec<SessionLog>,
    /// Conversations by the handles issued for them.
    handles: HashMap<String, Memory>,
}

/// What a conversation has been through, carried across resumptions.
#[derive(Debug, Clone, Default)]
struct Memory {
    utterances: usize,
    spoken: usize,
    cues_fired: Vec<bool>,
    calls: usize,
    /// The scripted failure struck: once per conversation, resumed sessions included.
    failed: bool,
}

/// A running simulator; it stops with every session when dropped.
pub struct GeminiSim {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

impl std::fmt::Debug for GeminiSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl GeminiSim {
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            plan: Arc::new(Plan::new(script)),
            sessions: Vec::new(),
            handles: HashMap::new(),
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

    /// What `GEMINI_BASE_URL` should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn set_script(&self, script: Script) {
        self.shared.lock().plan = Arc::new(Plan::new(script));
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
    plan: &'a Plan,
    seen: &'a mut Option<(String, bool, bool, u16)>,
}

impl Callback for UpgradeCheck<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let path = request.uri().path().to_owned();
        let header = request
            .headers()
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let query = request.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "key")
                .map(|(_, v)| v.into_owned())
        });
        let key = header.clone().or(query).filter(|k| !k.is_empty());
        let key_ok = match (&self.plan.script.api_key, &key) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(got)) => want == got,
        };
        let refusal = if path != LIVE_PATH {
            Some((404, "Method not found.", "NOT_FOUND"))
        } else {
            match self.plan.script.refuse {
                Some(401) => Some((
                    401,
                    "API key not valid. Please pass a valid API key.",
                    "UNAUTHENTICATED",
                )),
                Some(429) => Some((
                    429,
                    "Resource has been exhausted (e.g. check quota).",
                    "RESOURCE_EXHAUSTED",
                )),
                Some(503) => Some((503, "The service is currently unavailable.", "UNAVAILABLE")),
                Some(status) => Some((status, "Internal error encountered.", "INTERNAL")),
                None => None,
            }
        };
        let status = refusal.map_or(101, |(s, _, _)| s);
        *self.seen = Some((path, key_ok, header.is_some(), status));
        match refusal {
            None => Ok(response),
            Some((status, message, kind)) => {
                let body = serde_json::json!({"error": {"code": status, "message": message, "status": kind}})
                    .to_string();
                let mut response = ErrorResponse::new(Some(body));
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
    let plan = Arc::clone(&shared.lock().plan);
    let mut seen = None;
    let accepted = tokio_tungstenite::accept_hdr_async(
        stream,
        UpgradeCheck {
            plan: &plan,
            seen: &mut seen,
        },
    )
    .await;
    let Some((path, key_ok, key_in_header, status)) = seen else {
        return;
    };
    let index = {
        let mut state = shared.lock();
        let index = state.sessions.len();
        state.sessions.push(SessionLog {
            index,
            path,
            key_ok,
            key_in_header,
            status,
            connected_at: Instant::now(),
            setup: None,
            resumed: None,
            audio_messages: 0,
            audio_bytes: 0,
            audio_mime_types: Vec::new(),
            caller_pcm: Vec::new(),
            utterances: Vec::new(),
            client_texts: Vec::new(),
            tool_responses: Vec::new(),
            replies: Vec::new(),
            go_aways: 0,
            end: None,
        });
        index
    };
    shared.notify();
    let Ok(ws) = accepted else {
        return;
    };
    let mut session = Session {
        plan,
        shared: Arc::clone(&shared),
        index,
        key_ok,
        memory: Memory::default(),
        resumable: false,
        out: Vec::new(),
        set_up: false,
        audio_ms: 0,
        frame: Vec::with_capacity(FRAME_SAMPLES),
        loud_ms: 0,
        quiet_ms: 0,
        talking: false,
        reply: None,
        close_at: None,
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

/// What to send next.
enum Out {
    Message(Box<ServerMessage>),
    Close(u16, String),
    Drop,
}

struct Reply {
    chunk: usize,
    sent_ms: u64,
    started: Instant,
    words: Vec<String>,
    words_sent: usize,
    log: usize,
}

struct Session {
    plan: Arc<Plan>,
    shared: Arc<Shared<State>>,
    index: usize,
    key_ok: bool,
    memory: Memory,
    /// The client asked for resumption handles.
    resumable: bool,
    out: Vec<Out>,
    set_up: bool,
    /// Ms of caller audio this session received.
    audio_ms: u64,
    frame: Vec<i16>,
    loud_ms: u32,
    quiet_ms: u32,
    talking: bool,
    reply: Option<Reply>,
    /// After a `goAway`: when the connection closes.
    close_at: Option<Instant>,
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

    fn send(&mut self, message: ServerMessage) {
        self.out.push(Out::Message(Box::new(message)));
    }

    fn content(&mut self, content: ServerContent) {
        self.send(ServerMessage {
            server_content: Some(content),
            ..ServerMessage::default()
        });
    }

    fn close(&mut self, code: u16, reason: &str) {
        // A close frame's reason fits in 123 bytes (RFC 6455 §5.5).
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.out.push(Out::Close(code, reason[..end].to_owned()));
    }

    async fn run(&mut self, mut ws: WebSocketStream<TcpStream>) -> SessionEnd {
        loop {
            for out in std::mem::take(&mut self.out) {
                let sent = match out {
                    Out::Message(m) => {
                        let json = m.to_json();
                        if self.plan.script.binary_frames {
                            ws.feed(Message::binary(json.into_bytes())).await
                        } else {
                            ws.feed(Message::text(json)).await
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
                };
                if sent.is_err() {
                    return SessionEnd::ClientGone;
                }
            }
            if ws.flush().await.is_err() {
                return SessionEnd::ClientGone;
            }
            let due = self
                .reply
                .as_ref()
                .map(|r| r.started + self.plan.script.pace.delay(r.sent_ms).unwrap_or_default());
            let close_at = self.close_at;
            tokio::select! {
                biased;
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(t))) => self.on_message(t.as_bytes()),
                    Some(Ok(Message::Binary(b))) => self.on_message(&b),
                    Some(Ok(Message::Close(_))) => return SessionEnd::ClientClosed,
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return SessionEnd::ClientGone,
                },
                () = sleep_until(close_at) => {
                    self.close(1000, "");
                }
                () = sleep_until(due) => self.step(),
            }
        }
    }

    fn on_message(&mut self, bytes: &[u8]) {
        let message = match serde_json::from_slice::<ClientMessage>(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.close(1007, &format!("Invalid JSON payload received. {e}"));
                return;
            }
        };
        match message {
            ClientMessage::Setup(setup) if !self.set_up => self.setup(*setup),
            ClientMessage::Setup(_) => {
                self.close(1007, "setup must be the first message and sent once");
            }
            _ if !self.set_up => self.close(1007, "The first message must be setup."),
            ClientMessage::RealtimeInput(input) => {
                if let Some(blob) = input.audio {
                    self.audio(&blob);
                }
            }
            ClientMessage::ClientContent(content) => {
                let texts: Vec<String> = content
                    .turns
                    .iter()
                    .flat_map(|t| t.parts.iter().filter_map(|p| p.text.clone()))
                    .collect();
                self.log(|l| l.client_texts.extend(texts));
                if content.turn_complete == Some(true) {
                    self.interrupt();
                    self.start_reply(true);
                }
            }
            ClientMessage::ToolResponse(response) => {
                let responses = response.function_responses;
                self.log(|l| l.tool_responses.extend(responses));
                self.start_reply(false);
            }
        }
    }

    fn setup(&mut self, setup: Setup) {
        self.set_up = true;
        let logged = setup.clone();
        self.log(|l| l.setup = Some(logged));
        if self.plan.script.api_key.is_some() && !self.key_ok {
            self.close(1008, "API key not valid. Please pass a valid API key.");
            return;
        }
        if !setup.model.starts_with("models/") {
            self.close(
                1007,
                "Invalid value at 'setup.model': must be models/{model}.",
            );
            return;
        }
        let voice = setup
            .generation_config
            .as_ref()
            .and_then(|g| g.speech_config.as_ref())
            .and_then(|s| s.voice_config.as_ref())
            .and_then(|v| v.prebuilt_voice_config.as_ref())
            .map(|p| p.voice_name.clone());
        if let Some(voice) = voice
            && !VOICES.contains(&voice.as_str())
        {
            self.close(1007, &format!("Voice name {voice} is not supported."));
            return;
        }
        let lower_case = setup
            .tools
            .iter()
            .flatten()
            .flat_map(|t| &t.function_declarations)
            .any(|d| d.parameters.as_ref().is_some_and(has_lower_case_type));
        if lower_case {
            self.close(1007, "Invalid value at 'setup.tools[0].function_declarations.parameters.type': schema types are upper-case.");
            return;
        }
        self.memory.cues_fired = vec![false; self.plan.script.tool_calls.len()];
        if let Some(resumption) = &setup.session_resumption {
            self.resumable = true;
            if let Some(handle) = &resumption.handle {
                let known = self.shared.lock().handles.get(handle).cloned();
                match known {
                    Some(memory) => {
                        self.memory = memory;
                        let handle = handle.clone();
                        self.log(|l| l.resumed = Some(handle));
                    }
                    None => {
                        self.close(1008, "Session resumption handle is invalid or expired.");
                        return;
                    }
                }
            }
        }
        self.send(ServerMessage {
            setup_complete: Some(SetupComplete::default()),
            ..ServerMessage::default()
        });
        self.issue_handle();
    }

    fn issue_handle(&mut self) {
        if !self.resumable {
            return;
        }
        let handle = format!("sim-handle-{}", uuid::Uuid::new_v4().simple());
        self.shared
            .lock()
            .handles
            .insert(handle.clone(), self.memory.clone());
        self.send(ServerMessage {
            session_resumption_update: Some(SessionResumptionUpdate {
                new_handle: Some(handle),
                resumable: Some(self.plan.script.resumable),
            }),
            ..ServerMessage::default()
        });
    }

    fn audio(&mut self, blob: &Blob) {
        if blob.mime_type.replace(' ', "") != "audio/pcm;rate=16000" {
            self.close(
                1007,
                &format!(
                    "Unsupported audio mime type {}: send audio/pcm;rate=16000.",
                    blob.mime_type
                ),
            );
            return;
        }
        // Proto3 JSON `bytes` may be standard or URL-safe base64 (the Python SDK sends
        // the latter).
        let decoded = STANDARD
            .decode(&blob.data)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&blob.data));
        let Ok(bytes) = decoded else {
            self.close(
                1007,
                "Invalid value at 'realtime_input.audio.data': not base64.",
            );
            return;
        };
        let samples: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect();
        let mime = blob.mime_type.clone();
        let len = bytes.len() as u64;
        self.log(|l| {
            l.audio_messages += 1;
            l.audio_bytes += len;
            if !l.audio_mime_types.contains(&mime) {
                l.audio_mime_types.push(mime);
            }
            let room = KEPT_SAMPLES.saturating_sub(l.caller_pcm.len());
            l.caller_pcm.extend(samples.iter().take(room));
        });
        for s in samples {
            self.frame.push(s);
            if self.frame.len() == FRAME_SAMPLES {
                let loud = dbfs(&self.frame) > self.plan.script.vad_threshold_dbfs;
                self.frame.clear();
                self.audio_ms += 20;
                self.vad(loud);
                self.check_failure();
            }
        }
    }

    fn vad(&mut self, loud: bool) {
        if !self.talking {
            self.loud_ms = if loud { self.loud_ms + 20 } else { 0 };
            if self.loud_ms >= SPEECH_ONSET_MS {
                self.talking = true;
                self.quiet_ms = 0;
                self.interrupt();
            }
            return;
        }
        self.quiet_ms = if loud { 0 } else { self.quiet_ms + 20 };
        if self.quiet_ms >= SILENCE_MS {
            self.talking = false;
            self.loud_ms = 0;
            self.utterance_ended();
        }
    }

    fn utterance_ended(&mut self) {
        let n = self.memory.utterances;
        self.memory.utterances += 1;
        let transcript = self.plan.caller_transcript(n);
        let logged = transcript.clone();
        self.log(|l| l.utterances.push(logged));
        // In two pieces, as the service streams it.
        let words: Vec<&str> = transcript.split_inclusive(' ').collect();
        let half = words.len().div_ceil(2);
        for piece in [words[..half].concat(), words[half..].concat()] {
            if !piece.is_empty() {
                self.content(ServerContent {
                    input_transcription: Some(Transcription {
                        text: Some(piece),
                        finished: None,
                    }),
                    ..ServerContent::default()
                });
            }
        }
        let cue = self
            .plan
            .script
            .tool_calls
            .iter()
            .enumerate()
            .find(|(i, c)| {
                c.after_utterance == n && !self.memory.cues_fired.get(*i).copied().unwrap_or(true)
            });
        if let Some((i, cue)) = cue {
            let cue = cue.clone();
            if let Some(fired) = self.memory.cues_fired.get_mut(i) {
                *fired = true;
            }
            self.memory.calls += 1;
            let id = format!("function-call-{}", self.memory.calls);
            let call = (id.clone(), cue.name.clone());
            self.log(|l| {
                l.replies.push(ReplyLog {
                    transcript: String::new(),
                    by_client: false,
                    audio_ms: 0,
                    interrupted: false,
                    function_call: Some(call),
                });
            });
            self.send(ServerMessage {
                tool_call: Some(ToolCall {
                    function_calls: vec![FunctionCall {
                        id: Some(id),
                        name: cue.name,
                        args: Some(cue.args),
                    }],
                }),
                ..ServerMessage::default()
            });
            return;
        }
        self.start_reply(false);
    }

    /// Caller speech or a `clientContent` over a reply in progress.
    fn interrupt(&mut self) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let log = reply.log;
        self.log(|l| {
            if let Some(r) = l.replies.get_mut(log) {
                r.interrupted = true;
            }
        });
        self.content(ServerContent {
            interrupted: Some(true),
            ..ServerContent::default()
        });
        self.content(ServerContent {
            turn_complete: Some(true),
            ..ServerContent::default()
        });
    }

    fn start_reply(&mut self, by_client: bool) {
        self.interrupt();
        let text = self.plan.reply(self.memory.spoken);
        self.memory.spoken += 1;
        let words = text.split_inclusive(' ').map(str::to_owned).collect();
        let log = {
            let mut state = self.shared.lock();
            let Some(l) = state.sessions.get_mut(self.index) else {
                return;
            };
            l.replies.push(ReplyLog {
                transcript: text,
                by_client,
                audio_ms: 0,
                interrupted: false,
                function_call: None,
            });
            l.replies.len() - 1
        };
        self.shared.notify();
        self.reply = Some(Reply {
            chunk: 0,
            sent_ms: 0,
            started: Instant::now(),
            words,
            words_sent: 0,
            log,
        });
    }

    /// The next chunk of the reply, or its end.
    fn step(&mut self) {
        let Some(mut reply) = self.reply.take() else {
            return;
        };
        let chunks = &self.plan.chunks;
        if let Some((data, ms)) = chunks.get(reply.chunk) {
            reply.chunk += 1;
            reply.sent_ms += ms;
            let want = (reply.words.len() * reply.chunk).div_ceil(chunks.len().max(1));
            let text: String = reply.words[reply.words_sent..want.min(reply.words.len())].concat();
            reply.words_sent = want.min(reply.words.len());
            let (data, sent_ms, log) = (data.clone(), reply.sent_ms, reply.log);
            self.content(ServerContent {
                model_turn: Some(Content {
                    role: Some("model".into()),
                    parts: vec![Part {
                        inline_data: Some(Blob {
                            mime_type: "audio/pcm;rate=24000".into(),
                            data,
                        }),
                        ..Part::default()
                    }],
                }),
                output_transcription: (!text.is_empty()).then_some(Transcription {
                    text: Some(text),
                    finished: None,
                }),
                ..ServerContent::default()
            });
            self.log(|l| {
                if let Some(r) = l.replies.get_mut(log) {
                    r.audio_ms = sent_ms;
                }
            });
            self.reply = Some(reply);
            return;
        }
        self.content(ServerContent {
            generation_complete: Some(true),
            ..ServerContent::default()
        });
        self.send(ServerMessage {
            server_content: Some(ServerContent {
                turn_complete: Some(true),
                ..ServerContent::default()
            }),
            usage_metadata: Some(UsageMetadata {
                prompt_token_count: Some(120),
                response_token_count: Some(40),
                total_token_count: Some(160),
            }),
            ..ServerMessage::default()
        });
        self.issue_handle();
    }

    fn check_failure(&mut self) {
        if self.memory.failed {
            return;
        }
        let Some(failure) = self.plan.script.fail.clone() else {
            return;
        };
        if self.audio_ms < failure.at_ms() {
            return;
        }
        self.memory.failed = true;
        match failure {
            Failure::DropAfterAudioMs(_) => self.out.push(Out::Drop),
            Failure::CloseAfterAudioMs(_, code, reason) => self.close(code, &reason),
            Failure::GoAwayAfterAudioMs(_, left) => {
                // A handle for the conversation as it stands, then the notice.
                self.issue_handle();
                self.send(ServerMessage {
                    go_away: Some(GoAway {
                        time_left: Some(format!("{}s", left.as_secs_f64())),
                    }),
                    ..ServerMessage::default()
                });
                self.close_at = Some(Instant::now() + left);
                self.log(|l| l.go_aways += 1);
            }
        }
    }
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when.into()).await,
        None => std::future::pending().await,
    }
}

fn dbfs(samples: &[i16]) -> f32 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len().max(1) as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return hotline_audio::DBFS_FLOOR;
    }
    ((20.0 * rms.log10()) as f32).max(hotline_audio::DBFS_FLOOR)
}

/// Whether a schema says `"type": "object"` (JSON Schema) where Gemini wants `OBJECT`.
fn has_lower_case_type(schema: &serde_json::Value) -> bool {
    match schema {
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| {
            (k == "type"
                && v.as_str()
                    .is_some_and(|t| t.chars().any(|c| c.is_ascii_lowercase())))
                || (k != "enum" && has_lower_case_type(v))
        }),
        serde_json::Value::Array(a) => a.iter().any(has_lower_case_type),
        _ => false,
    }
}
