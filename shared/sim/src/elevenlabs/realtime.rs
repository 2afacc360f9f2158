//! ElevenLabs' realtime speech-to-text socket (Scribe, `GET
//! /v1/speech-to-text/realtime`, `protocols/elevenlabs.md` §8), on the simulator's
//! port: `tests/elevenlabs_python.py` connects with the `elevenlabs` SDK's own
//! `speech_to_text.realtime` client and parses what it hears with the SDK's payload
//! types.
//!
//! The upgrade is checked as ElevenLabs does: `xi-api-key` (or a `token` query
//! parameter; else 401 `invalid_api_key`), `model_id` (else 422), a known
//! `audio_format` and `commit_strategy` (else 422; the simulator hears `ulaw_8000`
//! only and answers 400 for the other formats), a scripted refusal
//! ([`super::Script::stt_refuse`]) its status. Then, as the service:
//!
//! - `session_started` with the session's config;
//! - text frames `{"message_type": "input_audio_chunk", "audio_base_64", "commit",
//!   "sample_rate"}`: anything else, a missing `sample_rate`, undecodable base64 or a
//!   `previous_text` after the first chunk is answered with an `input_error` message;
//!   binary frames likewise;
//! - the audio (µ-law 8 kHz) runs through an energy VAD 20 ms at a time; what the
//!   caller "says" is scripted ([`super::Script::heard`], one line per utterance):
//!   while the caller speaks a `partial_transcript` every 200 ms carries more of the
//!   line; with `commit_strategy=vad`, `vad_silence_threshold_secs` of silence (default
//!   1.5) commits it (`committed_transcript`); `commit: true` commits at once;
//! - [`super::Script::stt_fail`] drops the connection or closes it at a point of the
//!   caller's audio, once per session (or in [`super::Script::stt_fail_session`] only).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::{Script, State, error, refusal};
use crate::deepgram::{Failure, SessionEnd};
use crate::server::{Shared, StreamingBody};

/// The socket's path.
pub const STT_PATH: &str = "/v1/speech-to-text/realtime";
const AUDIO_FORMATS: [&str; 7] = [
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
];
const FRAME_BYTES: usize = 160;
const SPEECH_ONSET_MS: u64 = 60;
const PARTIAL_EVERY_MS: u64 = 200;
const VAD_THRESHOLD_DBFS: f32 = -35.0;

/// One connection attempt and, when upgraded, its session.
#[derive(Debug, Clone)]
pub struct SttSession {
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    pub key_ok: bool,
    /// 101 when upgraded, else the refusal's status.
    pub status: u16,
    /// `input_audio_chunk` messages and their decoded audio bytes.
    pub chunks: u64,
    pub audio_bytes: u64,
    /// `sample_rate` of the first chunk.
    pub sample_rate: Option<u64>,
    /// `input_error`s sent.
    pub input_errors: Vec<String>,
    /// Committed transcripts sent, utterance by utterance.
    pub committed: Vec<String>,
    /// Every server message sent, in order.
    pub sent: Vec<Value>,
    pub end: Option<SessionEnd>,
}

impl SttSession {
    pub fn param(&self, name: &str) -> Option<&str> {
        crate::server::query_param(&self.query, name)
    }

    /// Ms of caller audio (µ-law 8 kHz: 8 bytes a ms).
    pub fn audio_ms(&self) -> u64 {
        self.audio_bytes / 8
    }
}

fn header(request: &Request<Incoming>, name: impl hyper::header::AsHeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn invalid(loc: &str, message: String, input: &str) -> (u16, Value) {
    (
        422,
        json!([{"type": "enum", "loc": ["query", loc], "msg": message, "input": input}]),
    )
}

/// Answers the upgrade (101, the session then runs on its own task) or refuses it.
pub(super) fn upgrade(
    shared: Arc<Shared<State>>,
    script: Arc<Script>,
    request: Request<Incoming>,
) -> Response<StreamingBody> {
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| crate::server::query_param(&query, name);
    let key = header(&request, "xi-api-key").or(param("token"));
    let key_ok = match (&script.api_key, key) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(got)) => want == got,
    };
    let ws_key = header(&request, SEC_WEBSOCKET_KEY)
        .filter(|_| header(&request, UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket")))
        .map(str::to_owned);
    let audio_format = param("audio_format").unwrap_or("pcm_16000");
    let commit_strategy = param("commit_strategy").unwrap_or("manual");
    let refusal: Option<(u16, Value)> = if request.method() != hyper::Method::GET
        || ws_key.is_none()
    {
        Some((
            400,
            json!({"status": "invalid_request", "message": "Expected a WebSocket upgrade."}),
        ))
    } else if !key_ok {
        Some((
            401,
            json!({"status": "invalid_api_key", "message": "Invalid API key"}),
        ))
    } else if let Some(status) = script.stt_refuse {
        Some((status, refusal(status)))
    } else if param("model_id").is_none_or(str::is_empty) {
        Some((
            422,
            json!([{"type": "missing", "loc": ["query", "model_id"], "msg": "Field required", "input": null}]),
        ))
    } else if !AUDIO_FORMATS.contains(&audio_format) {
        Some(invalid(
            "audio_format",
            format!("Input should be one of the supported audio formats, got '{audio_format}'"),
            audio_format,
        ))
    } else if !matches!(commit_strategy, "manual" | "vad") {
        Some(invalid(
            "commit_strategy",
            "Input should be 'manual' or 'vad'".to_owned(),
            commit_strategy,
        ))
    } else if audio_format != "ulaw_8000" {
        Some((
            400,
            json!({"status": "unsupported_by_simulator",
                "message": "The simulator hears ulaw_8000 only."}),
        ))
    } else {
        None
    };
    let silence_ms = param("vad_silence_threshold_secs")
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(1500, |s| (s * 1000.0).round() as u64);
    let vad = commit_strategy == "vad";
    let config = json!({"sample_rate": 8000, "audio_format": audio_format,
        "language_code": param("language_code"), "commit_strategy": commit_strategy,
        "vad_silence_threshold_secs": silence_ms as f64 / 1000.0,
        "model_id": param("model_id"), "include_timestamps": false});
    let log = SttSession {
        query: query.clone(),
        key_ok,
        status: refusal.as_ref().map_or(101, |(s, _)| *s),
        chunks: 0,
        audio_bytes: 0,
        sample_rate: None,
        input_errors: Vec::new(),
        committed: Vec::new(),
        sent: Vec::new(),
        end: None,
    };
    let index = {
        let mut state = shared.lock();
        state.stt_sessions.push(log);
        state.stt_sessions.len() - 1
    };
    shared.notify();
    if let Some((status, detail)) = refusal {
        return error(status, detail);
    }
    let accept = derive_accept_key(ws_key.unwrap_or_default().as_bytes());
    let fail_elsewhere = script.stt_fail_session.is_some_and(|only| only != index);
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut session = Session {
            script,
            shared: Arc::clone(&shared),
            index,
            vad,
            silence_ms,
            audio_ms: 0,
            frame: Vec::with_capacity(FRAME_BYTES),
            loud_ms: 0,
            quiet_ms: 0,
            talking: false,
            pending: false,
            speech_start_ms: 0,
            last_partial_ms: 0,
            utterance: 0,
            failed: fail_elsewhere,
        };
        let end = session.run(ws, config).await;
        session.log(|l| l.end = Some(end));
    });
    let mut response = Response::new(crate::server::whole(""));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

enum After {
    Go,
    Close(u16, String),
    Drop,
}

struct Session {
    script: Arc<Script>,
    shared: Arc<Shared<State>>,
    index: usize,
    /// `commit_strategy=vad`.
    vad: bool,
    silence_ms: u64,
    audio_ms: u64,
    frame: Vec<u8>,
    loud_ms: u64,
    quiet_ms: u64,
    talking: bool,
    /// Speech was heard since the last commit.
    pending: bool,
    speech_start_ms: u64,
    last_partial_ms: u64,
    utterance: usize,
    failed: bool,
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

impl Session {
    fn log(&self, change: impl FnOnce(&mut SttSession)) {
        {
            let mut state = self.shared.lock();
            if let Some(log) = state.stt_sessions.get_mut(self.index) {
                change(log);
            }
        }
        self.shared.notify();
    }

    async fn send(&self, ws: &mut Socket, message: Value) -> bool {
        let text = message.to_string();
        self.log(|l| l.sent.push(message));
        ws.send(Message::text(text)).await.is_ok()
    }

    async fn input_error(&self, ws: &mut Socket, error: &str) -> bool {
        let error = error.to_owned();
        self.log(|l| l.input_errors.push(error.clone()));
        self.send(ws, json!({"message_type": "input_error", "error": error}))
            .await
    }

    async fn run(&mut self, mut ws: Socket, config: Value) -> SessionEnd {
        let started = json!({"message_type": "session_started",
            "session_id": uuid::Uuid::new_v4().simple().to_string(), "config": config});
        if !self.send(&mut ws, started).await {
            return SessionEnd::ClientGone;
        }
        let mut first = true;
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Binary(_))) => {
                    if !self
                        .input_error(
                            &mut ws,
                            "Binary frames are not accepted: send input_audio_chunk messages.",
                        )
                        .await
                    {
                        return SessionEnd::ClientGone;
                    }
                    continue;
                }
                Some(Ok(Message::Close(_))) => return SessionEnd::ClientClosed,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return SessionEnd::ClientGone,
            };
            let message: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            let problem = if message["message_type"] != "input_audio_chunk" {
                Some("Unknown message: expected message_type input_audio_chunk.")
            } else if !message["sample_rate"].is_u64() {
                Some("sample_rate is required on every chunk.")
            } else if !first && !message["previous_text"].is_null() {
                Some("previous_text can only be sent with the first audio chunk.")
            } else {
                None
            };
            if let Some(problem) = problem {
                if !self.input_error(&mut ws, problem).await {
                    return SessionEnd::ClientGone;
                }
                continue;
            }
            let Ok(audio) = BASE64.decode(message["audio_base_64"].as_str().unwrap_or_default())
            else {
                if !self
                    .input_error(&mut ws, "audio_base_64 is not valid base64.")
                    .await
                {
                    return SessionEnd::ClientGone;
                }
                continue;
            };
            if first {
                let rate = message["sample_rate"].as_u64();
                self.log(|l| l.sample_rate = rate);
                first = false;
            }
            let len = audio.len() as u64;
            self.log(|l| {
                l.chunks += 1;
                l.audio_bytes += len;
            });
            let mut out = Vec::new();
            for &b in &audio {
                self.frame.push(b);
                if self.frame.len() == FRAME_BYTES {
                    let frame = std::mem::take(&mut self.frame);
                    self.audio_ms += 20;
                    self.step(&frame, &mut out);
                    self.frame = frame;
                    self.frame.clear();
                }
            }
            if message["commit"].as_bool() == Some(true) {
                self.commit(&mut out);
            }
            for m in out {
                if !self.send(&mut ws, m).await {
                    return SessionEnd::ClientGone;
                }
            }
            match self.failure() {
                After::Go => {}
                After::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.clone().into(),
                    };
                    let _ = ws.send(Message::Close(Some(frame))).await;
                    return SessionEnd::Closed(code, reason);
                }
                After::Drop => return SessionEnd::Dropped,
            }
        }
    }

    fn failure(&mut self) -> After {
        if self.failed {
            return After::Go;
        }
        match self.script.stt_fail.clone() {
            Some(Failure::DropAfterAudioMs(ms)) if self.audio_ms >= ms => {
                self.failed = true;
                After::Drop
            }
            Some(Failure::CloseAfterAudioMs(ms, code, reason)) if self.audio_ms >= ms => {
                self.failed = true;
                After::Close(code, reason)
            }
            _ => After::Go,
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

    /// One 20 ms frame through the VAD.
    fn step(&mut self, frame: &[u8], out: &mut Vec<Value>) {
        if hotline_audio::frame_dbfs(frame) > VAD_THRESHOLD_DBFS {
            self.loud_ms += 20;
            self.quiet_ms = 0;
        } else {
            self.quiet_ms += 20;
            self.loud_ms = 0;
        }
        if !self.talking && self.loud_ms >= SPEECH_ONSET_MS {
            self.talking = true;
            self.pending = true;
            self.speech_start_ms = self.audio_ms - self.loud_ms;
            self.last_partial_ms = self.speech_start_ms;
        }
        if self.talking && self.audio_ms - self.last_partial_ms >= PARTIAL_EVERY_MS {
            self.last_partial_ms = self.audio_ms;
            let line = self.line();
            let words: Vec<&str> = line.split_whitespace().collect();
            let n = (((self.audio_ms - self.speech_start_ms) / 300) as usize + 1).min(words.len());
            out.push(json!({"message_type": "partial_transcript", "text": words[..n].join(" ")}));
        }
        if self.talking && self.quiet_ms >= self.silence_ms.max(20) {
            self.talking = false;
            if self.vad {
                self.commit(out);
            }
        }
    }

    /// The segment so far as a committed transcript (empty when nothing was said).
    fn commit(&mut self, out: &mut Vec<Value>) {
        let text = if self.pending {
            self.line()
        } else {
            String::new()
        };
        self.talking = false;
        self.pending = false;
        if !text.is_empty() {
            self.utterance += 1;
            let logged = text.clone();
            self.log(|l| l.committed.push(logged));
        }
        out.push(json!({"message_type": "committed_transcript", "text": text}));
    }
}
