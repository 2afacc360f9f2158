//! The fake OpenAI REST server as clients see it: hotline's own `hotline-llm` client,
//! raw HTTP for the wire details, and OpenAI's Python library (`openai_python.py`).

use std::path::PathBuf;
use std::time::Duration;

use hotline_llm::{LlmError, OpenAiRest, StructuredRequest, TranscriptionRequest, schema_name};
use hotline_sim::openai_rest::{CHAT_COMPLETIONS, FakeOpenAi, TRANSCRIPTIONS};
use secrecy::SecretString;
use serde_json::{Value, json};

const KEY: &str = "sk-test-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(5);

struct Setup {
    fake: FakeOpenAi,
    client: OpenAiRest,
}

async fn setup() -> Setup {
    let fake = FakeOpenAi::start(KEY).await.expect("fake starts");
    let client = OpenAiRest::new(
        fake.base_url(),
        SecretString::from(KEY),
        reqwest::Client::new(),
    );
    Setup { fake, client }
}

fn audio_request(audio: &[u8]) -> TranscriptionRequest<'static> {
    TranscriptionRequest {
        audio: audio.to_vec(),
        filename: "call.mp3",
        content_type: "audio/mpeg",
        model: "gpt-4o-transcribe",
        prompt: None,
        language: None,
    }
}

fn summary_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "summary": {"type": "string"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "callback_requested": {"type": "boolean"},
            "follow_up_date": {"type": ["string", "null"]},
        },
        "required": ["summary", "sentiment", "callback_requested", "follow_up_date"],
    })
}

fn summary_request(schema_name: &str, schema: Value) -> StructuredRequest {
    StructuredRequest {
        model: "gpt-4.1-mini".to_owned(),
        system: "Extract call outcome.".to_owned(),
        user: "caller: I'd like a cleaning on Tuesday.".to_owned(),
        schema_name: schema_name.to_owned(),
        schema,
    }
}

fn rejected(err: &LlmError) -> (u16, Option<&str>, &str) {
    match err {
        LlmError::Rejected {
            status,
            code,
            message,
        } => (*status, code.as_deref(), message.as_str()),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_transcription_sends_the_file_and_its_fields_and_returns_the_text() {
    let s = setup().await;
    let audio = b"ID3 the recording";
    s.fake
        .set_transcript_for(audio, "Hi, I'd like to book a cleaning.");

    let mut req = audio_request(audio);
    req.prompt = Some("Acme Dental");
    req.language = Some("en");
    let t = s.client.transcribe(req).await.expect("transcribed");
    assert_eq!(t.text, "Hi, I'd like to book a cleaning.");

    let r = s
        .fake
        .wait_for(|r| r.path == TRANSCRIPTIONS, WAIT)
        .await
        .expect("recorded");
    assert_eq!(r.method, "POST");
    assert_eq!(r.status, 200);
    assert!(r.authorized);
    assert_eq!(r.model, "gpt-4o-transcribe");
    assert_eq!(r.file_name.as_deref(), Some("call.mp3"));
    assert_eq!(r.file_bytes, Some(audio.len()));
    assert_eq!(r.field("response_format"), Some("json"));
    assert_eq!(r.field("prompt"), Some("Acme Dental"));
    assert_eq!(r.field("language"), Some("en"));
    assert_eq!(s.fake.count(TRANSCRIPTIONS), 1);
    assert_eq!(s.fake.count(CHAT_COMPLETIONS), 0);
}

#[tokio::test]
async fn unknown_audio_gets_the_default_transcript_or_a_simulated_one() {
    let s = setup().await;
    let t = s
        .client
        .transcribe(audio_request(b"12345"))
        .await
        .expect("transcribed");
    assert_eq!(t.text, "(simulated transcription of 5 bytes)");

    s.fake.set_transcript("Everyone says this.");
    s.fake
        .set_transcript_for(b"special", "Only this audio says that.");
    let t = s
        .client
        .transcribe(audio_request(b"12345"))
        .await
        .expect("transcribed");
    assert_eq!(t.text, "Everyone says this.");
    let t = s
        .client
        .transcribe(audio_request(b"special"))
        .await
        .expect("transcribed");
    assert_eq!(t.text, "Only this audio says that.");
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_works() {
    let s = setup().await;
    let client = OpenAiRest::new(
        format!("{}/", s.fake.base_url()),
        SecretString::from(KEY),
        reqwest::Client::new(),
    );
    client
        .transcribe(audio_request(b"abc"))
        .await
        .expect("transcribed");
    assert_eq!(s.fake.requests()[0].path, TRANSCRIPTIONS);
}

#[tokio::test]
async fn a_structured_request_returns_the_scripted_object() {
    let s = setup().await;
    let answer = json!({
        "summary": "Wants a cleaning on Tuesday",
        "sentiment": "positive",
        "callback_requested": true,
        "follow_up_date": "2026-01-20",
    });
    s.fake.respond("call_summary", answer.clone());

    let value = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect("answered");
    assert_eq!(value, answer);

    let r = s
        .fake
        .wait_for(|r| r.path == CHAT_COMPLETIONS, WAIT)
        .await
        .expect("recorded");
    assert_eq!(r.status, 200);
    assert_eq!(r.model, "gpt-4.1-mini");
    assert_eq!(r.schema_name.as_deref(), Some("call_summary"));
    assert_eq!(
        r.messages,
        vec![
            ("system".to_owned(), "Extract call outcome.".to_owned()),
            (
                "user".to_owned(),
                "caller: I'd like a cleaning on Tuesday.".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn an_unscripted_structured_request_gets_an_answer_that_follows_the_schema() {
    let s = setup().await;
    let value = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect("answered");
    assert_eq!(
        value,
        json!({
            "summary": "simulated summary",
            "sentiment": "positive",
            "callback_requested": false,
            "follow_up_date": null,
        })
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_that_never_shows_the_key() {
    let s = setup().await;
    let wrong_key = "sk-wrong-key-that-must-not-leak";
    let client = OpenAiRest::new(
        s.fake.base_url(),
        SecretString::from(wrong_key),
        reqwest::Client::new(),
    );
    let err = client
        .transcribe(audio_request(b"abc"))
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&err, LlmError::Auth { status: 401, code: Some(c), .. } if c == "invalid_api_key"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    for shown in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!shown.contains("sk-"), "{shown}");
        assert!(!shown.contains("leak"), "{shown}");
    }
    let err = client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect_err("wrong key");
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");

    let requests = s.fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| !r.authorized && r.status == 401));
}

#[tokio::test]
async fn schemas_that_break_strict_mode_are_rejected_like_openai_does() {
    let s = setup().await;

    let mut no_additional = summary_schema();
    no_additional
        .as_object_mut()
        .expect("object")
        .remove("additionalProperties");
    let err = s
        .client
        .structured(&summary_request("call_summary", no_additional))
        .await
        .expect_err("not strict");
    let (status, code, message) = rejected(&err);
    assert_eq!((status, code), (400, None));
    assert_eq!(
        message,
        "Invalid schema for response_format 'call_summary': In context=(), \
         'additionalProperties' is required to be supplied and to be false."
    );
    assert!(!err.is_retryable());

    let mut optional = summary_schema();
    optional["required"] = json!(["summary", "sentiment", "callback_requested"]);
    let err = s
        .client
        .structured(&summary_request("call_summary", optional))
        .await
        .expect_err("not strict");
    assert!(
        rejected(&err).2.ends_with("Missing 'follow_up_date'."),
        "{err}"
    );

    let array_root = json!({"type": "array", "items": {"type": "string"}});
    let err = s
        .client
        .structured(&summary_request("call_summary", array_root))
        .await
        .expect_err("root not an object");
    assert!(rejected(&err).2.contains("type: \"object\""), "{err}");

    let err = s
        .client
        .structured(&summary_request("Call summary (v2)", summary_schema()))
        .await
        .expect_err("bad name");
    assert_eq!(rejected(&err).1, Some("invalid_value"));
    // What schema_name makes of it is fine.
    s.client
        .structured(&summary_request(
            &schema_name("Call summary (v2)"),
            summary_schema(),
        ))
        .await
        .expect("a sanitized name is accepted");

    assert!(s.fake.requests()[..4].iter().all(|r| r.status == 400));
}

#[tokio::test]
async fn audio_over_25_mib_is_too_large() {
    let s = setup().await;
    let err = s
        .client
        .transcribe(audio_request(&vec![0_u8; 25 * 1024 * 1024 + 1]))
        .await
        .expect_err("too large");
    let (status, _, message) = rejected(&err);
    assert_eq!(status, 413);
    assert!(
        message.starts_with("Maximum content size limit (26214400) exceeded"),
        "{message}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn wrong_files_and_models_are_rejected() {
    let s = setup().await;
    let mut req = audio_request(b"abc");
    req.filename = "call.txt";
    let err = s.client.transcribe(req).await.expect_err("a .txt file");
    assert!(
        rejected(&err).2.starts_with("Invalid file format."),
        "{err}"
    );

    let mut req = audio_request(b"abc");
    req.model = "gpt-4.1-mini";
    let err = s
        .client
        .transcribe(req)
        .await
        .expect_err("not a transcription model");
    assert_eq!(rejected(&err).0, 400);
}

#[tokio::test]
async fn a_refusal_is_refused() {
    let s = setup().await;
    s.fake
        .refuse("call_summary", "I'm sorry, I can't help with that.");
    let err = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, LlmError::Refused(text) if text == "I'm sorry, I can't help with that."),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn content_that_is_not_a_json_object_is_invalid() {
    let s = setup().await;
    s.fake
        .respond_raw("call_summary", "Sure! The caller wants a cleaning.");
    let err = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect_err("not JSON");
    assert!(matches!(err, LlmError::Invalid(_)), "{err:?}");
    assert!(!err.to_string().contains("cleaning"), "{err}");

    s.fake.respond_raw("call_summary", "[1, 2, 3]");
    let err = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect_err("not an object");
    assert!(matches!(err, LlmError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn injected_failures_are_retryable_then_the_request_succeeds() {
    let s = setup().await;
    s.fake.fail_next(1, 429);
    s.fake.fail_next(1, 503);

    let first = s
        .client
        .transcribe(audio_request(b"abc"))
        .await
        .expect_err("rate limited");
    assert!(
        matches!(first, LlmError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{first:?}"
    );
    assert!(first.is_retryable());
    let second = s
        .client
        .structured(&summary_request("call_summary", summary_schema()))
        .await
        .expect_err("overloaded");
    assert!(
        matches!(second, LlmError::Server { status: 503 }),
        "{second:?}"
    );
    assert!(second.is_retryable());
    s.client
        .transcribe(audio_request(b"abc"))
        .await
        .expect("third time lucky");

    s.fake.fail_always(500);
    for _ in 0..3 {
        let err = s
            .client
            .transcribe(audio_request(b"abc"))
            .await
            .expect_err("failing");
        assert!(matches!(err, LlmError::Server { status: 500 }), "{err:?}");
    }
    s.fake.clear_failures();
    s.client
        .transcribe(audio_request(b"abc"))
        .await
        .expect("recovered");
    let statuses: Vec<u16> = s.fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 503, 200, 500, 500, 500, 200]);
}

#[tokio::test]
async fn an_unreachable_api_is_a_retryable_network_error() {
    let port = hotline_sim::moto::free_port().expect("a free port");
    let client = OpenAiRest::new(
        format!("http://127.0.0.1:{port}/v1"),
        SecretString::from(KEY),
        reqwest::Client::new(),
    );
    let err = client
        .transcribe(audio_request(b"abc"))
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, LlmError::Network(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn errors_have_openais_shape_on_the_wire() {
    let s = setup().await;
    let http = reqwest::Client::new();

    let response = http
        .post(format!("{}/chat/completions", s.fake.base_url()))
        .json(&json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    let error = &body["error"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("You didn't provide an API key.")),
        "{body}"
    );
    assert_eq!(error["type"], "invalid_request_error");
    assert!(
        error["param"].is_null() && error["code"].is_null(),
        "{body}"
    );

    let response = http
        .get(format!("{}/models", s.fake.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["message"], "Invalid URL (GET /v1/models)");

    let response = http
        .post(format!("{}/chat/completions", s.fake.base_url()))
        .bearer_auth(KEY)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["error"]["message"],
        "you must provide a model parameter"
    );

    let response = http
        .post(format!("{}/audio/transcriptions", s.fake.base_url()))
        .bearer_auth(KEY)
        .json(&json!({"model": "whisper-1"}))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid Content-Type header (application/json)")),
        "{body}"
    );
}

#[tokio::test]
async fn the_chat_completion_has_openais_shape() {
    let s = setup().await;
    s.fake.respond("call_summary", json!({"summary": "x"}));
    let request = summary_request("call_summary", summary_schema());
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", s.fake.base_url()))
        .bearer_auth(KEY)
        .json(&json!({
            "model": request.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "call_summary", "strict": true, "schema": request.schema}},
        }))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("json");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-")),
        "{body}"
    );
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].is_i64());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null());
    assert_eq!(choice["message"]["content"], r#"{"summary":"x"}"#);
    assert!(body["usage"]["total_tokens"].is_u64());
}

#[tokio::test]
async fn transcription_formats_follow_the_model() {
    let s = setup().await;
    s.fake.set_transcript("Plain words.");
    let http = reqwest::Client::new();
    let send = |model: &'static str, format: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"abc".to_vec()).file_name("call.wav"),
            )
            .text("model", model)
            .text("response_format", format);
        http.post(format!("{}/audio/transcriptions", s.fake.base_url()))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
    };

    let text = send("gpt-4o-transcribe", "text").await.expect("response");
    assert_eq!(text.status(), 200);
    assert_eq!(text.text().await.expect("body"), "Plain words.");

    let verbose = send("gpt-4o-transcribe", "verbose_json")
        .await
        .expect("response");
    assert_eq!(verbose.status(), 400);
    let body: Value = verbose.json().await.expect("json");
    assert_eq!(body["error"]["param"], "response_format");

    let verbose = send("whisper-1", "verbose_json").await.expect("response");
    assert_eq!(verbose.status(), 200);
    let body: Value = verbose.json().await.expect("json");
    assert_eq!(body["task"], "transcribe");
    assert_eq!(body["segments"][0]["text"], "Plain words.");

    let srt = send("whisper-1", "srt").await.expect("response");
    assert!(
        srt.text()
            .await
            .expect("body")
            .starts_with("1\n00:00:00,000 --> ")
    );
}

/// Where the project's Python venv lives: `HOTLINE_VENV`, else `<workspace>/.venv`.
fn venv() -> PathBuf {
    std::env::var_os("HOTLINE_VENV").map_or_else(|| workspace_root().join(".venv"), PathBuf::from)
}

fn workspace_root() -> PathBuf {
    // shared/sim -> the workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn openai_python_library_accepts_the_fake() {
    let python = venv().join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: this test needs OpenAI's Python library. Run tests/run, or \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt` in the \
         workspace root (or point HOTLINE_VENV at a venv that has it).",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_python.py");

    let s = setup().await;
    s.fake
        .set_transcript_for(b"ID3 python call audio", "Hello from the python check.");
    s.fake.respond(
        "call_summary",
        json!({
            "summary": "Wants a cleaning on Tuesday",
            "sentiment": "positive",
            "callback_requested": true,
            "follow_up_date": null,
        }),
    );
    s.fake
        .refuse("refused", "I'm sorry, I can't help with that.");

    let mut command = tokio::process::Command::new(&python);
    command.arg(&script).arg(s.fake.base_url()).arg(KEY);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
    ] {
        command.env_remove(var);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the Python check finishes in time")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openai_python.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("ok openai "), "{stdout}");

    // What the library sent, as the fake parsed it.
    let requests = s.fake.requests();
    let first = &requests[0];
    assert_eq!(first.path, TRANSCRIPTIONS);
    assert_eq!(first.model, "gpt-4o-transcribe");
    assert_eq!(first.file_name.as_deref(), Some("call.mp3"));
    assert_eq!(first.file_bytes, Some(b"ID3 python call audio".len()));
    assert_eq!(first.field("language"), Some("en"));
    assert!(
        requests
            .iter()
            .any(|r| r.schema_name.as_deref() == Some("CallReport") && r.status == 200),
        "the library's own strict schema was accepted"
    );
    let speech = requests
        .iter()
        .find(|r| r.path == hotline_sim::openai_rest::SPEECH)
        .expect("a speech request");
    assert_eq!(
        (
            speech.model.as_str(),
            speech.field("voice"),
            speech.field("input"),
            speech.field("response_format"),
            speech.status
        ),
        (
            "gpt-4o-mini-tts",
            Some("coral"),
            Some("Hello there."),
            Some("pcm"),
            200
        )
    );
}
