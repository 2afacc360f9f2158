//! The pipeline's simulators (Deepgram live transcription, ElevenLabs streaming speech,
//! streaming chat completions) against the vendors' own Python SDKs, pinned in
//! tests/requirements.txt, and their refusals and failures on cue.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hotline_sim::chat::{self, ChatSim, Reply};
use hotline_sim::deepgram::{self, DeepgramSim, SessionEnd};
use hotline_sim::elevenlabs::{self, ElevenLabsSim};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Where the project's Python venv lives: `HOTLINE_VENV`, else `<workspace>/.venv`.
fn venv() -> PathBuf {
    std::env::var_os("HOTLINE_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
        PathBuf::from,
    )
}

/// Runs one of the SDK checks beside this file; its stdout.
async fn python(script: &str, args: &[&str]) -> String {
    let python = venv().join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: this test needs the vendors' Python SDKs. Run tests/run, or \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt` in the \
         workspace root (or point HOTLINE_VENV at a venv that has them).",
        python.display()
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let mut command = tokio::process::Command::new(&python);
    command.arg(&path).args(args);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "DEEPGRAM_API_KEY",
        "ELEVENLABS_API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ] {
        command.env_remove(var);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the check finishes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok"), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepgram_sdk_talks_to_the_simulator() {
    let sim = DeepgramSim::start(deepgram::Script {
        api_key: Some("dg-python-check".into()),
        heard: vec!["I'd like to book a cleaning.".into()],
        ..deepgram::Script::default()
    })
    .await
    .expect("sim");
    python(
        "deepgram_python.py",
        &[
            sim.base_url(),
            "dg-python-check",
            "I'd like to book a cleaning.",
        ],
    )
    .await;
    let session = sim.session(0).expect("the SDK's session");
    assert!(session.key_ok, "Authorization: Token <key>");
    assert_eq!(session.param("encoding"), Some("mulaw"));
    assert_eq!(session.param("sample_rate"), Some("8000"));
    assert_eq!(session.param("endpointing"), Some("300"));
    assert_eq!(session.keep_alives, 1);
    assert_eq!(session.finalizes, 1);
    assert!(session.close_stream);
    assert_eq!(session.audio_ms(), 4000);
    assert_eq!(session.end, Some(SessionEnd::Closed(1000, String::new())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elevenlabs_sdk_talks_to_the_simulator() {
    let sim = ElevenLabsSim::start(elevenlabs::Script {
        api_key: Some("xi-python-check".into()),
        voices: vec!["21m00Tcm4TlvDq8ikWAM".into()],
        heard: vec!["I'd like to book a cleaning.".into()],
        ..elevenlabs::Script::default()
    })
    .await
    .expect("sim");
    python(
        "elevenlabs_python.py",
        &[
            sim.base_url(),
            "xi-python-check",
            "I'd like to book a cleaning.",
        ],
    )
    .await;
    let stt = sim.stt_sessions();
    assert_eq!(
        stt.iter().map(|s| s.status).collect::<Vec<_>>(),
        [101, 401],
        "{stt:?}"
    );
    assert!(stt[0].key_ok);
    assert_eq!(stt[0].param("audio_format"), Some("ulaw_8000"));
    assert_eq!(stt[0].param("commit_strategy"), Some("vad"));
    assert_eq!(stt[0].sample_rate, Some(8000));
    assert_eq!(stt[0].audio_ms(), 1800);
    assert_eq!(stt[0].committed, ["I'd like to book a cleaning."]);
    assert_eq!(
        stt[0].input_errors.len(),
        1,
        "previous_text after the first chunk"
    );
    assert_eq!(stt[0].end, Some(SessionEnd::ClientClosed));
    let requests = sim.requests();
    let first = &requests[0];
    assert!(first.key_ok && first.completed, "{first:?}");
    assert_eq!(first.output_format.as_deref(), Some("ulaw_8000"));
    assert_eq!(first.body["model_id"], "eleven_flash_v2_5");
    assert_eq!(first.body["previous_text"], "Hi.");
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 404, 422]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_streams_from_the_chat_simulator() {
    let sim = ChatSim::start(chat::Script {
        api_key: Some("sk-python-check".into()),
        replies: vec![
            Reply::text("Let me check that for you."),
            Reply::call("lookup_order", serde_json::json!({"order": "A-1"})),
        ],
        ..chat::Script::default()
    })
    .await
    .expect("sim");
    let base = sim.base_url().to_owned();
    python("openai_chat_python.py", &[&base, "sk-python-check"]).await;
    let requests = sim.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[..2].iter().all(|r| r.stream && r.completed));
    assert_eq!(requests[0].tools, ["lookup_order"]);
    assert_eq!(requests[2].status, 400);
}

#[tokio::test]
async fn deepgram_refuses_a_wrong_key_and_fails_on_cue() {
    let sim = DeepgramSim::start(deepgram::Script {
        api_key: Some("right".into()),
        fail: Some(deepgram::Failure::CloseAfterAudioMs(
            100,
            1011,
            "NET-0000".into(),
        )),
        ..deepgram::Script::default()
    })
    .await
    .expect("sim");
    let url = format!(
        "{}/v1/listen?encoding=mulaw&sample_rate=8000",
        sim.base_url().replace("http://", "ws://")
    );
    let mut request = url.clone().into_client_request().expect("request");
    request
        .headers_mut()
        .insert("authorization", "Token wrong".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("json");
            assert_eq!(body["err_msg"], "Invalid credentials.");
        }
        other => panic!("expected a 401: {other:?}"),
    }
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("authorization", "Token right".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    ws.send(Message::binary(vec![0xFF; 800]))
        .await
        .expect("audio");
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame"),
            Some(Ok(_)) => {}
            other => panic!("expected a close: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1011);
    assert_eq!(close.reason.as_str(), "NET-0000");
}

#[tokio::test]
async fn elevenlabs_and_the_chat_model_fail_on_cue() {
    let tts = ElevenLabsSim::start(elevenlabs::Script {
        fail_request: Some(0),
        ..elevenlabs::Script::default()
    })
    .await
    .expect("sim");
    let http = reqwest::Client::new();
    let response = http
        .post(format!(
            "{}/v1/text-to-speech/v1/stream?output_format=ulaw_8000",
            tts.base_url()
        ))
        .header("xi-api-key", "any")
        .json(&serde_json::json!({"text": "A sentence long enough to break off in the middle."}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "the body broke off");
    let logged = tts
        .wait_for(|_| true, Duration::from_secs(2))
        .await
        .expect("logged");
    assert!(logged.aborted && !logged.completed);

    let llm = ChatSim::start(chat::Script {
        refuse: Some(429),
        ..chat::Script::default()
    })
    .await
    .expect("sim");
    let response = http
        .post(format!("{}/chat/completions", llm.base_url()))
        .bearer_auth("any")
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 429);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}
