//! The Gemini Live simulator against Google's own Python SDK (`google-genai`, pinned in
//! tests/requirements.txt): the SDK's live client talks to it, its pydantic models
//! (which forbid unknown fields) parse every message the simulator sends, and the
//! simulator's log shows hotline's types read the SDK's own `setup`.

use std::path::PathBuf;
use std::time::Duration;

use hotline_sim::gemini::{Failure, GeminiSim, Script, ToolCue};

const KEY: &str = "AIza-python-check";

/// Where the project's Python venv lives: `HOTLINE_VENV`, else `<workspace>/.venv`.
fn venv() -> PathBuf {
    std::env::var_os("HOTLINE_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_genai_talks_to_the_simulator() {
    let python = venv().join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: this test needs Google's google-genai library. Run tests/run, or \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt` in the \
         workspace root (or point HOTLINE_VENV at a venv that has it).",
        python.display()
    );
    let sim = GeminiSim::start(Script {
        api_key: Some(KEY.into()),
        caller_transcripts: vec!["Where is my order?".into()],
        replies: vec!["It has shipped.".into()],
        reply_ms: 500,
        tool_calls: vec![ToolCue::new(
            0,
            "lookup_order",
            serde_json::json!({"id": "A-1"}),
        )],
        fail: Some(Failure::GoAwayAfterAudioMs(300, Duration::from_secs(30))),
        ..Script::default()
    })
    .await
    .expect("sim");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gemini_python.py");
    let mut command = tokio::process::Command::new(&python);
    command.arg(&script).arg(sim.base_url()).arg(KEY);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
    ] {
        command.env_remove(var);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the check finishes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gemini_python.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("ok"), "{stdout}");

    let session = sim.session(0).expect("the SDK's session");
    assert!(
        session.key_ok && session.key_in_header,
        "the SDK sends x-goog-api-key"
    );
    let setup = session.setup.expect("hotline's types read the SDK's setup");
    assert_eq!(setup.model, "models/gemini-live-2.5-flash-preview");
    let voice = setup
        .generation_config
        .as_ref()
        .and_then(|g| g.speech_config.as_ref())
        .and_then(|s| s.voice_config.as_ref())
        .and_then(|v| v.prebuilt_voice_config.as_ref())
        .map(|p| p.voice_name.as_str());
    assert_eq!(voice, Some("Puck"));
    assert_eq!(
        setup
            .generation_config
            .as_ref()
            .map(|g| g.response_modalities.clone()),
        Some(vec!["AUDIO".to_owned()])
    );
    assert_eq!(
        setup
            .system_instruction
            .as_ref()
            .and_then(|c| c.parts[0].text.as_deref()),
        Some("You answer the phone.")
    );
    let declaration = &setup.tools.as_ref().expect("tools")[0].function_declarations[0];
    assert_eq!(declaration.name, "lookup_order");
    assert_eq!(
        declaration.parameters.as_ref().map(|p| p["type"].clone()),
        Some(serde_json::json!("OBJECT"))
    );
    assert!(setup.input_audio_transcription.is_some());
    assert!(setup.output_audio_transcription.is_some());
    assert!(setup.session_resumption.is_some());
    assert!(setup.context_window_compression.is_some());
    let vad = setup.realtime_input_config.expect("realtimeInputConfig");
    assert_eq!(
        vad.activity_handling.as_deref(),
        Some("START_OF_ACTIVITY_INTERRUPTS")
    );
    assert_eq!(session.audio_mime_types, ["audio/pcm;rate=16000"]);
    let response = &session.tool_responses[0];
    assert_eq!(response.name, "lookup_order");
    assert_eq!(response.response, serde_json::json!({"status": "shipped"}));
}
