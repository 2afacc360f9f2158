//! `hotline demo`, the README's first command: a whole call, offline, its record and
//! everything the post-call pipeline made of it.

use std::process::Command;

#[test]
fn demo_plays_a_call_with_a_barge_in_and_a_tool_and_prints_its_record() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("demo")
        .env_remove("OPENAI_API_KEY")
        .env_remove("TWILIO_API_BASE_URL")
        .env_remove("HOTLINE_STORE")
        .output()
        .expect("hotline demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("simulated"),
        "says the AI is simulated: {stdout}"
    );
    assert!(stdout.contains("webhook      HTTP 200"), "{stdout}");
    assert!(
        stdout.contains("clears 1"),
        "the caller barged in once: {stdout}"
    );
    assert!(
        stdout.contains("outcome   AgentEnded"),
        "the agent's end_call tool ended it: {stdout}"
    );
    assert!(
        stdout.contains("caller  Sorry to cut in"),
        "the caller's turn: {stdout}"
    );
    assert!(stdout.contains("agent   "), "the agent's turns: {stdout}");
    // After the call: the pipeline's stages, the analysis, the to-dos and both reports.
    for stage in [
        "recording",
        "transcript",
        "analysis",
        "todos",
        "contact",
        "report_email",
        "report_webhook",
    ] {
        assert!(
            stdout.contains(&format!("post-call {stage:<14} Done")),
            "{stage} done: {stdout}"
        );
    }
    assert!(
        stdout.contains("analysis  appointment: {\"request\":\"move\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("to-do     Move the caller's cleaning"),
        "{stdout}"
    );
    assert!(
        stdout.contains("report e-mailed to front-desk@bright-smile.example"),
        "{stdout}"
    );
    assert!(
        stdout.contains("HTTP 200, signature verified"),
        "the report webhook's signature: {stdout}"
    );
}
