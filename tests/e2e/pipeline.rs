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

/// The model's answers in the clinic conversation: a greeting, then an answer.
fn clinic_replies() -> Vec<Reply> {
    vec![
        Reply::text("Hello, thanks for calling the clinic."),
        Reply::text("Of course. When would suit you?"),
    ]
}

/// The record of the clinic conversation: greeting, the caller's wish, the answer.
fn assert_clinic_conversation(turns: &[hotline_core::model::Turn]) {
    let said: Vec<(Speaker, &str)> = turns.iter().map(|t| (t.speaker, t.text.as_str())).collect();
    assert_eq!(
        said,
        [
            (Speaker::Agent, "Hello, thanks for calling the clinic."),
            (Speaker::Caller, "I'd like to book a cleaning."),
            (Speaker::Agent, "Of course. When would suit you?"),
        ]
    );
}

/// A call in which the caller says nothing for `secs`, then hangs up.
async fn silent_call(world: &World, secs: u64) -> CallReport {
    Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(secs)),
        None,
    )
    .await
    .expect("call placed")
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
        llm(clinic_replies()),
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
    assert_clinic_conversation(&turns);

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
    // A sentence and the one asked for while it plays may reach the voice in either
    // order: sorted as spoken.
    let mut tts = world.elevenlabs.requests();
    let spoken = [
        "Hello, thanks for calling the clinic.",
        "Of course.",
        "When would suit you?",
    ];
    tts.sort_by_key(|r| spoken.iter().position(|s| *s == r.text()));
    let texts: Vec<&str> = tts.iter().map(|r| r.text()).collect();
    assert_eq!(texts, spoken);
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
    let report = silent_call(&world, 8).await;
    let detail = apologised(&world, &report).await;
    assert!(
        detail.contains("Deepgram") && detail.contains("401"),
        "{detail}"
    );
    assert!(world.llm.requests().is_empty(), "no reply without ears");

    // Deepgram closes mid-call (its 1011 for a stream it gave up on) and is down from
    // then on: the reconnections are refused, and after a bounded few the call ends.
    let world = World::start_pipeline(
        deepgram::Script {
            fail: Some(deepgram::Failure::CloseAfterAudioMs(
                1500,
                1011,
                "NET-0000".into(),
            )),
            refuse: Some(503),
            refuse_from: 1,
            ..deepgram::Script::default()
        },
        llm(vec![Reply::text("Hello.")]),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let report = silent_call(&world, 10).await;
    assert!(
        report.stream_duration < Duration::from_secs(6),
        "{report:?}"
    );
    let detail = apologised(&world, &report).await;
    assert!(
        detail.contains("could not be reopened") && detail.contains("503"),
        "{detail}"
    );
    let sessions = world.deepgram.sessions();
    assert_eq!(
        sessions.iter().map(|s| s.status).collect::<Vec<_>>(),
        [101, 503, 503, 503, 503],
        "the first session, then four attempts: {sessions:?}"
    );

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
    let report = silent_call(&world, 8).await;
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
    let report = silent_call(&world, 8).await;
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
    let report = silent_call(&world, 8).await;
    let detail = apologised(&world, &report).await;
    assert!(detail.contains("LLM") && detail.contains("500"), "{detail}");
}

/// The demo agent hearing with ElevenLabs' realtime speech-to-text and speaking with
/// OpenAI's voice `coral`.
fn elevenlabs_ears_openai_voice(agent: &mut hotline_core::model::Agent) {
    use hotline_core::model::{PipelineSpec, SttSpec, SttVendor, TtsSpec, TtsVendor};
    agent.greeting = None;
    agent.voice = "coral".into();
    agent.pipeline = Some(PipelineSpec {
        stt: SttSpec::of(SttVendor::Elevenlabs),
        tts: TtsSpec::of(TtsVendor::Openai),
    });
}

/// No apology went to Twilio and the call did not end on a provider failure.
async fn not_apologised(world: &World, report: &CallReport) {
    assert!(
        world
            .twilio
            .requests()
            .iter()
            .all(|r| r.param("Twiml").is_none()),
        "no apology redirect"
    );
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elevenlabs_hears_the_caller_and_openai_speaks_the_reply() {
    let world = World::start_pipeline(
        deepgram::Script::default(),
        llm(clinic_replies()),
        elevenlabs::Script {
            heard: vec!["I'd like to book a cleaning.".into()],
            ..elevenlabs::Script::default()
        },
        elevenlabs_ears_openai_voice,
    )
    .await;
    world.openai.set_speech_tone(1_000.0);
    let spec = world.call(
        AudioSource::Script(vec![silence(3000), speech(800), silence(3500)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(
        hotline_e2e::violations(&report).is_empty(),
        "{:?}",
        report.violations
    );
    not_apologised(&world, &report).await;
    let turns = world.turns(&report.call_sid).await;
    assert_clinic_conversation(&turns);

    // ElevenLabs heard the caller: µ-law 8 kHz as Twilio sends it, committed by its VAD.
    assert!(
        world.deepgram.sessions().is_empty(),
        "Deepgram is not asked"
    );
    let stt = world.elevenlabs.stt_sessions();
    assert_eq!(stt.len(), 1, "{stt:?}");
    let stt = &stt[0];
    assert!(stt.key_ok, "xi-api-key");
    assert_eq!(stt.param("model_id"), Some("scribe_v2_realtime"));
    assert_eq!(stt.param("audio_format"), Some("ulaw_8000"));
    assert_eq!(stt.param("commit_strategy"), Some("vad"));
    assert_eq!(stt.param("language_code"), Some("en"));
    assert_eq!(stt.sample_rate, Some(8000));
    assert!(stt.input_errors.is_empty(), "{:?}", stt.input_errors);
    assert!(
        stt.audio_ms() + 200 >= report.frames_sent * 20,
        "{} ms of {} frames",
        stt.audio_ms(),
        report.frames_sent
    );
    assert_eq!(stt.committed, ["I'd like to book a cleaning."]);
    assert_eq!(
        world.llm.requests()[1]
            .turns()
            .last()
            .map(|(_, c)| c.as_str()),
        Some("I'd like to book a cleaning.")
    );

    // OpenAI spoke each sentence: PCM 24 kHz, the agent's voice and the default model.
    assert!(
        world.elevenlabs.requests().is_empty(),
        "ElevenLabs does not speak"
    );
    let speech: Vec<_> = world
        .openai
        .requests()
        .into_iter()
        .filter(|r| r.path == hotline_sim::openai_rest::SPEECH)
        .collect();
    let spoken = [
        "Hello, thanks for calling the clinic.",
        "Of course.",
        "When would suit you?",
    ];
    let mut texts: Vec<&str> = speech.iter().filter_map(|r| r.field("input")).collect();
    texts.sort_by_key(|t| spoken.iter().position(|s| s == t));
    assert_eq!(texts, spoken);
    assert!(speech.iter().all(|r| r.authorized
        && r.status == 200
        && r.model == "gpt-4o-mini-tts"
        && r.field("voice") == Some("coral")
        && r.field("response_format") == Some("pcm")));
    // All of it reached the caller, a third of the samples (24 kHz to 8 kHz), as the
    // same tone.
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let expected = chars as u64 * hotline_sim::openai_rest::SPEECH_MS_PER_CHAR * 8;
    assert!(
        report.bytes_heard.abs_diff(expected) <= 3 * 160,
        "heard {} bytes of {expected}",
        report.bytes_heard
    );
    let heard: Vec<i16> = report
        .heard
        .iter()
        .skip_while(|&&b| b == hotline_audio::SILENCE)
        .skip(800)
        .take(8000)
        .map(|&b| hotline_audio::decode(b))
        .collect();
    let tone = hotline_audio::goertzel_dbfs(&heard, 8_000, 1_000.0);
    let elsewhere = hotline_audio::goertzel_dbfs(&heard, 8_000, 3_000.0);
    assert!(tone > -20.0, "the voice's tone at {tone:.1} dBFS");
    assert!(tone - elsewhere > 30.0, "3 kHz at {elsewhere:.1} dBFS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_deepgram_socket_is_reopened_and_the_call_goes_on() {
    let world = World::start_pipeline(
        deepgram::Script {
            heard: vec!["I'd like to book a cleaning.".into()],
            // The first session's TCP connection ends without a close frame 1 s in.
            fail: Some(deepgram::Failure::DropAfterAudioMs(1000)),
            fail_session: Some(0),
            ..deepgram::Script::default()
        },
        llm(clinic_replies()),
        elevenlabs::Script::default(),
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    not_apologised(&world, &report).await;
    let sessions = world.deepgram.sessions();
    assert_eq!(sessions.len(), 2, "one reconnection: {sessions:?}");
    assert_eq!(sessions[0].end, Some(deepgram::SessionEnd::Dropped));
    assert_eq!(sessions[1].status, 101);
    assert!(sessions[1].key_ok);
    assert_eq!(sessions[1].finals, ["I'd like to book a cleaning."]);
    let turns = world.turns(&report.call_sid).await;
    assert_clinic_conversation(&turns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_and_the_voice_are_asked_again_after_429_and_503() {
    let world = World::start_pipeline(
        heard(&[]),
        chat::Script {
            refuse: Some(429),
            refuse_count: Some(1),
            replies: vec![Reply::text("Hello, thanks for calling the clinic.")],
            ..chat::Script::default()
        },
        elevenlabs::Script {
            refuse: Some(503),
            refuse_count: Some(2),
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = silent_call(&world, 5).await;
    not_apologised(&world, &report).await;
    let asked: Vec<u16> = world.llm.requests().iter().map(|r| r.status).collect();
    assert_eq!(asked, [429, 200]);
    let tts = world.elevenlabs.requests();
    let statuses: Vec<u16> = tts.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200], "two retries, the bound");
    assert!(
        tts.iter()
            .all(|r| r.text() == "Hello, thanks for calling the clinic.")
    );
    assert_eq!(report.bytes_heard, tts[2].bytes_sent);
    let turns = world.turns(&report.call_sid).await;
    assert_eq!(turns[0].text, "Hello, thanks for calling the clinic.");

    // One refusal more than the bound: the caller gets the apology.
    let world = World::start_pipeline(
        heard(&[]),
        llm(vec![Reply::text("Hello, thanks for calling the clinic.")]),
        elevenlabs::Script {
            refuse: Some(429),
            refuse_count: Some(3),
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = silent_call(&world, 8).await;
    let detail = apologised(&world, &report).await;
    assert!(detail.contains("429"), "{detail}");
    assert_eq!(world.elevenlabs.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_sentence_is_asked_for_while_the_first_plays_and_barge_in_drops_both() {
    let first = "Hello there, thanks for calling the clinic.";
    let second = "How can I help you today?";
    let world = World::start_pipeline(
        heard(&["Sorry, one moment."]),
        llm(vec![Reply::text(format!("{first} {second}"))]),
        elevenlabs::Script {
            // As fast as a voice speaks: a sentence streams while it plays.
            pace: hotline_sim::realtime::Pace::RealTime,
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = silent_call(&world, 6).await;
    let mut tts = world.elevenlabs.requests();
    // Asked for at nearly the same moment: they may arrive in either order.
    tts.sort_by_key(|r| r.text() != first);
    let texts: Vec<&str> = tts.iter().map(|r| r.text()).collect();
    assert_eq!(texts, [first, second]);
    assert!(tts.iter().all(|r| r.completed), "{tts:?}");
    let first_ended = tts[0].ended_at.expect("the first sentence ended");
    assert!(
        tts[1].received_at < first_ended,
        "the second sentence was asked for while the first still streamed (and played)"
    );
    assert_eq!(tts[1].body["previous_text"], first);
    assert_eq!(report.bytes_heard, tts[0].bytes_sent + tts[1].bytes_sent);

    // The caller speaks over the first sentence: it and the one asked for after it
    // are both dropped, and nothing further is asked for.
    let world = World::start_pipeline(
        heard(&["Sorry, one moment."]),
        llm(vec![
            Reply::text(format!("{first} {second} Anything else?")),
            Reply::text("Sure."),
        ]),
        elevenlabs::Script {
            pace: hotline_sim::realtime::Pace::RealTime,
            ..elevenlabs::Script::default()
        },
        no_greeting,
    )
    .await;
    let report = Phone::call(
        world.call(
            AudioSource::Script(vec![silence(1000), speech(800), silence(2500)]),
            Duration::from_secs(5),
        ),
        None,
    )
    .await
    .expect("call placed");
    assert!(!report.clears.is_empty(), "{report:?}");
    for text in [first, second] {
        let request = world
            .elevenlabs
            .wait_for(|r| r.text() == text, Duration::from_secs(2))
            .await
            .expect("asked for");
        assert!(request.aborted && !request.completed, "{request:?}");
    }
    let texts: Vec<String> = world
        .elevenlabs
        .requests()
        .iter()
        .map(|r| r.text().to_owned())
        .collect();
    assert!(
        !texts.iter().any(|t| t == "Anything else?"),
        "the reply's rest was never asked for: {texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_elevenlabs_transcription_is_reopened_and_the_call_goes_on() {
    let world = World::start_pipeline(
        deepgram::Script::default(),
        llm(clinic_replies()),
        elevenlabs::Script {
            heard: vec!["I'd like to book a cleaning.".into()],
            stt_fail: Some(deepgram::Failure::DropAfterAudioMs(1000)),
            stt_fail_session: Some(0),
            ..elevenlabs::Script::default()
        },
        elevenlabs_ears_openai_voice,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    not_apologised(&world, &report).await;
    let sessions = world.elevenlabs.stt_sessions();
    assert_eq!(sessions.len(), 2, "one reconnection: {sessions:?}");
    assert_eq!(sessions[0].end, Some(deepgram::SessionEnd::Dropped));
    assert_eq!(sessions[1].status, 101);
    assert_eq!(sessions[1].committed, ["I'd like to book a cleaning."]);
    assert_clinic_conversation(&world.turns(&report.call_sid).await);
}
