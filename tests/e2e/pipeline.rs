//! Calls through the real voice webhook and stream node with the agent on the pipeline
//! (Deepgram → chat completions → ElevenLabs, each its simulator in `hotline-sim`): a
//! conversation on the record, barge-in with the model's history cut at what the
//! caller heard, tools, and each service refusing or dropping mid-call.

use std::time::Duration;

use hotline_core::model::{EndReason, Speaker, ToolKind, ToolSpec};
use hotline_e2e::World;
use hotline_sim::chat::Reply;
use hotline_sim::phone::{AudioSource, CallReport, HangupSide, Phone, Segment};
use hotline_sim::webhook::WebhookReceiver;
use hotline_sim::{chat, deepgram, elevenlabs};

fn speech(ms: u32) -> Segment {
    Segment::Speech { ms }
}

fn silence(ms: u32) -> Segment {
    Segment::Silence { ms }
}

fn no_greeting(agent: &mut hotline_core::model::Agent) {
    agent.greeting = None;
}

fn heard(lines: &[&str]) -> deepgram::Script {
    deepgram::Script {
        heard: lines.iter().map(|l| (*l).to_owned()).collect(),
        ..deepgram::Script::default()
    }
}

fn llm(replies: Vec<Reply>) -> chat::Script {
    chat::Script {
        replies,
        ..chat::Script::default()
    }
}

/// The apology redirect went to Twilio and the record says the provider failed.
async fn apologised(world: &World, report: &CallReport) -> String {
    let update = world
        .twilio
        .wait_for(|r| r.param("Twiml").is_some(), Duration::from_secs(2))
        .await
        .expect("apology redirect");
    let twiml = hotline_twilio::twiml_read::parse(update.param("Twiml").expect("twiml"))
        .expect("valid TwiML");
    assert!(twiml.all_named("Say")[0].text.contains("Sorry"));
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    outcome.detail.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_call_is_a_conversation_with_a_record() {
    let world = World::start_pipeline(
        heard(&["I'd like to book a cleaning."]),
        llm(vec![
            Reply::text("Hello, thanks for calling the clinic."),
            Reply::text("Of course. When would suit you?"),
        ]),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(3000), speech(800), silence(3500)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.hung_up_by, HangupSide::Caller);
    assert!(
        hotline_e2e::violations(&report).is_empty(),
        "{:?}",
        report.violations
    );
    assert!(report.clears.is_empty(), "nobody interrupted: {report:?}");

    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    let turns = world.turns(&report.call_sid).await;
    let said: Vec<(Speaker, &str)> = turns.iter().map(|t| (t.speaker, t.text.as_str())).collect();
    assert_eq!(
        said,
        [
            (Speaker::Agent, "Hello, thanks for calling the clinic."),
            (Speaker::Caller, "I'd like to book a cleaning."),
            (Speaker::Agent, "Of course. When would suit you?"),
        ]
    );

    // Deepgram: µ-law 8 kHz as Twilio sends it, the key in its header, every frame.
    let stt = world.deepgram.session(0).expect("one Deepgram session");
    assert!(stt.key_ok, "Authorization: Token <key>");
    assert_eq!(stt.param("encoding"), Some("mulaw"));
    assert_eq!(stt.param("sample_rate"), Some("8000"));
    assert_eq!(stt.param("model"), Some("nova-3"));
    assert_eq!(stt.param("interim_results"), Some("true"));
    assert_eq!(stt.empty_frames, 0, "never an empty frame");
    assert!(
        stt.audio_ms() + 200 >= report.frames_sent * 20,
        "{} ms of {} frames",
        stt.audio_ms(),
        report.frames_sent
    );
    assert_eq!(stt.finals, ["I'd like to book a cleaning."]);

    // The model: asked to greet (as a note, never the caller's words), then the caller's
    // turn after the greeting it gave; the agent's tools declared.
    let requests = world.llm.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.stream && r.key_ok && r.status == 200)
    );
    assert_eq!(requests[0].model, "gpt-4.1-mini");
    assert!(requests[0].tools.contains(&"end_call".to_owned()));
    let second = requests[1].turns();
    let roles: Vec<&str> = second.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["system", "system", "assistant", "user"]);
    assert!(second[1].1.contains("Greet them"), "{second:?}");
    assert_eq!(second[2].1, "Hello, thanks for calling the clinic.");
    assert_eq!(second[3].1, "I'd like to book a cleaning.");

    // ElevenLabs: a request per sentence, µ-law 8 kHz, the agent's voice and model.
    let tts = world.elevenlabs.requests();
    let texts: Vec<&str> = tts.iter().map(|r| r.text()).collect();
    assert_eq!(
        texts,
        [
            "Hello, thanks for calling the clinic.",
            "Of course.",
            "When would suit you?"
        ]
    );
    assert!(tts.iter().all(|r| r.key_ok
        && r.completed
        && r.voice_id == "21m00Tcm4TlvDq8ikWAM"
        && r.output_format.as_deref() == Some("ulaw_8000")
        && r.body["model_id"] == "eleven_flash_v2_5"));
    assert_eq!(tts[2].body["previous_text"], "Of course.");
    // The caller heard all of it, byte for byte as ElevenLabs sent it.
    let sent: u64 = tts.iter().map(|r| r.bytes_sent).sum();
    assert_eq!(report.bytes_heard, sent, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_on_the_pipeline_clears_twilio_and_keeps_only_what_was_heard() {
    let greeting = "Hello, thanks for calling Bright Smile Dental in Springfield. \
                    We are open every weekday from eight in the morning until six. \
                    How can I help you today?";
    let world = World::start_pipeline(
        heard(&["Sorry, I need to move my appointment."]),
        llm(vec![Reply::text(greeting), Reply::text("Of course.")]),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2000), speech(800), silence(2500)]),
        Duration::from_secs(5),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(
        !report.clears.is_empty(),
        "Twilio was told to clear: {report:?}"
    );
    let tts = world.elevenlabs.requests();
    let greeting_bytes: u64 = tts
        .iter()
        .filter(|r| greeting.contains(r.text()))
        .map(|r| r.bytes_sent)
        .sum();
    let answer_bytes: u64 = tts
        .iter()
        .filter(|r| r.text() == "Of course.")
        .map(|r| r.bytes_sent)
        .sum();
    assert!(answer_bytes > 0, "the caller got an answer: {tts:?}");
    assert!(
        report.bytes_heard < greeting_bytes + answer_bytes,
        "the interrupted greeting was cut: heard {} of {}",
        report.bytes_heard,
        greeting_bytes + answer_bytes
    );

    // The record and the model's history keep the words the caller heard, no more.
    let turns = world.turns(&report.call_sid).await;
    let first = &turns[0];
    assert_eq!(first.speaker, Speaker::Agent);
    assert!(
        !first.text.is_empty() && first.text.len() < greeting.len(),
        "{:?}",
        first.text
    );
    let full: Vec<&str> = greeting.split_whitespace().collect();
    let kept: Vec<&str> = first.text.split_whitespace().collect();
    assert_eq!(kept, full[..kept.len()], "a prefix of what was said");
    let requests = world.llm.requests();
    let second = requests
        .get(1)
        .expect("the caller's turn went to the model");
    let assistant: Vec<String> = second
        .turns()
        .into_iter()
        .filter(|(r, _)| r == "assistant")
        .map(|(_, c)| c)
        .collect();
    assert_eq!(assistant, std::slice::from_ref(&first.text));
    assert_eq!(
        turns[1].text, "Sorry, I need to move my appointment.",
        "{turns:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_ends_the_call_through_its_built_in_tool() {
    let world = World::start_pipeline(
        heard(&["That's all, thanks."]),
        llm(vec![
            Reply::text("Hello."),
            Reply::call("end_call", serde_json::json!({})),
            Reply::text("Goodbye!"),
        ]),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2000), speech(800), silence(8000)]),
        Duration::from_secs(12),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::AgentEnded));
    let requests = world.llm.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let last = &requests[2].messages;
    let call_message = last
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .expect("the call in the history");
    let id = call_message["tool_calls"][0]["id"].clone();
    assert_eq!(
        call_message["tool_calls"][0]["function"]["name"],
        "end_call"
    );
    let answer = last
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("its output");
    assert_eq!(answer["tool_call_id"], id);
    assert!(
        requests[2]
            .turns()
            .iter()
            .any(|(role, text)| role == "system" && text.contains("goodbye")),
        "the goodbye was asked for"
    );
    let goodbye = world
        .elevenlabs
        .wait_for(|r| r.text() == "Goodbye!", Duration::from_secs(2))
        .await
        .expect("the goodbye was spoken");
    assert!(goodbye.completed);
    let turns = world.turns(&report.call_sid).await;
    assert_eq!(turns.last().map(|t| t.text.as_str()), Some("Goodbye!"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_a_webhook_tool_and_speaks_its_answer() {
    let hook = WebhookReceiver::start("whsec_pipeline")
        .await
        .expect("receiver");
    hook.answer_with(r#"{"status":"shipped"}"#);
    let url = hook.url().to_owned();
    let world = World::start_pipeline(
        heard(&["Where is my order A-1?"]),
        llm(vec![
            Reply::text("Hello."),
            Reply::call("lookup_order", serde_json::json!({"order": "A-1"})),
            Reply::text("It has shipped."),
        ]),
        elevenlabs::Script::default(),
        move |agent| {
            agent.greeting = None;
            agent.tools.push(ToolSpec {
                name: "lookup_order".into(),
                description: "Looks up an order.".into(),
                parameters: serde_json::json!({"type": "object",
                    "properties": {"order": {"type": "string"}}, "required": ["order"]}),
                kind: ToolKind::Webhook {
                    url,
                    timeout_secs: None,
                },
            });
        },
    )
    .await;
    world.sign_webhooks_with("whsec_pipeline").await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2000), speech(800), silence(4000)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let deliveries = hook.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].verified, Ok(()));
    assert_eq!(deliveries[0].body, br#"{"order":"A-1"}"#);
    let requests = world.llm.requests();
    assert!(requests[0].tools.contains(&"lookup_order".to_owned()));
    let third = requests.get(2).expect("the answer went back to the model");
    let roles: Vec<&str> = third
        .messages
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["system", "system", "assistant", "user", "assistant", "tool"]
    );
    let tool = &third.messages[5];
    assert_eq!(tool["content"], r#"{"status":"shipped"}"#);
    assert_eq!(
        tool["tool_call_id"],
        third.messages[4]["tool_calls"][0]["id"]
    );
    let turns = world.turns(&report.call_sid).await;
    let said: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        said,
        ["Hello.", "Where is my order A-1?", "It has shipped."]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_dropped_stage_gets_the_caller_an_apology() {
    // Deepgram refuses the upgrade.
    let world = World::start_pipeline(
        deepgram::Script {
            refuse: Some(401),
            ..deepgram::Script::default()
        },
        llm(Vec::new()),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(8)),
        None,
    )
    .await
    .expect("call placed");
    let detail = apologised(&world, &report).await;
    assert!(
        detail.contains("Deepgram") && detail.contains("401"),
        "{detail}"
    );
    assert!(world.llm.requests().is_empty(), "no reply without ears");

    // Deepgram closes mid-call (its 1011 for a stream it gave up on).
    let world = World::start_pipeline(
        deepgram::Script {
            fail: Some(deepgram::Failure::CloseAfterAudioMs(
                1500,
                1011,
                "NET-0000".into(),
            )),
            ..deepgram::Script::default()
        },
        llm(vec![Reply::text("Hello.")]),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(10)),
        None,
    )
    .await
    .expect("call placed");
    assert!(
        report.stream_duration < Duration::from_secs(6),
        "{report:?}"
    );
    let detail = apologised(&world, &report).await;
    assert!(detail.contains("NET-0000"), "{detail}");

    // ElevenLabs refuses the first sentence (out of quota).
    let world = World::start_pipeline(
        heard(&[]),
        llm(vec![Reply::text("Hello there, how can I help?")]),
        elevenlabs::Script {
            refuse: Some(401),
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(8)),
        None,
    )
    .await
    .expect("call placed");
    let detail = apologised(&world, &report).await;
    assert!(
        detail.contains("ElevenLabs") && detail.contains("401"),
        "{detail}"
    );

    // ElevenLabs' audio breaks off mid-sentence.
    let world = World::start_pipeline(
        heard(&[]),
        llm(vec![Reply::text(
            "Hello there, thanks for calling the clinic today.",
        )]),
        elevenlabs::Script {
            fail_request: Some(0),
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(8)),
        None,
    )
    .await
    .expect("call placed");
    let detail = apologised(&world, &report).await;
    assert!(detail.contains("ElevenLabs"), "{detail}");

    // The model refuses (a 500 from the chat completions server).
    let world = World::start_pipeline(
        heard(&[]),
        chat::Script {
            refuse: Some(500),
            ..chat::Script::default()
        },
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(8)),
        None,
    )
    .await
    .expect("call placed");
    let detail = apologised(&world, &report).await;
    assert!(detail.contains("LLM") && detail.contains("500"), "{detail}");
}
