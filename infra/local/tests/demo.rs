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
        .env_remove("RUST_LOG")
        .output()
        .expect("hotline demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("simulated"),
        "says the AI is simulated: {stdout}"
    );
    assert!(stdout.contains("webhook      HTTP 200"), "{stdout}");
    // The way into the web console, with the demo organization's owner.
    let console = stdout
        .lines()
        .find(|l| l.starts_with("console: http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("the console's URL: {stdout}"));
    assert!(
        console.contains("/console  sign in as ") && console.contains('@'),
        "{console}"
    );
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
    // The agent's turns read like a real call: its words, never the instructions the
    // node gave the AI, nor a tool's output.
    let agent_turns: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("agent   ").map(|(_, said)| said))
        .collect();
    assert_eq!(
        agent_turns,
        [
            "Hello, you've reached Bright Smile Dental. How can I help you today?",
            "Of course. I can offer Tuesday at three or Thursday at ten.",
            "You're all set for Tuesday at three. Goodbye!",
        ],
        "{stdout}"
    );
    // Without RUST_LOG, no log line interrupts the story, on either stream.
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(
            !["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .iter()
                .any(|level| line.contains(&format!(" {level} "))),
            "a log line: {line}"
        );
    }
    assert!(stderr.trim().is_empty(), "{stderr}");
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
    ); // Then the caller texts, and the texting agent answers knowing the call.
    assert!(
        stdout.contains("then the caller texts"),
        "the demo texts after the call: {stdout}"
    );
    assert!(
        stdout.contains("  answer: Thanks for your text!"),
        "{stdout}"
    );
    let told = stdout
        .split_once("the texting agent was told about the call:")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("what the texting agent knew: {stdout}"));
    assert!(
        told.contains("The caller moved their cleaning appointment to Tuesday at three."),
        "the call's summary reached the texting agent: {stdout}"
    );
    assert!(told.contains("Move the caller's cleaning"), "{stdout}");
}

#[test]
fn demo_plays_the_same_call_on_the_simulated_gemini_live() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["demo", "--provider", "gemini_live"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .env_remove("TWILIO_API_BASE_URL")
        .env_remove("HOTLINE_STORE")
        .env_remove("RUST_LOG")
        .output()
        .expect("hotline demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("simulated Gemini Live"), "{stdout}");
    assert!(
        stdout.contains("clears 1"),
        "the caller barged in once: {stdout}"
    );
    assert!(stdout.contains("outcome   AgentEnded"), "{stdout}");
    assert!(stdout.contains("caller  Sorry to cut in"), "{stdout}");
    assert!(
        stdout.contains("agent   You're all set for Tuesday at three. Goodbye!"),
        "the goodbye, spoken by the model after end_call: {stdout}"
    );
}

#[test]
fn demo_plays_the_same_call_on_the_simulated_pipeline() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["demo", "--provider", "pipeline"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("DEEPGRAM_API_KEY")
        .env_remove("ELEVENLABS_API_KEY")
        .env_remove("TWILIO_API_BASE_URL")
        .env_remove("HOTLINE_STORE")
        .env_remove("RUST_LOG")
        .output()
        .expect("hotline demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("simulated the pipeline"), "{stdout}");
    assert!(
        stdout.contains("clears 1"),
        "the caller barged in once: {stdout}"
    );
    assert!(stdout.contains("outcome   AgentEnded"), "{stdout}");
    assert!(stdout.contains("caller  Sorry to cut in"), "{stdout}");
    assert!(
        stdout.contains("agent   You're all set for Tuesday at three. Goodbye!"),
        "the goodbye, spoken after end_call: {stdout}"
    );
}
