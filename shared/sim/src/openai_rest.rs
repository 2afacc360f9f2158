//! A fake of OpenAI's REST API on a loopback port, faithful on the wire for the two
//! endpoints hotline uses after a call (see `protocols/openai-realtime.md` §9–10):
//!
//! | request | answer |
//! |---|---|
//! | `POST /v1/audio/transcriptions` (multipart) | `{"text", "usage"}`, or the text, srt, vtt, `verbose_json`, `diarized_json` asked for |
//! | `POST /v1/chat/completions` (JSON) | a `chat.completion` whose `message.content` is a JSON string |
//! | `POST /v1/audio/speech` (JSON, the SDK's `SpeechCreateParams`) | raw PCM (16-bit LE, mono, 24 kHz) for `response_format: "pcm"` |
//!
//! Everything else answers 404 `Invalid URL (METHOD /path)`. Every request must carry
//! `Authorization: Bearer <key>` with the key the fake was started with, else 401.
//! Errors are OpenAI's JSON: `{"error": {"message", "type", "param", "code"}}`.
//!
//! What is checked, as OpenAI does: a transcription needs a `file` with a filename
//! of a supported format and a known `model`, a body of at most 25 MiB (else 413), and
//! a `response_format` the model supports. A chat completion needs `model` and a
//! non-empty `messages` array of `{role, content}`; a `json_schema` response format
//! needs a `name` matching `^[a-zA-Z0-9_-]{1,64}$`, and with `strict: true` a schema
//! whose root is an object and whose every object has `additionalProperties: false` and
//! lists all its properties in `required`. Violations answer 400 with messages shaped
//! like OpenAI's.
//!
//! Speech needs `model` (a known TTS model), `input` (at most 4096 characters), `voice`
//! (a built-in name or `{"id": …}`), and when given a known `response_format`, `speed`
//! within 0.25–4.0 and `stream_format` `audio` or `sse` (not `sse` on `tts-1*`). The
//! simulator renders `pcm` only (other formats answer 400 saying so): a tone
//! ([`FakeOpenAi::set_speech_tone`], 440 Hz by default) 50 ms long per character.
//!
//! What is answered: for a transcription, the text set for exactly that audio
//! ([`FakeOpenAi::set_transcript_for`]), else the default ([`FakeOpenAi::set_transcript`]),
//! else `(simulated transcription of N bytes)`. For a structured completion, what was
//! scripted for the schema's name ([`FakeOpenAi::respond`], [`FakeOpenAi::respond_raw`],
//! [`FakeOpenAi::refuse`]), else a value built from the schema that follows it; for a
//! plain-text completion, what [`FakeOpenAi::respond_text`] set, else `(simulated reply)`. For
//! tests: every request is recorded ([`FakeOpenAi::requests`], [`FakeOpenAi::wait_for`])
//! and requests can be made to fail ([`FakeOpenAi::fail_next`], [`FakeOpenAi::fail_always`]).
//!
//! The fake does not decode audio (any bytes transcribe) and does not check the answer
//! it was scripted with against the schema, so tests can make it misbehave. The
//! wording of messages for a missing file, an unsupported file format, an unknown
//! model and a model/format mismatch is the closest known, not checked against live
//! OpenAI.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::server::{self, Server, Shared};

/// The transcription endpoint's path.
pub const TRANSCRIPTIONS: &str = "/v1/audio/transcriptions";
/// The chat completions endpoint's path.
pub const CHAT_COMPLETIONS: &str = "/v1/chat/completions";
/// The text-to-speech endpoint's path.
pub const SPEECH: &str = "/v1/audio/speech";
/// `response_format: "pcm"`: 24 kHz, 16-bit little-endian, mono.
pub const SPEECH_PCM_RATE: u32 = 24_000;
/// Audio per character of `input`, ms.
pub const SPEECH_MS_PER_CHAR: u64 = 50;
/// The SDK's `SpeechModel` (openai 3.52).
const SPEECH_MODELS: [&str; 4] = [
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-12-15",
];
/// The SDK's built-in voices.
const SPEECH_VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
    "fable", "onyx", "nova",
];
const SPEECH_FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

/// OpenAI's upload limit: 25 MiB, the whole request body.
const MAX_BODY: usize = 25 * 1024 * 1024;
/// File extensions the transcription endpoint takes.
const AUDIO_FORMATS: [&str; 9] = [
    "flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm",
];
const TRANSCRIBE_MODELS: [&str; 6] = [
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "whisper-1",
    "gpt-4o-transcribe-diarize",
    "gpt-transcribe",
];
const ROLES: [&str; 6] = [
    "system",
    "assistant",
    "user",
    "function",
    "tool",
    "developer",
];
/// Bytes per second the fake assumes to give audio a duration (128 kbit/s).
const BYTES_PER_SECOND: f64 = 16_000.0;
/// How deep a schema's `$ref`s may lead while building an answer.
const MAX_DEPTH: usize = 32;

/// A running fake. The server stops when this is dropped.
pub struct FakeOpenAi {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

/// One request as the fake saw it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiRequest {
    pub method: String,
    /// E.g. `/v1/chat/completions`.
    pub path: String,
    /// The `model` asked for; empty when the request named none.
    pub model: String,
    /// `response_format.json_schema.name` of a chat completion.
    pub schema_name: Option<String>,
    /// A chat completion's messages as `(role, content)`; content parts are joined.
    pub messages: Vec<(String, String)>,
    /// The multipart text fields of a transcription (`model`, `prompt`, `language`,
    /// `response_format`, …), in order.
    pub fields: Vec<(String, String)>,
    /// The uploaded file's name and size.
    pub file_name: Option<String>,
    pub file_bytes: Option<usize>,
    /// Whether the request carried the right bearer key.
    pub authorized: bool,
    /// The HTTP status the fake answered.
    pub status: u16,
}

impl OpenAiRequest {
    /// The first value of a multipart text field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    api_key: String,
    default_transcript: Option<String>,
    /// By exact audio content.
    transcripts: HashMap<Vec<u8>, String>,
    /// By schema name.
    answers: HashMap<String, Answer>,
    /// What a plain-text completion (no `response_format`) answers.
    text_reply: Option<String>,
    requests: Vec<OpenAiRequest>,
    /// Statuses to answer the next requests with, before anything else is looked at.
    failures: VecDeque<u16>,
    /// A status to answer every request with, after `failures` run out.
    failing: Option<u16>,
    /// How long every answer is held back, as a slow model would.
    delay: Option<Duration>,
    /// The frequency of the simulated voice.
    speech_tone_hz: f64,
}

/// A scripted chat answer.
#[derive(Clone)]
enum Answer {
    /// Content: this value as JSON.
    Json(Value),
    /// Content: exactly this string.
    Raw(String),
    /// No content; `message.refusal` says this.
    Refusal(String),
}

impl fmt::Debug for FakeOpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeOpenAi")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeOpenAi {
    /// Starts a fake on a free loopback port that accepts `api_key` only.
    pub async fn start(api_key: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            api_key: api_key.to_owned(),
            default_transcript: None,
            transcripts: HashMap::new(),
            answers: HashMap::new(),
            text_reply: None,
            requests: Vec::new(),
            failures: VecDeque::new(),
            failing: None,
            delay: None,
            speech_tone_hz: 440.0,
        }));
        let server = Server::http(Arc::clone(&shared), handle).await?;
        Ok(Self {
            base_url: format!("http://{}/v1", server.addr()),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:{port}/v1`: what a client's base URL should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The text every transcription answers from now on, unless set for its audio.
    pub fn set_transcript(&self, text: impl Into<String>) {
        self.shared.lock().default_transcript = Some(text.into());
    }

    /// The text a transcription of exactly these audio bytes answers.
    pub fn set_transcript_for(&self, audio: &[u8], text: impl Into<String>) {
        self.shared
            .lock()
            .transcripts
            .insert(audio.to_vec(), text.into());
    }

    /// Every completion for this schema name answers `value` (as a JSON string in
    /// `message.content`) from now on, whether or not it follows the schema.
    pub fn respond(&self, schema_name: &str, value: Value) {
        self.script(schema_name, Answer::Json(value));
    }

    /// Every completion for this schema name answers exactly `content`, e.g. text that
    /// is not JSON.
    pub fn respond_raw(&self, schema_name: &str, content: impl Into<String>) {
        self.script(schema_name, Answer::Raw(content.into()));
    }

    /// Every completion for this schema name is refused with `text`.
    pub fn refuse(&self, schema_name: &str, text: impl Into<String>) {
        self.script(schema_name, Answer::Refusal(text.into()));
    }

    /// Every plain-text completion (one without a `response_format`, such as the answer
    /// to a text message) answers exactly `content` from now on, instead of
    /// `(simulated reply)`.
    pub fn respond_text(&self, content: impl Into<String>) {
        self.shared.lock().text_reply = Some(content.into());
    }

    fn script(&self, schema_name: &str, answer: Answer) {
        self.shared
            .lock()
            .answers
            .insert(schema_name.to_owned(), answer);
    }

    /// Answers the next `count` requests, whatever they are, with `status` and an
    /// OpenAI error body (429 with `Retry-After: 1`). They are recorded like any other.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.shared
            .lock()
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Answers every request with `status` until [`Self::clear_failures`].
    pub fn fail_always(&self, status: u16) {
        self.shared.lock().failing = Some(status);
    }

    /// The simulated voice speaks a tone of this frequency from now on.
    pub fn set_speech_tone(&self, hz: f64) {
        self.shared.lock().speech_tone_hz = hz;
    }

    /// Holds every answer back this long from now on (a slow model); `None` for none.
    pub fn delay(&self, delay: Option<Duration>) {
        self.shared.lock().delay = delay;
    }

    /// Forgets failures asked for with [`Self::fail_next`] and [`Self::fail_always`].
    pub fn clear_failures(&self) {
        let mut state = self.shared.lock();
        state.failures.clear();
        state.failing = None;
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<OpenAiRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests so far were for this path (e.g. [`CHAT_COMPLETIONS`]).
    pub fn count(&self, path: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// The earliest request so far that matches, or else the first to arrive within
    /// `timeout`; `None` when none did.
    pub async fn wait_for(
        &self,
        matches: impl Fn(&OpenAiRequest) -> bool,
        timeout: Duration,
    ) -> Option<OpenAiRequest> {
        self.shared
            .wait_until(
                |state| state.requests.iter().find(|r| matches(r)).cloned(),
                timeout,
            )
            .await
    }
}

/// A request body, read as its endpoint expects it (before the state is locked:
/// reading multipart is async).
enum Input {
    /// A transcription's multipart form.
    Form(Form),
    /// A transcription body over [`MAX_BODY`], with its size.
    TooLarge(usize),
    /// A transcription that is not `multipart/form-data`: the content type sent.
    NotMultipart(String),
    /// A transcription whose multipart body could not be parsed.
    BadForm,
    /// A chat completion's body, `None` when it is not JSON.
    Json(Option<Value>),
    /// A speech request's body, `None` when it is not JSON.
    Speech(Option<Value>),
    /// Any other path.
    Other,
}

struct Form {
    fields: Vec<(String, String)>,
    /// The `file` part: its filename, if any, and its bytes.
    file: Option<(Option<String>, Bytes)>,
}

impl Form {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let bearer = header(&request, AUTHORIZATION)
        .and_then(|h| h.strip_prefix("Bearer ").map(|k| k.trim().to_owned()));
    let content_type = header(&request, CONTENT_TYPE).unwrap_or_default();
    let body = server::body(request).await;
    let input = match path.as_str() {
        TRANSCRIPTIONS => read_form(&content_type, body).await,
        CHAT_COMPLETIONS => Input::Json(serde_json::from_slice(&body).ok()),
        SPEECH => Input::Speech(serde_json::from_slice(&body).ok()),
        _ => Input::Other,
    };

    let (reply, delay) = {
        let mut state = shared.lock();
        let authorized = bearer.as_deref() == Some(state.api_key.as_str());
        let reply = state.respond(&method, &path, bearer.as_deref(), &input);
        let record = record(method, path, &input, authorized, reply.status.as_u16());
        state.requests.push(record);
        (reply, state.delay)
    };
    shared.notify();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<String> {
    request
        .headers()
        .get(name)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

async fn read_form(content_type: &str, body: Bytes) -> Input {
    if body.len() > MAX_BODY {
        return Input::TooLarge(body.len());
    }
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Input::NotMultipart(content_type.to_owned());
    };
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form {
        fields: Vec::new(),
        file: None,
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Input::Form(form),
            Err(_) => return Input::BadForm,
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            return Input::BadForm;
        };
        if name == "file" {
            form.file = Some((file_name, bytes));
        } else {
            form.fields
                .push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
}

fn record(
    method: String,
    path: String,
    input: &Input,
    authorized: bool,
    status: u16,
) -> OpenAiRequest {
    let mut r = OpenAiRequest {
        method,
        path,
        model: String::new(),
        schema_name: None,
        messages: Vec::new(),
        fields: Vec::new(),
        file_name: None,
        file_bytes: None,
        authorized,
        status,
    };
    match input {
        Input::Form(form) => {
            r.model = form.field("model").unwrap_or_default().to_owned();
            r.fields.clone_from(&form.fields);
            if let Some((name, bytes)) = &form.file {
                r.file_name.clone_from(name);
                r.file_bytes = Some(bytes.len());
            }
        }
        Input::Json(Some(body)) => {
            r.model = body["model"].as_str().unwrap_or_default().to_owned();
            r.schema_name = body["response_format"]["json_schema"]["name"]
                .as_str()
                .map(str::to_owned);
            r.messages = body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let role = m["role"].as_str().unwrap_or_default().to_owned();
                    (role, content_text(&m["content"]).unwrap_or_default())
                })
                .collect();
        }
        Input::Speech(Some(body)) => {
            r.model = body["model"].as_str().unwrap_or_default().to_owned();
            for name in [
                "input",
                "voice",
                "response_format",
                "stream_format",
                "instructions",
            ] {
                match &body[name] {
                    Value::Null => {}
                    Value::String(v) => r.fields.push((name.to_owned(), v.clone())),
                    other => r.fields.push((name.to_owned(), other.to_string())),
                }
            }
        }
        Input::TooLarge(_)
        | Input::NotMultipart(_)
        | Input::BadForm
        | Input::Json(None)
        | Input::Speech(None)
        | Input::Other => {}
    }
    r
}

/// A message's content as text: the string, or the `text` of its content parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// What to answer, before it becomes a hyper response.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    retry_after: Option<u64>,
}

impl Reply {
    fn json(status: StatusCode, value: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            retry_after: None,
        }
    }

    fn text(text: String) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "text/plain; charset=utf-8",
            body: text.into_bytes(),
            retry_after: None,
        }
    }

    /// OpenAI's error body.
    fn error(
        status: StatusCode,
        kind: &str,
        message: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self::json(
            status,
            &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
        )
    }

    /// 400, `invalid_request_error`.
    fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message,
            param,
            code,
        )
    }

    fn missing(param: &str) -> Self {
        Self::invalid(
            &format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    fn invalid_url(method: &str, path: &str) -> Self {
        Self::error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("Invalid URL ({method} {path})"),
            None,
            None,
        )
    }

    fn unauthorized(key: Option<&str>) -> Self {
        let (message, code) = match key {
            None | Some("") => (
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), \
                 or as the password field (with blank username) if you're accessing the API \
                 from your browser and are prompted for a username and password. You can \
                 obtain an API key from https://platform.openai.com/account/api-keys."
                    .to_owned(),
                None,
            ),
            Some(key) => (
                format!(
                    "Incorrect API key provided: {}. You can find your API key at \
                     https://platform.openai.com/account/api-keys.",
                    masked(key)
                ),
                Some("invalid_api_key"),
            ),
        };
        Self::error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            &message,
            None,
            code,
        )
    }

    fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match status.as_u16() {
            401 => Self::unauthorized(Some("injected-failure")),
            429 => {
                let mut reply = Self::error(
                    status,
                    "requests",
                    "Rate limit reached for requests. Please try again in 1s.",
                    None,
                    Some("rate_limit_exceeded"),
                );
                reply.retry_after = Some(1);
                reply
            }
            503 => Self::error(
                status,
                "server_error",
                "The engine is currently overloaded, please try again later.",
                None,
                None,
            ),
            500..=599 => Self::error(
                status,
                "server_error",
                "The server had an error while processing your request. Sorry about that!",
                None,
                None,
            ),
            _ => Self::error(
                status,
                "invalid_request_error",
                status.canonical_reason().unwrap_or("Injected failure"),
                None,
                None,
            ),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Ok(id) = HeaderValue::from_str(&format!("req_{}", uuid::Uuid::new_v4().simple())) {
            headers.insert("x-request-id", id);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A key as OpenAI repeats it in a 401: its first and last characters only.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

impl State {
    fn respond(&mut self, method: &str, path: &str, key: Option<&str>, input: &Input) -> Reply {
        if let Some(status) = self.failures.pop_front().or(self.failing) {
            return Reply::injected(status);
        }
        if key != Some(self.api_key.as_str()) {
            return Reply::unauthorized(key);
        }
        match (method, input) {
            ("POST", Input::Json(body)) => self.chat(body.as_ref()),
            ("POST", Input::Speech(body)) => self.speech(body.as_ref()),
            ("POST", Input::Form(form)) => self.transcribe(form),
            ("POST", Input::TooLarge(size)) => Reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "server_error",
                &format!("Maximum content size limit ({MAX_BODY}) exceeded ({size} bytes read)"),
                None,
                None,
            ),
            ("POST", Input::NotMultipart(content_type)) => Reply::invalid(
                &format!(
                    "Invalid Content-Type header ({content_type}), expected multipart/form-data. \
                     (HINT: If you're using curl, you can pass -H \
                     'Content-Type: multipart/form-data')"
                ),
                None,
                None,
            ),
            ("POST", Input::BadForm) => {
                Reply::invalid("Could not parse multipart form", None, None)
            }
            _ => Reply::invalid_url(method, path),
        }
    }

    fn speech(&self, body: Option<&Value>) -> Reply {
        let Some(body) = body.filter(|b| b.is_object()) else {
            return Reply::invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means \
                 you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
                 payload, but what was sent was not valid JSON.)",
                None,
                None,
            );
        };
        let Some(model) = body["model"].as_str().filter(|m| !m.is_empty()) else {
            return Reply::missing("model");
        };
        let Some(input) = body["input"].as_str() else {
            return Reply::missing("input");
        };
        let voice_ok = match &body["voice"] {
            Value::Null => return Reply::missing("voice"),
            Value::String(v) => SPEECH_VOICES.contains(&v.as_str()),
            Value::Object(o) => o
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty()),
            _ => false,
        };
        if !SPEECH_MODELS.contains(&model) {
            return Reply::invalid(
                &format!("Invalid model '{model}' for text-to-speech."),
                Some("model"),
                Some("invalid_value"),
            );
        }
        let length = input.chars().count();
        if length > 4096 {
            return Reply::invalid(
                &format!(
                    "Invalid 'input': string too long. Expected a string with maximum length \
                     4096, but got a string with length {length} instead."
                ),
                Some("input"),
                Some("string_above_max_length"),
            );
        }
        if !voice_ok {
            let voices: Vec<String> = SPEECH_VOICES.iter().map(|v| format!("'{v}'")).collect();
            return Reply::invalid(
                &format!(
                    "Invalid value: '{}'. Supported values are: {}.",
                    body["voice"].as_str().unwrap_or_default(),
                    voices.join(", ")
                ),
                Some("voice"),
                Some("invalid_value"),
            );
        }
        let format = body["response_format"].as_str().unwrap_or("mp3");
        if !SPEECH_FORMATS.contains(&format) {
            return Reply::invalid(
                &format!(
                    "Invalid value: '{format}'. Supported values are: 'mp3', 'opus', 'aac', \
                     'flac', 'wav', and 'pcm'."
                ),
                Some("response_format"),
                Some("invalid_value"),
            );
        }
        if let Some(speed) = body.get("speed").filter(|v| !v.is_null())
            && !speed.as_f64().is_some_and(|s| (0.25..=4.0).contains(&s))
        {
            return Reply::invalid(
                "Invalid 'speed': expected a number between 0.25 and 4.0.",
                Some("speed"),
                Some("invalid_value"),
            );
        }
        let stream_format = body["stream_format"].as_str().unwrap_or("audio");
        if !matches!(stream_format, "audio" | "sse") {
            return Reply::invalid(
                &format!(
                    "Invalid value: '{stream_format}'. Supported values are: 'sse' and 'audio'."
                ),
                Some("stream_format"),
                Some("invalid_value"),
            );
        }
        if stream_format == "sse" && model.starts_with("tts-1") {
            return Reply::invalid(
                &format!("stream_format 'sse' is not supported for model '{model}'."),
                Some("stream_format"),
                Some("unsupported_value"),
            );
        }
        if format != "pcm" || stream_format != "audio" {
            return Reply::invalid(
                "The simulator renders response_format 'pcm' with stream_format 'audio' only.",
                Some("response_format"),
                Some("unsupported_by_simulator"),
            );
        }
        let ms = (length as u64 * SPEECH_MS_PER_CHAR).max(20);
        let samples = usize::try_from(ms * u64::from(SPEECH_PCM_RATE) / 1000).unwrap_or(0);
        let pcm = hotline_audio::sine(self.speech_tone_hz, SPEECH_PCM_RATE, 0.3, samples);
        Reply {
            status: StatusCode::OK,
            content_type: "application/octet-stream",
            body: pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
            retry_after: None,
        }
    }

    fn transcribe(&self, form: &Form) -> Reply {
        let Some((file_name, audio)) = &form.file else {
            return Reply::missing("file");
        };
        let extension = file_name
            .as_deref()
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase());
        if !extension.is_some_and(|e| AUDIO_FORMATS.contains(&e.as_str())) {
            let formats: Vec<String> = AUDIO_FORMATS.iter().map(|f| format!("'{f}'")).collect();
            return Reply::invalid(
                &format!(
                    "Invalid file format. Supported formats: [{}]",
                    formats.join(", ")
                ),
                None,
                None,
            );
        }
        let Some(model) = form.field("model").filter(|m| !m.is_empty()) else {
            return Reply::missing("model");
        };
        if !TRANSCRIBE_MODELS.contains(&model) {
            return Reply::invalid(
                &format!("Invalid model '{model}' for audio transcription."),
                Some("model"),
                Some("invalid_value"),
            );
        }
        let format = form.field("response_format").unwrap_or("json");
        let supported: &[&str] = match model {
            "whisper-1" => &["json", "text", "srt", "verbose_json", "vtt"],
            "gpt-4o-transcribe-diarize" => &["json", "text", "diarized_json"],
            _ => &["json", "text"],
        };
        if !matches!(
            format,
            "json" | "text" | "srt" | "verbose_json" | "vtt" | "diarized_json"
        ) {
            return Reply::invalid(
                &format!(
                    "Invalid value: '{format}'. Supported values are: 'json', 'text', 'srt', \
                     'verbose_json', 'vtt', and 'diarized_json'."
                ),
                Some("response_format"),
                Some("invalid_value"),
            );
        }
        if !supported.contains(&format) {
            return Reply::invalid(
                &format!(
                    "response_format '{format}' is not compatible with model '{model}'. \
                     Use {} instead.",
                    supported
                        .iter()
                        .map(|f| format!("'{f}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                Some("response_format"),
                Some("unsupported_value"),
            );
        }

        let text = self
            .transcripts
            .get(audio.as_ref())
            .or(self.default_transcript.as_ref())
            .cloned()
            .unwrap_or_else(|| format!("(simulated transcription of {} bytes)", audio.len()));
        transcription(model, format, &text, audio.len())
    }

    fn chat(&self, body: Option<&Value>) -> Reply {
        let Some(body @ Value::Object(_)) = body else {
            return Reply::invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means \
                 you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
                 payload, but what was sent was not valid JSON. If you have trouble figuring \
                 out how to fix this, please contact us through our help center at \
                 help.openai.com.)",
                None,
                None,
            );
        };
        let Some(model) = body["model"].as_str().filter(|m| !m.is_empty()) else {
            return Reply::invalid("you must provide a model parameter", None, None);
        };
        let messages = match check_messages(&body["messages"]) {
            Ok(messages) => messages,
            Err(reply) => return reply,
        };
        let format = &body["response_format"];
        let schema = match check_response_format(format, &messages) {
            Ok(schema) => schema,
            Err(reply) => return reply,
        };

        let (content, refusal) = match schema {
            Format::Schema { name, schema } => match self.answers.get(name) {
                Some(Answer::Json(value)) => (Some(value.to_string()), None),
                Some(Answer::Raw(content)) => (Some(content.clone()), None),
                Some(Answer::Refusal(text)) => (None, Some(text.clone())),
                None => (Some(synthesize(schema, schema, "", 0).to_string()), None),
            },
            Format::JsonObject => (Some("{}".to_owned()), None),
            Format::Text => (
                Some(
                    self.text_reply
                        .clone()
                        .unwrap_or_else(|| "(simulated reply)".to_owned()),
                ),
                None,
            ),
        };
        let prompt_chars: usize = messages.iter().map(|(_, c)| c.chars().count()).sum();
        let answer_chars = content
            .as_deref()
            .or(refusal.as_deref())
            .map_or(0, |t| t.chars().count());
        let (prompt_tokens, completion_tokens) = (tokens(prompt_chars), tokens(answer_chars));
        Reply::json(
            StatusCode::OK,
            &json!({
                "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
                "object": "chat.completion",
                "created": chrono::Utc::now().timestamp(),
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": refusal,
                        "annotations": [],
                    },
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": 0,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
                "service_tier": "default",
                "system_fingerprint": "fp_hotline_sim",
            }),
        )
    }
}

/// Roughly four characters a token, at least one.
fn tokens(chars: usize) -> usize {
    chars.div_ceil(4).max(1)
}

/// A transcription's answer in the format asked for.
fn transcription(model: &str, format: &str, text: &str, bytes: usize) -> Reply {
    let seconds = (bytes as f64 / BYTES_PER_SECOND * 100.0).round() / 100.0;
    let usage = if model == "whisper-1" {
        json!({"type": "duration", "seconds": seconds.ceil()})
    } else {
        let audio_tokens = tokens(bytes / 100);
        let output_tokens = tokens(text.chars().count());
        json!({
            "type": "tokens",
            "input_tokens": audio_tokens,
            "output_tokens": output_tokens,
            "total_tokens": audio_tokens + output_tokens,
            "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
        })
    };
    let stamp = |comma: char| {
        let total_ms = (seconds * 1000.0).round() as u64;
        let (h, m, s, ms) = (
            total_ms / 3_600_000,
            total_ms / 60_000 % 60,
            total_ms / 1000 % 60,
            total_ms % 1000,
        );
        format!("{h:02}:{m:02}:{s:02}{comma}{ms:03}")
    };
    match format {
        "text" => Reply::text(text.to_owned()),
        "srt" => Reply::text(format!("1\n00:00:00,000 --> {}\n{text}\n\n", stamp(','))),
        "vtt" => Reply::text(format!(
            "WEBVTT\n\n00:00:00.000 --> {}\n{text}\n\n",
            stamp('.')
        )),
        "verbose_json" => Reply::json(
            StatusCode::OK,
            &json!({
                "task": "transcribe",
                "language": "english",
                "duration": seconds,
                "text": text,
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": text,
                    "tokens": [], "temperature": 0.0, "avg_logprob": -0.2,
                    "compression_ratio": 1.0, "no_speech_prob": 0.01,
                }],
                "usage": usage,
            }),
        ),
        "diarized_json" => Reply::json(
            StatusCode::OK,
            &json!({
                "task": "transcribe",
                "duration": seconds,
                "text": text,
                "segments": [{
                    "type": "transcript.text.segment", "id": "seg_0",
                    "start": 0.0, "end": seconds, "speaker": "A", "text": text,
                }],
                "usage": usage,
            }),
        ),
        _ => Reply::json(StatusCode::OK, &json!({"text": text, "usage": usage})),
    }
}

/// `messages` as `(role, content)`, or the 400 OpenAI answers.
fn check_messages(messages: &Value) -> Result<Vec<(String, String)>, Reply> {
    let list = match messages {
        Value::Null => return Err(Reply::missing("messages")),
        Value::Array(list) if list.is_empty() => {
            return Err(Reply::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                 but got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        Value::Array(list) => list,
        other => {
            return Err(Reply::invalid(
                &format!(
                    "Invalid type for 'messages': expected an array of objects, but got {} \
                     instead.",
                    json_type(other)
                ),
                Some("messages"),
                Some("invalid_type"),
            ));
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, message) in list.iter().enumerate() {
        let param = format!("messages[{i}]");
        if !message.is_object() {
            return Err(Reply::invalid(
                &format!(
                    "Invalid type for '{param}': expected an object, but got {} instead.",
                    json_type(message)
                ),
                Some(&param),
                Some("invalid_type"),
            ));
        }
        let Some(role) = message["role"].as_str() else {
            return Err(Reply::missing(&format!("{param}.role")));
        };
        if !ROLES.contains(&role) {
            let param = format!("{param}.role");
            return Err(Reply::invalid(
                &format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', \
                     'user', 'function', 'tool', and 'developer'."
                ),
                Some(&param),
                Some("invalid_value"),
            ));
        }
        let content = match (&message["content"], role) {
            (Value::Null, "assistant") => String::new(),
            (Value::Null, _) => return Err(Reply::missing(&format!("{param}.content"))),
            (content, _) => content_text(content).ok_or_else(|| {
                let param = format!("{param}.content");
                Reply::invalid(
                    &format!(
                        "Invalid type for '{param}': expected one of a string or array of \
                         objects, but got {} instead.",
                        json_type(content)
                    ),
                    Some(&param),
                    Some("invalid_type"),
                )
            })?,
        };
        out.push((role.to_owned(), content));
    }
    Ok(out)
}

/// What kind of answer a request asked for.
enum Format<'a> {
    Text,
    JsonObject,
    Schema { name: &'a str, schema: &'a Value },
}

/// `response_format`, or the 400 OpenAI answers for it.
fn check_response_format<'a>(
    format: &'a Value,
    messages: &[(String, String)],
) -> Result<Format<'a>, Reply> {
    let kind = match format {
        Value::Null => return Ok(Format::Text),
        Value::Object(_) => format["type"].as_str(),
        other => {
            return Err(Reply::invalid(
                &format!(
                    "Invalid type for 'response_format': expected an object, but got {} \
                     instead.",
                    json_type(other)
                ),
                Some("response_format"),
                Some("invalid_type"),
            ));
        }
    };
    match kind {
        Some("text") => Ok(Format::Text),
        Some("json_object") => {
            if messages
                .iter()
                .any(|(_, c)| c.to_ascii_lowercase().contains("json"))
            {
                Ok(Format::JsonObject)
            } else {
                Err(Reply::invalid(
                    "'messages' must contain the word 'json' in some form, to use \
                     'response_format' of type 'json_object'.",
                    Some("messages"),
                    None,
                ))
            }
        }
        Some("json_schema") => check_json_schema(&format["json_schema"]),
        None => Err(Reply::missing("response_format.type")),
        Some(other) => Err(Reply::invalid(
            &format!(
                "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', \
                 and 'text'."
            ),
            Some("response_format.type"),
            Some("invalid_value"),
        )),
    }
}

fn check_json_schema(spec: &Value) -> Result<Format<'_>, Reply> {
    if spec.is_null() {
        return Err(Reply::missing("response_format.json_schema"));
    }
    let Some(name) = spec["name"].as_str() else {
        return Err(Reply::missing("response_format.json_schema.name"));
    };
    let param = "response_format.json_schema.name";
    if name.chars().count() > 64 {
        return Err(Reply::invalid(
            &format!(
                "Invalid '{param}': string too long. Expected a string with maximum length 64, \
                 but got a string with length {} instead.",
                name.chars().count()
            ),
            Some(param),
            Some("string_above_max_length"),
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Reply::invalid(
            &format!(
                "Invalid '{param}': string does not match pattern. Expected a string that \
                 matches the pattern '^[a-zA-Z0-9_-]+$'."
            ),
            Some(param),
            Some("invalid_value"),
        ));
    }
    let schema = &spec["schema"];
    if spec["strict"] == Value::Bool(true)
        && let Some(problem) = strict_violation(schema)
    {
        return Err(Reply::invalid(
            &format!("Invalid schema for response_format '{name}': {problem}"),
            Some("response_format"),
            None,
        ));
    }
    Ok(Format::Schema { name, schema })
}

/// The first rule of OpenAI's strict mode the schema breaks, worded like OpenAI: the
/// root is an object, and every object has `additionalProperties: false` and lists
/// every property in `required`.
fn strict_violation(schema: &Value) -> Option<String> {
    if schema["type"] != "object" {
        let got = match &schema["type"] {
            Value::String(t) => t.clone(),
            Value::Null => "None".to_owned(),
            other => other.to_string(),
        };
        return Some(format!(
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
        ));
    }
    let mut context = Vec::new();
    object_violation(schema, &mut context)
}

fn object_violation(schema: &Value, context: &mut Vec<String>) -> Option<String> {
    let Value::Object(node) = schema else {
        return None;
    };
    let is_object = match &node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => node.contains_key("properties"),
    };
    let empty = Map::new();
    let properties = node
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if is_object {
        let ctx = python_tuple(context);
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Some(format!(
                "In context={ctx}, 'additionalProperties' is required to be supplied and to be \
                 false."
            ));
        }
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(missing) = properties.keys().find(|k| !required.contains(&k.as_str())) {
            return Some(format!(
                "In context={ctx}, 'required' is required to be supplied and to be an array \
                 including every key in properties. Missing '{missing}'."
            ));
        }
    }
    let mut children: Vec<(Vec<String>, &Value)> = properties
        .iter()
        .map(|(k, v)| (vec!["properties".to_owned(), k.clone()], v))
        .collect();
    if let Some(items) = node.get("items") {
        children.push((vec!["items".to_owned()], items));
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        for (i, member) in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            children.push((vec![key.to_owned(), i.to_string()], member));
        }
    }
    for key in ["$defs", "definitions"] {
        for (name, def) in node
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            children.push((vec![key.to_owned(), name.clone()], def));
        }
    }
    for (steps, child) in children {
        let depth = context.len();
        context.extend(steps);
        let found = object_violation(child, context);
        context.truncate(depth);
        if found.is_some() {
            return found;
        }
    }
    None
}

/// `()`, `('items',)`, `('properties', 'a')`: a path as OpenAI (in Python) prints it.
fn python_tuple(parts: &[String]) -> String {
    let quoted: Vec<String> = parts.iter().map(|p| format!("'{p}'")).collect();
    match quoted.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", quoted.join(", ")),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value that follows `schema`, the same every time: the first enum value or const,
/// `null` where null is allowed, a placeholder string, 0, false, an empty array, and
/// objects with every required property. `key` is the property being built, for the
/// placeholder; `$ref`s are resolved against `root`.
fn synthesize(schema: &Value, root: &Value, key: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        return match reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => synthesize(target, root, key, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    if let Some(members) = schema["anyOf"].as_array() {
        if members.iter().any(|m| m["type"] == "null") {
            return Value::Null;
        }
        return members
            .first()
            .map_or(Value::Null, |m| synthesize(m, root, key, depth + 1));
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) if types.iter().any(|t| t == "null") => return Value::Null,
        Value::Array(types) => types.first().and_then(Value::as_str).unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "string" => Value::String(placeholder(schema["format"].as_str(), key)),
        "integer" | "number" => json!(0),
        "boolean" => Value::Bool(false),
        "array" => json!([]),
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let object: Map<String, Value> = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(name, _)| required.contains(&name.as_str()))
                .map(|(name, property)| (name.clone(), synthesize(property, root, name, depth + 1)))
                .collect();
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

fn placeholder(format: Option<&str>, key: &str) -> String {
    match format {
        Some("date") => "2026-01-15".to_owned(),
        Some("date-time") => "2026-01-15T09:30:00Z".to_owned(),
        Some("time") => "09:30:00".to_owned(),
        Some("email") => "caller@example.com".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ if key.is_empty() => "simulated".to_owned(),
        _ => format!("simulated {}", key.replace('_', " ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(schema: Value) -> Option<String> {
        strict_violation(&schema)
    }

    #[test]
    fn strict_mode_rules_are_worded_like_openai() {
        let ok = json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "summary": {"type": "string"},
                "items": {"type": "array", "items": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"what": {"type": "string"}}, "required": ["what"]}},
            },
            "required": ["summary", "items"],
        });
        assert_eq!(strict(ok), None);

        assert_eq!(
            strict(json!({"type": "array", "items": {"type": "string"}})).as_deref(),
            Some("schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.")
        );
        assert_eq!(
            strict(json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}))
                .as_deref(),
            Some("In context=(), 'additionalProperties' is required to be supplied and to be false.")
        );
        assert_eq!(
            strict(json!({"type": "object", "additionalProperties": false,
                "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}))
                .as_deref(),
            Some(
                "In context=(), 'required' is required to be supplied and to be an array \
                 including every key in properties. Missing 'b'."
            )
        );
        let nested = json!({"type": "object", "additionalProperties": false,
            "properties": {"who": {"type": "object", "properties": {"name": {"type": "string"}},
                "required": ["name"]}},
            "required": ["who"]});
        assert_eq!(
            strict(nested).as_deref(),
            Some(
                "In context=('properties', 'who'), 'additionalProperties' is required to be \
                 supplied and to be false."
            )
        );
        let in_items = json!({"type": "object", "additionalProperties": false,
            "properties": {"list": {"type": "array", "items": {"type": "object", "properties": {}}}},
            "required": ["list"]});
        assert!(
            strict(in_items)
                .is_some_and(|m| m.starts_with("In context=('properties', 'list', 'items'),"))
        );
        assert_eq!(python_tuple(&["items".to_owned()]), "('items',)");
    }

    #[test]
    fn an_unscripted_answer_follows_the_schema() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "summary": {"type": "string"},
                "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                "callback_requested": {"type": "boolean"},
                "follow_up_date": {"type": ["string", "null"]},
                "score": {"type": "integer"},
                "topics": {"type": "array", "items": {"type": "string"}},
                "contact": {"$ref": "#/$defs/contact"},
                "channel": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "when": {"type": "string", "format": "date"},
            },
            "required": ["summary", "sentiment", "callback_requested", "follow_up_date",
                         "score", "topics", "contact", "channel", "when"],
            "$defs": {"contact": {"type": "object", "additionalProperties": false,
                "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        });
        let value = synthesize(&schema, &schema, "", 0);
        assert_eq!(
            value,
            json!({
                "summary": "simulated summary",
                "sentiment": "positive",
                "callback_requested": false,
                "follow_up_date": null,
                "score": 0,
                "topics": [],
                "contact": {"name": "simulated name"},
                "channel": null,
                "when": "2026-01-15",
            })
        );
    }

    #[test]
    fn a_recursive_schema_still_ends() {
        let schema =
            json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        let value = synthesize(&schema, &schema, "", 0);
        assert!(value.pointer("/next/next/next").is_some());
    }

    #[test]
    fn keys_are_masked_like_openai_does() {
        assert_eq!(masked("sk-test-1234567890"), "sk-***********7890");
        assert_eq!(masked("short"), "*****");
    }
}
