//! Calls through the real voice webhook and stream node, with Twilio and OpenAI
//! simulated: a whole conversation, barge-in, tools, and every way a call can end.

use std::time::Duration;

use hotline_core::model::{CallStatus, EndReason, Speaker};
use hotline_e2e::World;
use hotline_realtime::openai::AudioFormat;
use hotline_sim::phone::{AudioSource, HangupSide, Phone, PhoneEvent, Segment};
use hotline_sim::realtime::{Failure, Script, ToolCue, Trigger};

/// Ended from hotline's side: through Twilio's REST API (Twilio then stops the stream)
/// or by the node closing the stream right after that request. Which the phone sees
/// first is a race that real Twilio has too; the REST request itself is asserted apart.
fn ended_by_hotline(report: &hotline_sim::phone::CallReport) -> bool {
    matches!(
        report.hung_up_by,
        HangupSide::Api | HangupSide::Remote { .. }
    )
}

fn caller(segments: &[Segment]) -> AudioSource {
    AudioSource::Script(segments.to_vec())
}

fn speech(ms: u32) -> Segment {
    Segment::Speech { ms }
}

fn silence(ms: u32) -> Segment {
    Segment::Silence { ms }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_call_is_a_conversation_with_a_record() {
    let world = World::start(Script {
        caller_transcripts: vec!["I'd like to book a cleaning.".into()],
        replies: vec![
            "Hello, thanks for calling the clinic.".into(),
            "Of course, when would suit you?".into(),
        ],
        ..Script::default()
    })
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(6),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.http_status, 200);
    assert_eq!(report.hung_up_by, HangupSide::Caller);
    assert!(
        hotline_e2e::violations(&report).is_empty(),
        "{:?}",
        report.violations
    );
    assert!(report.frames_sent >= 280, "{report:?}");
    // Both replies (2 s each) were heard in full.
    assert!(report.bytes_heard >= 2 * 2000 * 8, "{report:?}");
    assert!(report.clears.is_empty(), "nobody interrupted");
    assert!(!report.marks.is_empty());
    assert!(
        report
            .marks
            .iter()
            .all(|m| m.echoed_at.is_some() && !m.cleared),
        "every mark played"
    );

    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.status, CallStatus::Completed);
    assert_eq!(
        call.outcome.as_ref().map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    assert!(call.answered_at.is_some() && call.ended_at.is_some());
    // The one caller turn was timed: speech stop → first reply audio sent → its first
    // mark echoed (the caller's phone plays in real time, so heard ≥ sent), and the
    // provider's connect.
    let latency = call
        .outcome
        .as_ref()
        .and_then(|o| o.latency.clone())
        .expect("a latency summary");
    assert_eq!(latency.turns, 1, "{latency:?}");
    let (respond, heard) = (
        latency.respond_ms.expect("respond"),
        latency.heard_ms.expect("heard"),
    );
    assert!(heard.max >= respond.max, "{latency:?}");
    assert!(latency.connect_ms.is_some(), "{latency:?}");
    let turns = world.turns(&report.call_sid).await;
    let said: Vec<(Speaker, &str)> = turns.iter().map(|t| (t.speaker, t.text.as_str())).collect();
    let said_by =
        |speaker: Speaker, text: &str| said.iter().any(|(s, t)| *s == speaker && t.ends_with(text));
    assert!(
        said_by(Speaker::Agent, "Hello, thanks for calling the clinic."),
        "{said:?}"
    );
    assert!(
        said_by(Speaker::Caller, "I'd like to book a cleaning."),
        "{said:?}"
    );
    assert!(
        said_by(Speaker::Agent, "Of course, when would suit you?"),
        "{said:?}"
    );
    let caller_turn = turns
        .iter()
        .find(|t| t.speaker == Speaker::Caller)
        .expect("caller turn");
    assert!(
        (2400..3200).contains(&caller_turn.offset_ms),
        "the caller spoke 2.5 s in: {caller_turn:?}"
    );

    let session = world.ai.session(0).expect("one AI session");
    assert!(session.bearer_ok, "the API key was sent");
    assert_eq!(session.model.as_deref(), Some("gpt-realtime"));
    let update = session.session_updates()[0].clone();
    let audio = update.audio.expect("audio config");
    let input = audio.input.expect("input");
    let output = audio.output.expect("output");
    assert_eq!(
        input.format,
        Some(AudioFormat::Pcmu),
        "µ-law in, no transcoding"
    );
    assert_eq!(
        output.format,
        Some(AudioFormat::Pcmu),
        "µ-law out, no transcoding"
    );
    let tools: Vec<String> = update
        .tools
        .unwrap_or_default()
        .iter()
        .filter_map(|t| match t {
            hotline_realtime::openai::Tool::Function(f) => Some(f.name.clone()),
            hotline_realtime::openai::Tool::Unknown => None,
        })
        .collect();
    assert_eq!(tools, ["end_call", "transfer_call"]);
    // Every caller frame reached the AI (the last few may be cut by the hang-up).
    assert!(
        session.appended_ms() + 200 >= report.frames_sent * 20,
        "appended {} ms of {} frames",
        session.appended_ms(),
        report.frames_sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_greeting_is_greeted_by_the_ai_speaking_first() {
    // No greeting, and a blank one (which Twilio would not say either).
    for greeting in [None, Some("   ")] {
        let world = World::start_with(
            Script {
                replies: vec!["Hello, Bright Smile Dental, how can I help?".into()],
                ..Script::default()
            },
            |agent| agent.greeting = greeting.map(str::to_owned),
        )
        .await;
        let spec = world.call(AudioSource::Silence, Duration::from_secs(4));
        let report = Phone::call(spec, None).await.expect("call placed");
        assert!(report.said.is_empty(), "Twilio said nothing: {report:?}");
        // The caller said nothing, yet heard the agent's whole reply.
        assert!(report.bytes_heard >= 2000 * 8, "{greeting:?}: {report:?}");
        let session = world.ai.session(0).expect("session");
        let first = session.responses.first().expect("a response");
        assert_eq!(first.trigger, Trigger::Client, "asked for by the node");
        assert_eq!(first.utterance, None, "before the caller spoke");
        // In the agent's own persona: a system note, not instructions that replace the
        // agent's, and nothing posing as the caller's words.
        assert_eq!(session.response_creates(), [None]);
        assert_eq!(
            session.system_texts().len(),
            1,
            "{:?}",
            session.system_texts()
        );
        assert!(session.user_texts().is_empty());

        world.finished_call(&report.call_sid).await;
        let turns = world.turns(&report.call_sid).await;
        assert_eq!(
            turns.first().map(|t| (t.speaker, t.text.as_str())),
            Some((
                Speaker::Agent,
                "Hello, Bright Smile Dental, how can I help?"
            ))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_greeting_lets_twilio_say_it_and_the_ai_waits() {
    let world = World::start_with(Script::default(), |agent| {
        agent.greeting = Some("Thanks for calling Bright Smile Dental.".into());
    })
    .await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(3));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.said, ["Thanks for calling Bright Smile Dental."]);
    world.finished_call(&report.call_sid).await;
    let session = world.ai.session(0).expect("session");
    assert!(session.responses.is_empty(), "{:?}", session.responses);
    assert_eq!(report.bytes_heard, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keypress_reaches_the_ai_as_a_system_note_not_as_the_callers_words() {
    let world = World::start(Script::default()).await;
    let mut spec = world.call(AudioSource::Silence, Duration::from_secs(5));
    spec.dtmf = vec![(Duration::from_millis(3000), '5')];
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.dtmf_sent, ['5']);
    world.finished_call(&report.call_sid).await;
    let session = world.ai.session(0).expect("session");
    assert!(
        session
            .system_texts()
            .iter()
            .any(|t| t.contains("pressed 5")),
        "{:?}",
        session.system_texts()
    );
    assert!(
        session.user_texts().is_empty(),
        "{:?}",
        session.user_texts()
    );
    // The AI answers the keypress: the greeting, then a response the node asked for.
    assert_eq!(session.responses.len(), 2, "{:?}", session.responses);
    assert_eq!(session.responses[1].trigger, Trigger::Client);
    let turns = world.turns(&report.call_sid).await;
    assert!(
        turns
            .iter()
            .any(|t| t.speaker == Speaker::Caller && t.text == "[pressed 5]"),
        "{turns:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_clears_twilio_and_truncates_at_what_the_caller_heard() {
    let world = World::start(Script {
        reply_ms: 6000,
        ..Script::default()
    })
    .await;
    // The greeting plays for 6 s; the caller talks over it 1.5 s in.
    let spec = world.call(
        caller(&[silence(1500), speech(1000), silence(2500)]),
        Duration::from_secs(5),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.clears.len(), 1, "{report:?}");
    let started = report
        .first_event(|e| *e == PhoneEvent::AudioStarted)
        .expect("greeting started playing");
    let cleared = report
        .first_event(|e| matches!(e, PhoneEvent::Clear { .. }))
        .expect("clear arrived");
    let heard_ms = u64::try_from((cleared - started).as_millis()).expect("ms");

    let truncates = world
        .ai
        .wait_for_session(|s| !s.truncates().is_empty(), Duration::from_secs(2))
        .await
        .expect("a truncate reached the AI")
        .truncates()
        .iter()
        .map(|(item, ms)| ((*item).to_owned(), *ms))
        .collect::<Vec<_>>();
    assert_eq!(truncates.len(), 1);
    let audio_end_ms = truncates[0].1;
    assert!(
        audio_end_ms.abs_diff(heard_ms) <= 40,
        "truncated at {audio_end_ms} ms, the caller heard {heard_ms} ms"
    );
    // The rest of the interrupted greeting never played.
    assert!(report.bytes_heard < 6000 * 8, "{report:?}");
    assert!(
        report.marks.iter().any(|m| m.cleared),
        "cleared marks were echoed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_round_trips_and_the_ai_speaks_its_result() {
    let world = World::start(Script {
        tool_calls: vec![ToolCue::new(0, "lookup_order", r#"{"order":"42"}"#)],
        ..Script::default()
    })
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(6),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let session = world.ai.session(0).expect("session");
    let outputs = session.function_call_outputs();
    assert_eq!(outputs.len(), 1, "{:?}", session.events.len());
    assert!(outputs[0].1.contains("lookup_order"), "{outputs:?}");
    // The result is followed by a response, which the caller hears.
    let creates = session.response_creates();
    assert!(
        creates.len() >= 2,
        "greeting and the tool result: {creates:?}"
    );
    assert!(
        session.responses.len() >= 3,
        "greeting, function call, spoken result"
    );
    assert!(report.bytes_heard >= 2 * 2000 * 8, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_call_says_goodbye_then_hangs_up_through_twilio() {
    let world = World::start(Script {
        tool_calls: vec![ToolCue::new(0, "end_call", "{}")],
        ..Script::default()
    })
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(10_000)]),
        Duration::from_secs(15),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    let hangup = world
        .twilio
        .wait_for(
            |r| {
                r.path
                    .ends_with(&format!("/Calls/{}.json", report.call_sid))
            },
            Duration::from_secs(1),
        )
        .await
        .expect("hang-up request");
    assert_eq!(hangup.param("Status"), Some("completed"));
    let session = world.ai.session(0).expect("session");
    assert!(
        session.system_texts().iter().any(|t| t.contains("goodbye")),
        "a goodbye was asked for: {:?}",
        session.system_texts()
    );
    assert!(
        session.response_creates().iter().all(Option::is_none),
        "no response replaced the agent's instructions: {:?}",
        session.response_creates()
    );
    // The goodbye (2 s) played before the hang-up, after the greeting (2 s).
    assert!(report.bytes_heard >= 2 * 2000 * 8, "{report:?}");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::AgentEnded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_redirects_the_live_call_to_a_person() {
    let world = World::start(Script {
        tool_calls: vec![ToolCue::new(0, "transfer_call", r#"{"reason":"billing"}"#)],
        ..Script::default()
    })
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(10_000)]),
        Duration::from_secs(15),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    let update = world
        .twilio
        .wait_for(|r| r.param("Twiml").is_some(), Duration::from_secs(1))
        .await
        .expect("redirect request");
    let twiml = hotline_twilio::twiml_read::parse(update.param("Twiml").expect("twiml"))
        .expect("valid TwiML");
    let dial = twiml.all_named("Number");
    assert_eq!(dial.len(), 1);
    assert_eq!(dial[0].text, hotline_local::configure::DEMO_TRANSFER_TO);
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::Transferred));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hanging_up_mid_response_ends_everything() {
    let world = World::start(Script {
        reply_ms: 8000,
        ..Script::default()
    })
    .await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(2));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.hung_up_by, HangupSide::Caller);
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    // The AI session was closed with the call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while world.ai.live_sessions() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "AI session left open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_provider_gets_the_caller_an_apology_not_dead_air() {
    let world = World::start(Script {
        refuse: Some(401),
        ..Script::default()
    })
    .await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(10));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    let update = world
        .twilio
        .wait_for(|r| r.param("Twiml").is_some(), Duration::from_secs(1))
        .await
        .expect("apology redirect");
    let twiml = hotline_twilio::twiml_read::parse(update.param("Twiml").expect("twiml"))
        .expect("valid TwiML");
    assert!(twiml.all_named("Say")[0].text.contains("Sorry"));
    assert_eq!(twiml.all_named("Hangup").len(), 1);
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    assert!(outcome.detail.unwrap_or_default().contains("401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_dropping_mid_call_ends_it_cleanly_with_the_reason() {
    let world = World::start(Script {
        fail: Some(Failure::DropAfterAudioMs(1500)),
        ..Script::default()
    })
    .await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(10));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    assert!(
        report.stream_duration < Duration::from_secs(5),
        "ended soon after the drop: {report:?}"
    );
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    assert!(outcome.detail.is_some());
    assert!(
        world
            .twilio
            .requests()
            .iter()
            .any(|r| r.param("Twiml").is_some_and(|t| t.contains("Sorry")))
    );
}

/// The call's apology: a `Twiml` redirect that says sorry and hangs up.
async fn apology_was_played(world: &World) {
    let update = world
        .twilio
        .wait_for(|r| r.param("Twiml").is_some(), Duration::from_secs(2))
        .await
        .expect("apology redirect");
    let twiml = hotline_twilio::twiml_read::parse(update.param("Twiml").expect("twiml"))
        .expect("valid TwiML");
    assert!(twiml.all_named("Say")[0].text.contains("Sorry"));
    assert_eq!(twiml.all_named("Hangup").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_the_provider_refuses_gets_an_apology_and_the_record_says_why() {
    let world = World::start_with(Script::default(), |agent| agent.voice = "robot".into()).await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(10));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    apology_was_played(&world).await;
    assert_eq!(report.bytes_heard, 0, "no audio of a misconfigured session");
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    let detail = outcome.detail.unwrap_or_default();
    assert!(
        detail.contains("session.update rejected") && detail.contains("session.audio.output.voice"),
        "{detail}"
    );
    // No µ-law went into the session the provider left configured for PCM.
    let session = world.ai.session(0).expect("session");
    assert_eq!(session.errors.len(), 1, "{:?}", session.errors);
    assert_eq!(session.appends, 0);
    assert!(session.response_creates().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_schema_the_provider_refuses_gets_an_apology_and_the_record_says_why() {
    let world = World::start_with(Script::default(), |agent| {
        agent.tools.push(hotline_core::model::ToolSpec {
            name: "lookup_order".into(),
            description: "Looks an order up.".into(),
            parameters: serde_json::json!({"type": "string"}),
            kind: hotline_core::model::ToolKind::Webhook {
                url: "https://example.com/orders".into(),
                timeout_secs: None,
            },
        });
    })
    .await;
    let spec = world.call(AudioSource::Silence, Duration::from_secs(10));
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    apology_was_played(&world).await;
    let outcome = world
        .finished_call(&report.call_sid)
        .await
        .outcome
        .expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    let detail = outcome.detail.unwrap_or_default();
    assert!(detail.contains("invalid_function_parameters"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_100_kb_prompt_holds_a_whole_call() {
    let prompt = "You answer the phone for the clinic; be kind and brief. ".repeat(1900);
    assert!(prompt.len() >= 100 * 1024);
    let world = World::start_with(
        Script {
            replies: vec!["Hello.".into(), "Of course.".into()],
            ..Script::default()
        },
        |agent| agent.instructions.clone_from(&prompt),
    )
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(6),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    assert!(report.bytes_heard >= 2 * 2000 * 8, "{report:?}");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    let session = world.ai.session(0).expect("session");
    let config = session.session.expect("configured");
    assert_eq!(config.instructions.map(|i| i.len()), Some(prompt.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_response_done_does_not_leave_the_call_stuck() {
    // The greeting's and the end_call response's `response.done` cannot be parsed;
    // the goodbye must still be asked for once the tool-calling response is over.
    let world = World::start(Script {
        tool_calls: vec![ToolCue::new(0, "end_call", "{}")],
        garbled_response_done: vec![0, 1],
        ..Script::default()
    })
    .await;
    let spec = world.call(
        caller(&[silence(2500), speech(800), silence(10_000)]),
        Duration::from_secs(15),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(ended_by_hotline(&report), "{report:?}");
    let session = world.ai.session(0).expect("session");
    // The goodbye is asked for as a system note followed by a response of its own.
    assert!(
        session
            .system_texts()
            .iter()
            .any(|t| t.to_lowercase().contains("goodbye")),
        "a goodbye was asked for: {:?}",
        session.system_texts()
    );
    assert!(
        session.response_creates().len() >= 2,
        "{:?}",
        session.response_creates()
    );
    assert!(report.bytes_heard >= 2 * 2000 * 8, "{report:?}");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::AgentEnded));
}
