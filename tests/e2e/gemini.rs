//! Calls through the real voice webhook and stream node with the agent on Gemini Live
//! (the Gemini simulator in `hotline-sim`): a conversation on the record, barge-in,
//! tools, refusals and drops, a `goAway` survived by resumption, and the audio
//! conversion both ways measured on tones.

use std::time::Duration;

use hotline_core::model::{EndReason, Speaker, ToolKind, ToolSpec};
use hotline_e2e::World;
use hotline_sim::gemini::{Failure, Pace, Script, ToolCue};
use hotline_sim::phone::{AudioSource, HangupSide, Phone, Segment};
use hotline_sim::webhook::WebhookReceiver;

fn speech(ms: u32) -> Segment {
    Segment::Speech { ms }
}

fn silence(ms: u32) -> Segment {
    Segment::Silence { ms }
}

fn no_greeting(agent: &mut hotline_core::model::Agent) {
    agent.greeting = None;
}

/// The apology redirect went to Twilio and the record says the provider failed.
async fn apologised(world: &World, report: &hotline_sim::phone::CallReport) -> String {
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
async fn a_gemini_call_is_a_conversation_with_a_record() {
    let world = World::start_gemini(
        Script {
            caller_transcripts: vec!["I'd like to book a cleaning.".into()],
            replies: vec![
                "Hello, thanks for calling the clinic.".into(),
                "Of course, when would suit you?".into(),
            ],
            ..Script::default()
        },
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2500), speech(800), silence(3000)]),
        Duration::from_secs(6),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.hung_up_by, HangupSide::Caller);
    assert!(
        hotline_e2e::violations(&report).is_empty(),
        "{:?}",
        report.violations
    );
    // Both replies (2 s each) were heard, give or take the resampler's few ms.
    assert!(report.bytes_heard >= 2 * 1900 * 8, "{report:?}");
    assert!(report.clears.is_empty(), "nobody interrupted");

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
            (Speaker::Agent, "Of course, when would suit you?"),
        ]
    );

    let session = world.gemini.session(0).expect("one Gemini session");
    assert!(
        session.key_ok && session.key_in_header,
        "the key, in Google's header"
    );
    let setup = session.setup.clone().expect("setup");
    assert_eq!(setup.model, "models/gemini-live-2.5-flash-preview");
    let voice = setup
        .generation_config
        .and_then(|g| g.speech_config)
        .and_then(|s| s.voice_config)
        .and_then(|v| v.prebuilt_voice_config)
        .map(|p| p.voice_name);
    assert_eq!(voice.as_deref(), Some("Puck"));
    assert!(setup.input_audio_transcription.is_some());
    assert!(setup.output_audio_transcription.is_some());
    assert!(setup.session_resumption.is_some());
    let tools: Vec<String> = setup
        .tools
        .unwrap_or_default()
        .iter()
        .flat_map(|t| t.function_declarations.iter().map(|d| d.name.clone()))
        .collect();
    assert_eq!(tools, ["end_call", "transfer_call"]);
    assert_eq!(session.audio_mime_types, ["audio/pcm;rate=16000"]);
    // The greeting was asked for as a note, never as the caller's words.
    assert!(
        session.client_texts[0].contains("Greet them"),
        "{:?}",
        session.client_texts
    );
    // Every caller frame reached Gemini (the last few may be cut by the hang-up).
    assert!(
        session.audio_ms() + 200 >= report.frames_sent * 20,
        "{} ms of {} frames",
        session.audio_ms(),
        report.frames_sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_on_gemini_clears_twilio_and_cuts_the_reply() {
    let world = World::start_gemini(
        Script {
            reply_ms: 4000,
            pace: Pace::RealTime,
            ..Script::default()
        },
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(1500), speech(800), silence(2500)]),
        Duration::from_secs(5),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert!(
        !report.clears.is_empty(),
        "Twilio was told to clear: {report:?}"
    );
    let session = world.gemini.session(0).expect("session");
    let first = &session.replies[0];
    assert!(first.interrupted, "{:?}", session.replies);
    assert!(first.audio_ms < 4000, "generation stopped: {first:?}");
    // The caller heard the first reply only until they spoke, then the second.
    let second = session.replies.get(1).expect("a reply to the caller");
    assert!(!second.interrupted);
    assert!(
        report.bytes_heard < (4000 + second.audio_ms) * 8,
        "the interrupted reply was cut: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_calls_a_built_in_tool_and_a_webhook_tool() {
    // end_call: the model's goodbye plays, then the call is hung up.
    let world = World::start_gemini(
        Script {
            tool_calls: vec![ToolCue::new(0, "end_call", serde_json::json!({}))],
            replies: vec!["Hello.".into(), "Goodbye!".into()],
            ..Script::default()
        },
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2500), speech(800), silence(8000)]),
        Duration::from_secs(12),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::AgentEnded));
    let session = world.gemini.session(0).expect("session");
    let answered: Vec<&str> = session
        .tool_responses
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(answered, ["end_call"]);
    assert!(
        session
            .replies
            .iter()
            .any(|r| r.transcript == "Goodbye!" && !r.interrupted),
        "{:?}",
        session.replies
    );

    // A webhook tool: the arguments go out signed, the answer comes back to the model.
    let hook = WebhookReceiver::start("whsec_gemini")
        .await
        .expect("receiver");
    hook.answer_with(r#"{"status":"shipped"}"#);
    let url = hook.url().to_owned();
    let world = World::start_gemini(
        Script {
            tool_calls: vec![ToolCue::new(
                0,
                "lookup_order",
                serde_json::json!({"order": "A-1"}),
            )],
            ..Script::default()
        },
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
    world.sign_webhooks_with("whsec_gemini").await;
    let spec = world.call(
        AudioSource::Script(vec![silence(2500), speech(800), silence(4000)]),
        Duration::from_secs(7),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let deliveries = hook.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].verified, Ok(()));
    assert_eq!(deliveries[0].body, br#"{"order":"A-1"}"#);
    let session = world.gemini.session(0).expect("session");
    let response = &session.tool_responses[0];
    assert_eq!(response.name, "lookup_order");
    assert_eq!(response.response, serde_json::json!({"status": "shipped"}));
    assert!(
        session
            .replies
            .last()
            .is_some_and(|r| r.audio_ms > 0 && !r.by_client),
        "the model spoke the answer by itself: {:?}",
        session.replies
    );
    world.finished_call(&report.call_sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_dropped_gemini_session_gets_the_caller_an_apology() {
    // Refused at the upgrade.
    let world = World::start_gemini(
        Script {
            refuse: Some(401),
            ..Script::default()
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
    assert!(apologised(&world, &report).await.contains("401"));

    // A wrong key: the socket opens, and closes with 1008 after setup.
    let world = World::start_gemini(Script::default(), no_greeting).await;
    world.gemini.set_script(Script {
        api_key: Some("another-key".into()),
        ..Script::default()
    });
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(8)),
        None,
    )
    .await
    .expect("call placed");
    let detail = apologised(&world, &report).await;
    assert!(
        detail.contains("1008") || detail.contains("Policy"),
        "{detail}"
    );

    // Dropped mid-call with nothing to resume.
    let world = World::start_gemini(
        Script {
            fail: Some(Failure::DropAfterAudioMs(1500)),
            resumable: false,
            ..Script::default()
        },
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
    apologised(&world, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_away_mid_call_is_survived_by_resuming_the_session() {
    let world = World::start_gemini(
        Script {
            caller_transcripts: vec!["First question.".into(), "Second question.".into()],
            replies: vec!["One.".into(), "Two.".into(), "Three.".into()],
            fail: Some(Failure::GoAwayAfterAudioMs(
                2000,
                Duration::from_millis(500),
            )),
            ..Script::default()
        },
        no_greeting,
    )
    .await;
    let spec = world.call(
        AudioSource::Script(vec![
            silence(2500),
            speech(800),
            silence(1500),
            speech(800),
            silence(2500),
        ]),
        Duration::from_secs(8),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    let sessions = world.gemini.sessions();
    assert!(sessions.len() >= 2, "a second session: {}", sessions.len());
    assert_eq!(sessions[0].go_aways, 1);
    assert!(sessions[1].resumed.is_some(), "resumed with the handle");
    // The conversation went on where it was: the second question got the next reply.
    let turns = world.turns(&report.call_sid).await;
    let said: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    let summary: Vec<_> = sessions
        .iter()
        .map(|s| {
            (
                s.resumed.is_some(),
                s.go_aways,
                &s.utterances,
                &s.replies,
                &s.end,
                s.audio_ms(),
            )
        })
        .collect();
    assert!(said.contains(&"Second question."), "{said:?} {summary:#?}");
    assert!(said.contains(&"Three."), "{said:?}");
    assert!(
        world
            .twilio
            .requests()
            .iter()
            .all(|r| r.param("Twiml").is_none()),
        "no apology"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tones_cross_the_gemini_bridge_at_the_right_frequency_and_rate() {
    // Caller → Gemini: a 1 kHz tone arrives as 16 kHz PCM at 1 kHz.
    let world = World::start_gemini(
        Script {
            vad_threshold_dbfs: 0.0, // never speech: the tone is measured, not answered
            ..Script::default()
        },
        |agent| agent.greeting = Some("Hello.".into()),
    )
    .await;
    let spec = world.call(
        AudioSource::Tone {
            freq_hz: 1000.0,
            dbfs: -12.0,
            ms: 2000,
        },
        Duration::from_secs(3),
    );
    let report = Phone::call(spec, None).await.expect("call placed");
    let session = world.gemini.session(0).expect("session");
    let pcm = &session.caller_pcm;
    // 16 samples a ms: the rate it was declared at.
    assert!(
        pcm.len() as u64 + 16 * 200 >= report.frames_sent * 20 * 16,
        "{} samples",
        pcm.len()
    );
    let steady = &pcm[1600..pcm.len().min(1600 + 16_000)];
    let at_1k = hotline_audio::goertzel_dbfs(steady, 16_000, 1000.0);
    assert!((at_1k - -12.0).abs() < 1.5, "1 kHz at {at_1k} dBFS");
    for other in [500.0, 2000.0, 7000.0] {
        let db = hotline_audio::goertzel_dbfs(steady, 16_000, other);
        assert!(at_1k - db > 40.0, "{other} Hz at {db} dBFS");
    }

    // Gemini → caller: a 1 kHz tone heard at 1 kHz; a 5 kHz one (above the phone's
    // 4 kHz) leaves no alias at 3 kHz above -60 dB.
    for (tone, alias) in [(1000.0, None), (5000.0, Some(3000.0))] {
        let world = World::start_gemini(
            Script {
                reply_tone_hz: tone,
                reply_ms: 2000,
                ..Script::default()
            },
            no_greeting,
        )
        .await;
        let report = Phone::call(
            world.call(AudioSource::Silence, Duration::from_secs(3)),
            None,
        )
        .await
        .expect("call placed");
        let heard: Vec<i16> = report
            .heard
            .iter()
            .map(|&b| hotline_audio::decode(b))
            .collect();
        let start = heard.iter().position(|&s| s != 0).unwrap_or(0);
        let window = &heard[start..heard.len().min(start + 8000)];
        // The model's tone is at -12 dBFS.
        match alias {
            None => {
                let at = hotline_audio::goertzel_dbfs(window, 8000, tone);
                assert!((at - -12.0).abs() < 1.5, "{tone} Hz heard at {at} dBFS");
                // µ-law's error on a tone of whole-sample period sits on its
                // harmonics: elsewhere, nothing.
                for other in [600.0, 1700.0, 2600.0, 3300.0] {
                    let db = hotline_audio::goertzel_dbfs(window, 8000, other);
                    assert!(at - db > 40.0, "{other} Hz at {db} dBFS");
                }
            }
            Some(alias) => {
                let heard_db = hotline_audio::goertzel_dbfs(&heard, 8000, alias);
                assert!(heard_db <= -12.0 - 60.0, "alias at {heard_db} dBFS");
            }
        }
    }
}
