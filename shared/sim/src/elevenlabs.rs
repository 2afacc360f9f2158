//! A simulator of ElevenLabs: its realtime speech-to-text socket ([`realtime`], on the
//! same port) and its streaming text-to-speech over HTTP
//! (`POST /v1/text-to-speech/{voice_id}/stream`, `protocols/elevenlabs.md` §4), on a
//! loopback port. The notes recommend this endpoint for one sentence per request, which
//! is how hotline's pipeline speaks; `tests/elevenlabs_python.py` drives it with the
//! `elevenlabs` SDK's own client.
//!
//! Checked as ElevenLabs does: the key in `xi-api-key` (else 401
//! `invalid_api_key`), a known `output_format` (else 422; the simulator renders
//! `ulaw_8000` only and answers 400 for the others it knows), a voice it has (else 404
//! `voice_not_found`), a JSON body with non-empty `text` (else 422 with pydantic's
//! list), no `null` inside `voice_settings` (422). The answer is chunked raw µ-law
//! with no header: the "voice" is a tone, [`Script::ms_per_char`] long per character,
//! written [`Script::chunk_ms`] at a time, paced as [`Script::pace`] says. Every request
//! is logged with whether the client read it to the end or went away (a barge-in).
//! [`Script::refuse`] answers every request (or the first [`Script::refuse_count`]) with
//! a status, [`Script::fail_request`] breaks one request's body off halfway (a dropped
//! connection). Each request's log says when it came and when its body ended, so a
//! test can tell whether the next sentence was asked for while one still streamed.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::realtime::Pace;
use crate::server::{self, Server, Shared, StreamingBody};

mod realtime;
pub use realtime::{STT_PATH, SttSession};

/// Every `output_format` the HTTP stream endpoint takes (SDK 2.78.0).
pub const OUTPUT_FORMATS: &[&str] = &[
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
];

/// What the simulated service says and does. Start from [`Script::default`].
#[derive(Debug, Clone)]
pub struct Script {
    /// The key `xi-api-key` must carry; `None` accepts any (`hotline up`).
    pub api_key: Option<String>,
    /// Voice ids it has; empty accepts any.
    pub voices: Vec<String>,
    /// Answer every request with this status and ElevenLabs' error body.
    pub refuse: Option<u16>,
    /// With `refuse`: only the first this many requests are refused; `None`: all.
    pub refuse_count: Option<usize>,
    /// Break this request's body off halfway (0-based, counting every request).
    pub fail_request: Option<usize>,
    /// Audio per character of text, ms.
    pub ms_per_char: u32,
    /// Audio per chunk written, ms.
    pub chunk_ms: u32,
    pub pace: Pace,
    /// The voice: a tone of this frequency at about -12 dBFS.
    pub tone_hz: f32,
    /// Speech-to-text ([`STT_PATH`]): what the caller says, utterance by utterance
    /// (cycling).
    pub heard: Vec<String>,
    /// Refuse every speech-to-text upgrade with this HTTP status.
    pub stt_refuse: Option<u16>,
    /// Drop or close each speech-to-text session at a point of the caller's audio.
    pub stt_fail: Option<crate::deepgram::Failure>,
    /// Stage `stt_fail` in this session only (0-based); `None`: in every session.
    pub stt_fail_session: Option<usize>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            api_key: None,
            voices: Vec::new(),
            refuse: None,
            refuse_count: None,
            fail_request: None,
            ms_per_char: 50,
            chunk_ms: 100,
            pace: Pace::Burst,
            tone_hz: 440.0,
            heard: Vec::new(),
            stt_refuse: None,
            stt_fail: None,
            stt_fail_session: None,
        }
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    pub path: String,
    pub voice_id: String,
    pub output_format: Option<String>,
    pub key_ok: bool,
    /// The JSON body as sent.
    pub body: Value,
    pub status: u16,
    /// Audio bytes written (µ-law: 8 a ms).
    pub bytes_sent: u64,
    /// All of the audio was written and the body ended.
    pub completed: bool,
    /// The client went away before the end (barge-in), or the body was broken off.
    pub aborted: bool,
    /// When the request came in.
    pub received_at: std::time::Instant,
    /// When its body ended (all written, broken off, or the client gone).
    pub ended_at: Option<std::time::Instant>,
}

impl TtsRequest {
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }
}

struct State {
    script: Arc<Script>,
    requests: Vec<TtsRequest>,
    stt_sessions: Vec<SttSession>,
}

/// A running simulator; it stops when dropped.
pub struct ElevenLabsSim {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

impl std::fmt::Debug for ElevenLabsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElevenLabsSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ElevenLabsSim {
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            script: Arc::new(script),
            requests: Vec::new(),
            stt_sessions: Vec::new(),
        }));
        let server = Server::http_streaming(Arc::clone(&shared), handle).await?;
        Ok(Self {
            base_url: format!("http://{}", server.addr()),
            shared,
            _server: server,
        })
    }

    /// What `ELEVENLABS_BASE_URL` should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn set_script(&self, script: Script) {
        self.shared.lock().script = Arc::new(script);
    }

    pub fn requests(&self) -> Vec<TtsRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every speech-to-text connection so far.
    pub fn stt_sessions(&self) -> Vec<SttSession> {
        self.shared.lock().stt_sessions.clone()
    }

    /// The first speech-to-text session whose log matches, now or within `timeout`.
    pub async fn wait_for_stt_session(
        &self,
        matches: impl Fn(&SttSession) -> bool,
        timeout: Duration,
    ) -> Option<SttSession> {
        self.shared
            .wait_until(
                |s| s.stt_sessions.iter().find(|l| matches(l)).cloned(),
                timeout,
            )
            .await
    }

    /// The first request that matches and has finished (completed or aborted), now or
    /// within `timeout`.
    pub async fn wait_for(
        &self,
        matches: impl Fn(&TtsRequest) -> bool,
        timeout: Duration,
    ) -> Option<TtsRequest> {
        self.shared
            .wait_until(
                |s| {
                    s.requests
                        .iter()
                        .find(|r| (r.completed || r.aborted || r.status != 200) && matches(r))
                        .cloned()
                },
                timeout,
            )
            .await
    }
}

fn error(status: u16, detail: Value) -> Response<StreamingBody> {
    let mut response = Response::new(server::whole(json!({ "detail": detail }).to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn refusal(status: u16) -> Value {
    match status {
        401 => json!({"status": "quota_exceeded",
            "message": "This request exceeds your quota of 10000. You have 0 credits remaining, while 91 credits are required for this request."}),
        429 => json!({"status": "too_many_concurrent_requests",
            "message": "Too many concurrent requests for this plan."}),
        _ => json!({"status": "system_busy",
            "message": "We are sorry, something went wrong. You are not charged for this request."}),
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<StreamingBody> {
    let script = Arc::clone(&shared.lock().script);
    let path = request.uri().path().to_owned();
    if path == STT_PATH {
        return realtime::upgrade(shared, script, request);
    }
    let output_format = request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "output_format")
            .map(|(_, v)| v.into_owned())
    });
    let key = request
        .headers()
        .get("xi-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let key_ok = match (&script.api_key, &key) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(got)) => want == got,
    };
    let voice_id = path
        .strip_prefix("/v1/text-to-speech/")
        .and_then(|rest| rest.strip_suffix("/stream"))
        .filter(|v| !v.is_empty() && !v.contains('/'))
        .map(str::to_owned);
    let is_post = request.method() == hyper::Method::POST;
    let body = server::body(request).await;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let mut log = TtsRequest {
        path: path.clone(),
        voice_id: voice_id.clone().unwrap_or_default(),
        output_format: output_format.clone(),
        key_ok,
        body: json.clone().unwrap_or(Value::Null),
        status: 200,
        bytes_sent: 0,
        completed: false,
        aborted: false,
        received_at: std::time::Instant::now(),
        ended_at: None,
    };
    let refused_now = script
        .refuse_count
        .is_none_or(|n| shared.lock().requests.len() < n);
    let answer = check(
        &script,
        refused_now,
        is_post,
        voice_id.as_deref(),
        key_ok,
        output_format.as_deref(),
        json.as_ref(),
    );
    let index = {
        let mut state = shared.lock();
        if let Err((status, _)) = &answer {
            log.status = *status;
        }
        state.requests.push(log);
        state.requests.len() - 1
    };
    shared.notify();
    let text = match answer {
        Ok(text) => text,
        Err((status, detail)) => return error(status, detail),
    };
    let (tx, body) = server::channel_body();
    let breaks = script.fail_request == Some(index);
    tokio::spawn(async move {
        let ms = (text.chars().count() as u64 * u64::from(script.ms_per_char)).max(20);
        let audio = hotline_audio::tone_mulaw(script.tone_hz, 0.355, ms as u32);
        let per_chunk = (script.chunk_ms.max(1) as usize) * 8;
        let started = tokio::time::Instant::now();
        let mut sent: u64 = 0;
        let chunks: Vec<&[u8]> = audio.chunks(per_chunk).collect();
        let half = chunks.len() / 2;
        for (i, chunk) in chunks.into_iter().enumerate() {
            if breaks && i == half.max(1) {
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset (simulated)")))
                    .await;
                mark(&shared, index, |r| {
                    r.aborted = true;
                    r.ended_at = Some(std::time::Instant::now());
                });
                return;
            }
            if let Some(delay) = script.pace.delay(sent / 8) {
                tokio::time::sleep_until(started + delay).await;
            }
            if tx.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                mark(&shared, index, |r| {
                    r.aborted = true;
                    r.ended_at = Some(std::time::Instant::now());
                });
                return;
            }
            sent += chunk.len() as u64;
            mark(&shared, index, |r| r.bytes_sent = sent);
            tokio::task::yield_now().await;
        }
        // Dropping the sender ends the body; a client that already went away shows in
        // the closed channel.
        let gone = tx.is_closed();
        drop(tx);
        mark(&shared, index, |r| {
            r.ended_at = Some(std::time::Instant::now());
            if gone {
                r.aborted = true;
            } else {
                r.completed = true;
            }
        });
    });
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("audio/basic"));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()) {
        headers.insert("request-id", id);
    }
    response
}

fn mark(shared: &Shared<State>, index: usize, change: impl FnOnce(&mut TtsRequest)) {
    {
        let mut state = shared.lock();
        if let Some(r) = state.requests.get_mut(index) {
            change(r);
        }
    }
    shared.notify();
}

/// The text to speak, or the error ElevenLabs would answer.
fn check(
    script: &Script,
    refused_now: bool,
    is_post: bool,
    voice_id: Option<&str>,
    key_ok: bool,
    output_format: Option<&str>,
    body: Option<&Value>,
) -> Result<String, (u16, Value)> {
    let Some(voice_id) = voice_id.filter(|_| is_post) else {
        return Err((404, json!({"status": "not_found", "message": "Not Found"})));
    };
    if !key_ok {
        return Err((
            401,
            json!({"status": "invalid_api_key", "message": "Invalid API key"}),
        ));
    }
    if let Some(status) = script.refuse.filter(|_| refused_now) {
        return Err((status, refusal(status)));
    }
    if !script.voices.is_empty() && !script.voices.iter().any(|v| v == voice_id) {
        return Err((
            404,
            json!({"status": "voice_not_found",
                "message": format!("A voice with the voice_id {voice_id} was not found.")}),
        ));
    }
    let format = output_format.unwrap_or("mp3_44100_128");
    if !OUTPUT_FORMATS.contains(&format) {
        return Err((
            422,
            json!([{"type": "enum", "loc": ["query", "output_format"],
                "msg": format!("Input should be one of the supported output formats, got '{format}'"),
                "input": format}]),
        ));
    }
    if format != "ulaw_8000" {
        return Err((
            400,
            json!({"status": "unsupported_by_simulator",
                "message": "The simulator renders ulaw_8000 only."}),
        ));
    }
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Err((
            422,
            json!([{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error", "input": null}]),
        ));
    };
    if let Some(settings) = body.get("voice_settings")
        && let Some(settings) = settings.as_object()
        && let Some((name, _)) = settings.iter().find(|(_, v)| v.is_null())
    {
        return Err((
            422,
            json!([{"type": "float_type", "loc": ["body", "voice_settings", name],
                "msg": "Input should be a valid number", "input": null}]),
        ));
    }
    match body.get("text").and_then(Value::as_str) {
        Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
        _ => Err((
            422,
            json!([{"type": "missing", "loc": ["body", "text"], "msg": "Field required", "input": body}]),
        )),
    }
}
