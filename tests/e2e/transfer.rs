//! Warm transfer on the local stack: the caller on hold in the call's conference, the
//! person dialled (the fake Twilio places the leg, answering as scripted), whispered a
//! summary and asked for a key; connected on 1, and otherwise the caller back with the
//! agent, who says the person could not be reached.

use std::time::Duration;

use hotline_core::model::{Call, EndReason, ToolKind};
use hotline_core::transfer::{Transfer, TransferMode, TransferOutcome, conference_name};
use hotline_e2e::{LLM_KEY, World};
use hotline_sim::phone::{AudioSource, CallReport, HangupSide, Phone, Segment, follow_api_updates};
use hotline_sim::realtime::{Script, ToolCue};
use hotline_sim::twilio_rest::{
    Callee, CalleeLog, OutboundTiming, RecordedRequest, openapi_violations, twilio_openapi,
};

const SUMMARY: &str = "Ann Lee wants to dispute a charge on her last bill.";
const HOLD_MUSIC: &str = "http://127.0.0.1:9/hold.mp3";

/// A world whose agent transfers warm, the caller asking for a person, the fake Twilio
/// placing the person's leg as `callee` answers, and the chat model's summary scripted.
async fn world(callee: Callee) -> World {
    let world = World::start_with(
        Script {
            caller_transcripts: vec![
                "There is a charge on my bill I don't recognise.".into(),
                "Can I talk to a person?".into(),
            ],
            replies: vec!["Hello, how can I help?".into()],
            reply_ms: 600,
            // Asked for a person in the caller's second utterance.
            tool_calls: vec![ToolCue::new(1, "transfer_call", r#"{"reason":"billing"}"#)],
            ..Script::default()
        },
        |agent| {
            for tool in &mut agent.tools {
                if let ToolKind::TransferCall {
                    mode,
                    hold_music_url,
                    ring_timeout_secs,
                    ..
                } = &mut tool.kind
                {
                    *mode = TransferMode::Warm;
                    *hold_music_url = Some(HOLD_MUSIC.into());
                    *ring_timeout_secs = Some(5);
                }
            }
        },
    )
    .await;
    world.llm.set_script(hotline_sim::chat::Script {
        api_key: Some(LLM_KEY.to_owned()),
        replies: vec![hotline_sim::chat::Reply::text(SUMMARY)],
        ..hotline_sim::chat::Script::default()
    });
    world.twilio.place_outbound_calls(OutboundTiming::default());
    world
        .twilio
        .set_callee(hotline_local::configure::DEMO_TRANSFER_TO, callee);
    world
}

/// The caller explains at 2.5 s and asks for a person at 5.8 s, then stays on the line
/// (on hold and, when it comes to that, on the agent's second stream): each stream
/// and the wait in the conference last at most `secs`.
async fn call(world: &World, secs: u64) -> CallReport {
    Phone::call(call_spec(world, secs), None)
        .await
        .expect("call placed")
}

/// The caller of [`call`], before the call is placed.
fn call_spec(world: &World, secs: u64) -> hotline_sim::phone::CallSpec {
    let mut spec = world.call(
        AudioSource::Script(vec![
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
        ]),
        Duration::from_secs(secs),
    );
    let sid = spec.call_sid.clone().expect("sid");
    spec.hangup = None;
    spec.redirects = Some(follow_api_updates(world.twilio.subscribe(), &sid));
    spec.conferences = Some(world.twilio.conferences());
    spec
}

/// The caller's call was moved to the conference: one inline TwiML update whose
/// `<Conference>` is the call's, on hold with the agent's music, ending with the caller.
fn moved_to_conference(world: &World, report: &CallReport) -> RecordedRequest {
    let path = format!("/Calls/{}.json", report.call_sid);
    let update = world
        .twilio
        .requests()
        .into_iter()
        .find(|r| {
            r.path.ends_with(&path) && r.param("Twiml").is_some_and(|t| t.contains("<Conference"))
        })
        .expect("the caller moved to the conference");
    let doc =
        hotline_twilio::twiml_read::parse(update.param("Twiml").expect("twiml")).expect("TwiML");
    let room = &doc.all_named("Conference")[0];
    assert_eq!(room.text, conference_name(&report.call_sid));
    assert_eq!(room.attr("startConferenceOnEnter"), Some("false"));
    assert_eq!(room.attr("endConferenceOnExit"), Some("true"));
    assert_eq!(room.attr("waitUrl"), Some(HOLD_MUSIC));
    update
}

/// The person's leg as hotline asked Twilio for it, checked against Twilio's OpenAPI
/// description: to the transfer number, from the called number, detection on, the
/// agent's ring timeout, progress and TwiML on the transfer routes.
fn leg_request(world: &World, report: &CallReport) -> RecordedRequest {
    let create = world
        .twilio
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/Calls.json"))
        .expect("the person dialled");
    assert!(
        openapi_violations(&twilio_openapi(), &create).is_empty(),
        "{:?}",
        openapi_violations(&twilio_openapi(), &create)
    );
    assert_eq!(
        create.param("To"),
        Some(hotline_local::configure::DEMO_TRANSFER_TO)
    );
    assert_eq!(create.param("From"), Some(hotline_e2e::NUMBER));
    assert_eq!(create.param("MachineDetection"), Some("Enable"));
    assert_eq!(create.param("AsyncAmd"), None);
    assert_eq!(create.param("Timeout"), Some("5"));
    let query = format!("?call={}", report.call_sid);
    assert!(
        create
            .param("Url")
            .is_some_and(|u| u.ends_with(&format!("/twilio/transfer/answer{query}")))
    );
    assert!(
        create
            .param("StatusCallback")
            .is_some_and(|u| u.ends_with(&format!("/twilio/transfer/status{query}")))
    );
    create
}

/// The record once the attempt has an outcome (and, for one that did not connect, the
/// caller is back with the agent).
async fn settled(world: &World, report: &CallReport) -> Call {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let call = world
            .stores
            .calls
            .get_call(&report.call_sid)
            .await
            .expect("get call")
            .expect("call");
        if call.transfers.last().is_some_and(|t| {
            t.outcome == Some(TransferOutcome::Connected) || t.returned_at.is_some()
        }) {
            return call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transfer never settled: {:?}",
            call.transfers
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The caller came back to a second stream, on which the agent was told why and spoke.
fn back_with_the_agent(world: &World, report: &CallReport, outcome: TransferOutcome) {
    assert!(
        report
            .events
            .iter()
            .any(|(_, e)| matches!(e, hotline_sim::phone::PhoneEvent::Redirected))
    );
    assert_eq!(report.streams, 2, "{report:?}");
    // Brought back once, whatever else Twilio said about the leg afterwards.
    let path = format!("/Calls/{}.json", report.call_sid);
    let back_requests = world
        .twilio
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with(&path) && r.param("Twiml").is_some_and(|t| t.contains("<Connect>"))
        })
        .count();
    assert_eq!(back_requests, 1);
    assert!(
        report.bytes_heard > 0,
        "the agent spoke on the caller's return: {report:?}"
    );
    let back = world
        .ai
        .session(1)
        .expect("a second AI session for the return");
    let told = format!("{:?}", back.events);
    assert!(told.contains(outcome.return_line()), "{told}");
    assert!(
        told.contains(SUMMARY),
        "the agent was reminded of the call: {told}"
    );
}

/// What the person's leg went through, once it is over.
async fn leg_log(world: &World, attempt: &Transfer) -> CalleeLog {
    let leg = attempt.leg_sid.clone().expect("the leg's sid");
    world
        .twilio
        .callee_done(leg.as_str(), Duration::from_secs(20))
        .await
        .expect("the leg ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_accepts_is_connected_and_the_agent_leaves() {
    let world = world(Callee::Human).await;
    let report = call(&world, 16).await;
    moved_to_conference(&world, &report);
    let leg = leg_request(&world, &report);
    let call = settled(&world, &report).await;
    let attempt = call.transfers.last().expect("attempt");
    assert_eq!(attempt.outcome, Some(TransferOutcome::Connected));
    assert_eq!(attempt.summary, SUMMARY);
    let leg_sid = attempt.leg_sid.clone().expect("the leg's sid");
    assert_eq!(
        call.outcome.as_ref().map(|o| o.reason),
        Some(EndReason::Transferred)
    );
    // The summary came from the chat model, given the call's turns.
    let asked = world.llm.requests();
    assert_eq!(asked.len(), 1);
    assert!(
        format!("{:?}", asked[0].turns()).contains("a charge on my bill"),
        "{asked:?}"
    );

    // The person heard the whisper, pressed 1 and met the caller in the room.
    let log = leg_log(&world, attempt).await;
    assert_eq!(log.gather_said.first().map(String::as_str), Some(SUMMARY));
    assert_eq!(log.conferences, [conference_name(&report.call_sid)]);
    let room = world
        .twilio
        .conferences()
        .room(&conference_name(&report.call_sid))
        .expect("the room");
    assert_eq!(room.joined, [report.call_sid.as_str(), leg_sid.as_str()]);
    assert_eq!(report.conferences, [conference_name(&report.call_sid)]);
    // The agent is gone: one stream, its AI session closed, no second one.
    assert_eq!(report.streams, 1);
    assert!(world.ai.session(1).is_none());
    assert_eq!(world.ai.live_sessions(), 0);
    // Twilio's order on the leg: initiated, ringing, answered, completed.
    let statuses: Vec<&str> = log.statuses.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"]
    );
    assert!(
        log.statuses.iter().all(|(_, code)| *code == 204),
        "{:?}",
        log.statuses
    );
    // The caller left the room when the person hung up (their end ends it).
    assert_eq!(report.hung_up_by, HangupSide::Twiml, "{report:?}");
    let call = world
        .stores
        .calls
        .get_call(&report.call_sid)
        .await
        .expect("get")
        .expect("call");
    assert_eq!(call.transfers[0].leg_status.as_deref(), Some("completed"));
    assert_eq!(leg.param("StatusCallbackEvent"), Some("initiated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_does_not_answer_sends_the_caller_back_to_the_agent() {
    let world = world(Callee::NoAnswer).await;
    let report = call(&world, 12).await;
    moved_to_conference(&world, &report);
    leg_request(&world, &report);
    let call = settled(&world, &report).await;
    let attempt = &call.transfers[0];
    assert_eq!(attempt.outcome, Some(TransferOutcome::NoAnswer));
    assert_eq!(attempt.leg_status.as_deref(), Some("no-answer"));
    back_with_the_agent(&world, &report, TransferOutcome::NoAnswer);
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_declines_sends_the_caller_back_to_the_agent() {
    let world = world(Callee::Declines).await;
    let report = call(&world, 12).await;
    moved_to_conference(&world, &report);
    let call = settled(&world, &report).await;
    let attempt = &call.transfers[0];
    assert_eq!(attempt.outcome, Some(TransferOutcome::Declined));
    let log = leg_log(&world, attempt).await;
    assert_eq!(log.gather_said.first().map(String::as_str), Some(SUMMARY));
    assert!(
        log.conferences.is_empty(),
        "a person who declined never joins"
    );
    back_with_the_agent(&world, &report, TransferOutcome::Declined);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_sends_the_caller_back_to_the_agent_unwhispered() {
    let world = world(Callee::Voicemail).await;
    let report = call(&world, 12).await;
    moved_to_conference(&world, &report);
    let call = settled(&world, &report).await;
    let attempt = &call.transfers[0];
    assert_eq!(attempt.outcome, Some(TransferOutcome::Voicemail));
    let log = leg_log(&world, attempt).await;
    assert!(
        log.gather_said.is_empty(),
        "a machine never hears the summary"
    );
    back_with_the_agent(&world, &report, TransferOutcome::Voicemail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_on_hold_ends_the_transfer_and_the_persons_ringing() {
    let world = world(Callee::NoAnswer).await;
    // The person's phone would ring for 30 s; the caller gives up on hold long before.
    world.twilio.place_outbound_calls(OutboundTiming {
        no_answer_after: Duration::from_secs(30),
        ..OutboundTiming::default()
    });
    let org = hotline_core::OrgId::parse(hotline_local::configure::DEMO_ORG).expect("org");
    let id = hotline_core::AgentId::parse(hotline_local::configure::DEMO_AGENT).expect("agent");
    let mut agent = world
        .stores
        .directory
        .get_agent(&org, &id)
        .await
        .expect("get")
        .expect("agent");
    for tool in &mut agent.tools {
        if let ToolKind::TransferCall {
            ring_timeout_secs, ..
        } = &mut tool.kind
        {
            *ring_timeout_secs = Some(30);
        }
    }
    world.stores.directory.put_agent(&agent).await.expect("put");
    let mut spec = call_spec(&world, 9);
    spec.after_call.status_callback = Some(format!("{}/twilio/status", world.stack.public_url));
    let report = Phone::call(spec, None).await.expect("call placed");
    moved_to_conference(&world, &report);
    assert_eq!(report.status_callback_status, Some(204), "{report:?}");
    let call = world.finished_call(&report.call_sid).await;
    let attempt = &call.transfers[0];
    assert_eq!(
        attempt.outcome,
        Some(TransferOutcome::CallerLeft),
        "{call:?}"
    );
    assert_eq!(
        call.outcome.as_ref().map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
    // Nobody brought back: the caller had gone.
    assert_eq!(report.streams, 1, "{report:?}");
    // The person's phone stopped ringing when the caller left, not 30 s later.
    let log = leg_log(&world, attempt).await;
    let last = log.statuses.last().map(|(s, _)| s.as_str());
    assert_eq!(last, Some("canceled"), "{:?}", log.statuses);
    // And its late "canceled" changed nothing.
    let again = world
        .stores
        .calls
        .get_call(&report.call_sid)
        .await
        .expect("get")
        .expect("call");
    assert_eq!(
        again.transfers[0].outcome,
        Some(TransferOutcome::CallerLeft)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_webhooks_refuse_unsigned_and_unknown_calls() {
    let world = world(Callee::Human).await;
    let url = format!(
        "{}/twilio/transfer/answer?call=CA0123456789abcdef0123456789abcdef",
        world.stack.public_url
    );
    let form = [
        ("AccountSid", hotline_e2e::ACCOUNT),
        ("CallSid", "CAffffffffffffffffffffffffffffffff"),
    ];
    let http = reqwest::Client::new();
    let unsigned = http.post(&url).form(&form).send().await.expect("reachable");
    assert_eq!(unsigned.status(), 403);
    // Signed, but no transfer on that call: not found, nothing said to anyone.
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = hotline_sim::phone::sign(hotline_e2e::TOKEN, &url, &params);
    let unknown = http
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&form)
        .send()
        .await
        .expect("reachable");
    assert_eq!(unknown.status(), 404);
}
