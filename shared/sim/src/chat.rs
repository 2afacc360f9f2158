//! A simulator of OpenAI's chat completions with streaming and tool calls
//! (`POST /v1/chat/completions`, `"stream": true`), what hotline's pipeline provider
//! talks to (any OpenAI-compatible server). `tests/openai_chat_python.py` runs the
//! `openai` SDK's own streaming client and `ChatCompletionChunk` types over it.
//!
//! Checked as OpenAI does: `Authorization: Bearer <key>` (else 401
//! `invalid_api_key`), a `model`, a non-empty `messages` array of known roles, and the
//! tool-call rule: every assistant message with `tool_calls` is followed by one `tool`
//! message per call id, and a `tool` message answers such a call (else 400 with
//! OpenAI's wording). The answer is server-sent events: `data: {chat.completion.chunk}`
//! lines, the first delta with the role, then the content a few words at a time or a
//! function call (`tool_calls[].function.arguments` in pieces), the last chunk with
//! `finish_reason` (`stop` or `tool_calls`), a usage chunk when
//! `stream_options.include_usage`, then `data: [DONE]`. Without `stream` the same
//! answer comes as one `chat.completion`.
//!
//! What it answers is scripted ([`Script::replies`], taken in order, one per request);
//! [`Script::word_ms`] paces the words, [`Script::refuse`] answers every request (or the
//! first [`Script::refuse_count`]) with a status, [`Script::fail_request`] breaks one request's stream off halfway.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::server::{self, Server, Shared, StreamingBody};

/// The endpoint's path.
pub const CHAT_COMPLETIONS: &str = "/v1/chat/completions";
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The assistant says this.
    Text(String),
    /// The assistant calls a function (and says nothing).
    Call { name: String, arguments: Value },
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    pub fn call(name: impl Into<String>, arguments: Value) -> Self {
        Self::Call {
            name: name.into(),
            arguments,
        }
    }
}

/// What the simulated model answers. Start from [`Script::default`].
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The bearer key; `None` accepts any (`hotline up`).
    pub api_key: Option<String>,
    /// Answers, one per request in order; past the end, `(reply N)`.
    pub replies: Vec<Reply>,
    /// Delay before each content chunk (a word or two), ms; 0 sends them at once.
    pub word_ms: u64,
    /// Answer every request with this status and OpenAI's error body.
    pub refuse: Option<u16>,
    /// With `refuse`: only the first this many requests are refused (errors on cue,
    /// then answers); `None` refuses them all.
    pub refuse_count: Option<usize>,
    /// Break this request's stream off halfway (0-based).
    pub fail_request: Option<usize>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    /// The messages as sent.
    pub messages: Vec<Value>,
    /// The names of the function tools offered.
    pub tools: Vec<String>,
    pub key_ok: bool,
    pub status: u16,
    /// The answer it was given (none for an error).
    pub reply: Option<Reply>,
    /// The stream was read to `[DONE]`.
    pub completed: bool,
    /// The client went away before the end, or the stream was broken off.
    pub aborted: bool,
}

impl ChatRequest {
    /// `(role, content)` of each message; content parts joined, none as "".
    pub fn turns(&self) -> Vec<(String, String)> {
        self.messages
            .iter()
            .map(|m| {
                let content = match &m["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join(""),
                    _ => String::new(),
                };
                (m["role"].as_str().unwrap_or_default().to_owned(), content)
            })
            .collect()
    }
}

struct State {
    script: Arc<Script>,
    requests: Vec<ChatRequest>,
}

/// A running simulator; it stops when dropped.
pub struct ChatSim {
    base_url: String,
    shared: Arc<Shared<State>>,
    _server: Server,
}

impl std::fmt::Debug for ChatSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSim")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ChatSim {
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            script: Arc::new(script),
            requests: Vec::new(),
        }));
        let server = Server::http_streaming(Arc::clone(&shared), handle).await?;
        Ok(Self {
            base_url: format!("http://{}/v1", server.addr()),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:{port}/v1`: what `OPENAI_BASE_URL` should say.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn set_script(&self, script: Script) {
        self.shared.lock().script = Arc::new(script);
    }

    pub fn requests(&self) -> Vec<ChatRequest> {
        self.shared.lock().requests.clone()
    }

    /// The first request that matches, now or within `timeout`.
    pub async fn wait_for(
        &self,
        matches: impl Fn(&ChatRequest) -> bool,
        timeout: Duration,
    ) -> Option<ChatRequest> {
        self.shared
            .wait_until(|s| s.requests.iter().find(|r| matches(r)).cloned(), timeout)
            .await
    }
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response<StreamingBody> {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let mut response = Response::new(server::whole(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<StreamingBody> {
    let script = Arc::clone(&shared.lock().script);
    if request.method() != hyper::Method::POST || request.uri().path() != CHAT_COMPLETIONS {
        let message = format!(
            "Invalid URL ({} {})",
            request.method(),
            request.uri().path()
        );
        return error(404, &message, "invalid_request_error", None);
    }
    let key = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let key_ok = match (&script.api_key, &key) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(got)) => want == got,
    };
    let body: Value = serde_json::from_slice(&server::body(request).await).unwrap_or(Value::Null);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let tools: Vec<String> = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut log = ChatRequest {
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        stream: body["stream"].as_bool().unwrap_or(false),
        messages: messages.clone(),
        tools,
        key_ok,
        status: 200,
        reply: None,
        completed: false,
        aborted: false,
    };
    let refusal = if !key_ok {
        Some((
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".to_owned(),
            "invalid_request_error",
            Some("invalid_api_key"),
        ))
    } else if let Some(status) = script.refuse.filter(|_| {
        script
            .refuse_count
            .is_none_or(|n| shared.lock().requests.len() < n)
    }) {
        Some(match status {
            429 => (
                429,
                "Rate limit reached for requests".to_owned(),
                "requests",
                Some("rate_limit_exceeded"),
            ),
            _ => (
                status,
                "The server had an error while processing your request. Sorry about that!"
                    .to_owned(),
                "server_error",
                None,
            ),
        })
    } else if log.model.is_empty() {
        Some((
            400,
            "you must provide a model parameter".to_owned(),
            "invalid_request_error",
            None,
        ))
    } else {
        check_messages(&messages)
            .err()
            .map(|m| (400, m, "invalid_request_error", None))
    };
    let index = {
        let mut state = shared.lock();
        let index = state.requests.len();
        // Answers go to the requests answered, in order: a refused one takes none.
        let answered = state.requests.iter().filter(|r| r.status == 200).count();
        let reply = script
            .replies
            .get(answered)
            .cloned()
            .unwrap_or_else(|| Reply::Text(format!("(reply {})", answered + 1)));
        if let Some((status, ..)) = &refusal {
            log.status = *status;
        } else {
            log.reply = Some(reply);
        }
        state.requests.push(log);
        index
    };
    shared.notify();
    if let Some((status, message, kind, code)) = refusal {
        return error(status, &message, kind, code);
    }
    let reply = shared.lock().requests[index].reply.clone();
    let Some(reply) = reply else {
        return error(500, "no reply", "server_error", None);
    };
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    if !body["stream"].as_bool().unwrap_or(false) {
        let message = match &reply {
            Reply::Text(text) => json!({"role": "assistant", "content": text, "refusal": null}),
            Reply::Call { name, arguments } => json!({"role": "assistant", "content": null,
                "refusal": null, "tool_calls": [{"id": format!("call_{index}"), "type": "function",
                "function": {"name": name, "arguments": arguments.to_string()}}]}),
        };
        let finish = if matches!(reply, Reply::Call { .. }) {
            "tool_calls"
        } else {
            "stop"
        };
        let answer = json!({"id": id, "object": "chat.completion", "created": created,
            "model": model, "choices": [{"index": 0, "message": message, "logprobs": null,
            "finish_reason": finish}], "usage": usage(&messages, &reply)});
        mark(&shared, index, |r| r.completed = true);
        let mut response = Response::new(server::whole(answer.to_string()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return response;
    }
    let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_hotline_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = Vec::new();
    let finish = match &reply {
        Reply::Text(text) => {
            events.push(chunk(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            ));
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            for piece in words.chunks(2) {
                events.push(chunk(json!({"content": piece.concat()}), None));
            }
            "stop"
        }
        Reply::Call { name, arguments } => {
            events.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
                    "id": format!("call_{index}"), "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            let args = arguments.to_string();
            let bytes: Vec<char> = args.chars().collect();
            for piece in bytes.chunks(8) {
                let piece: String = piece.iter().collect();
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(json!({}), Some(finish)));
    if include_usage {
        let mut last = chunk(json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage(&messages, &reply);
        events.push(last);
    }
    let (tx, body) = server::channel_body();
    let breaks = script.fail_request == Some(index);
    let word_ms = script.word_ms;
    tokio::spawn(async move {
        let half = events.len() / 2;
        for (i, event) in events.into_iter().enumerate() {
            if breaks && i == half.max(1) {
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset (simulated)")))
                    .await;
                mark(&shared, index, |r| r.aborted = true);
                return;
            }
            if word_ms > 0 && i > 0 {
                tokio::time::sleep(Duration::from_millis(word_ms)).await;
            }
            let line = Bytes::from(format!("data: {event}\n\n"));
            if tx.send(Ok(line)).await.is_err() {
                mark(&shared, index, |r| r.aborted = true);
                return;
            }
        }
        let done = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
        mark(&shared, index, |r| {
            if done.is_ok() {
                r.completed = true;
            } else {
                r.aborted = true;
            }
        });
    });
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

fn usage(messages: &[Value], reply: &Reply) -> Value {
    let prompt: usize = messages.iter().map(|m| m.to_string().len() / 4 + 1).sum();
    let completion = match reply {
        Reply::Text(t) => t.len() / 4 + 1,
        Reply::Call { arguments, .. } => arguments.to_string().len() / 4 + 5,
    };
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion})
}

fn mark(shared: &Shared<State>, index: usize, change: impl FnOnce(&mut ChatRequest)) {
    {
        let mut state = shared.lock();
        if let Some(r) = state.requests.get_mut(index) {
            change(r);
        }
    }
    shared.notify();
}

/// OpenAI's checks on `messages`, worded as it words them.
fn check_messages(messages: &[Value]) -> Result<(), String> {
    if messages.is_empty() {
        return Err("[] is too short - 'messages'".to_owned());
    }
    let mut awaiting: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if !ROLES.contains(&role) {
            return Err(format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
            ));
        }
        if role == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            if !awaiting.iter().any(|a| a == id) {
                return Err(format!(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[{i}])"
                ));
            }
            awaiting.retain(|a| a != id);
            continue;
        }
        if !awaiting.is_empty() {
            return Err(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                awaiting.join(", ")
            ));
        }
        if role == "assistant"
            && let Some(calls) = m["tool_calls"].as_array()
        {
            awaiting = calls
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
        } else if m.get("content").is_none_or(Value::is_null) {
            return Err(format!(
                "Missing required parameter: 'messages[{i}].content'."
            ));
        }
    }
    if !awaiting.is_empty() {
        return Err(format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            awaiting.join(", ")
        ));
    }
    Ok(())
}
