//! Pre-warm: the voice webhook has the chosen node open the AI session while the call
//! is still being connected, so the stream's start finds it live.

use std::time::Duration;

use hotline_core::routes::{PREWARM, node_http_url};
use hotline_e2e::{PREWARM_UNUSED_AFTER, World};
use hotline_sim::phone::{AudioSource, CallReport, Phone, PhoneEvent};
use hotline_sim::realtime::Script;

/// A provider that takes 300 ms to accept a connection and 200 ms to start speaking.
fn slow_provider() -> Script {
    Script {
        connect_delay: Duration::from_millis(300),
        first_audio_delay: Duration::from_millis(200),
        ..Script::default()
    }
}

/// The agent speaks first (no `<Say>` greeting), so the first audio is the AI's.
fn ai_greets(agent: &mut hotline_core::model::Agent) {
    agent.greeting = None;
}

async fn node_registered(world: &World) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while world
        .stores
        .nodes
        .list_nodes()
        .await
        .expect("registry")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// From `start` to the first agent audio the caller hears.
fn first_audio_after_start(report: &CallReport) -> Duration {
    let started = report.stream_started_at.expect("stream started");
    let heard = report
        .events
        .iter()
        .find(|(_, e)| matches!(e, PhoneEvent::AudioStarted))
        .map(|(at, _)| *at)
        .expect("the agent was heard");
    heard.saturating_sub(started)
}

/// One call, and the latency its record keeps.
async fn call_once(world: &World) -> (CallReport, hotline_core::model::Latency) {
    node_registered(world).await;
    let mut spec = world.call(AudioSource::Silence, Duration::from_secs(2));
    // Twilio's own time between the TwiML and the stream's `start`.
    spec.stream_setup = Duration::from_millis(400);
    let report = Phone::call(spec, None).await.expect("call");
    let record = world.finished_call(&report.call_sid).await;
    let latency = record
        .outcome
        .and_then(|o| o.latency)
        .expect("the record keeps the call's latency");
    (report, latency)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_while_the_call_connects_is_the_one_the_call_uses() {
    let world = World::start_with(slow_provider(), ai_greets).await;
    let (report, latency) = call_once(&world).await;
    assert!(latency.prewarmed, "{latency:?}");
    // One provider session for the call: the pre-warmed one, not a second at start.
    let sessions = world.ai.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(report.bytes_heard > 0, "{report:?}");

    let cold = World::start_cold(slow_provider(), ai_greets).await;
    let (cold_report, cold_latency) = call_once(&cold).await;
    assert!(!cold_latency.prewarmed, "{cold_latency:?}");
    assert_eq!(cold.ai.sessions().len(), 1);
    // The figures for the README (a benchmark's job to judge, not this test's).
    eprintln!(
        "start → first agent audio: pre-warmed {:?} (connect_ms {:?}), cold {:?} (connect_ms {:?})",
        first_audio_after_start(&report),
        latency.connect_ms,
        first_audio_after_start(&cold_report),
        cold_latency.connect_ms,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_nobody_streams_to_is_closed_within_seconds() {
    let world = World::start_with(Script::default(), ai_greets).await;
    node_registered(&world).await;
    let mut spec = world.call(AudioSource::Silence, Duration::from_secs(1));
    // The caller hangs up while Twilio sets up the stream: it never connects.
    spec.stream_url_override = Some("ws://127.0.0.1:9/twilio/stream".to_owned());
    let never = Phone::call(spec, None).await;
    assert!(never.is_err(), "the stream never opened: {never:?}");
    let session = world
        .ai
        .wait_for_session(|s| s.upgraded(), Duration::from_secs(5))
        .await
        .expect("the pre-warm opened a session");
    let closed = world
        .ai
        .wait_for_session(
            |s| s.index == session.index && s.ended_at.is_some(),
            PREWARM_UNUSED_AFTER + Duration::from_secs(5),
        )
        .await
        .expect("the unused session was closed");
    let lived = closed.ended_at.expect("ended") - closed.connected_at;
    assert!(closed.appends == 0, "no audio ever went to it: {closed:?}");
    eprintln!("unused pre-warmed session closed after {lived:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prewarm_request_is_refused_unless_signed_for_a_live_call() {
    let world = World::start(Script::default()).await;
    node_registered(&world).await;
    let node = &world.stores.nodes.list_nodes().await.expect("registry")[0];
    let url = node_http_url(&node.url, PREWARM).expect("url");
    let client = reqwest::Client::new();
    let post = |body: String, signature: Option<String>| {
        let mut request = client.post(&url).body(body);
        if let Some(s) = signature {
            request = request.header("Hotline-Signature", s);
        }
        async move { request.send().await.expect("post").status().as_u16() }
    };
    let unknown = serde_json::json!({"call_sid": hotline_sim::phone::new_call_sid().as_str()});
    let now = chrono::Utc::now().timestamp();
    let forged =
        hotline_outbound::signing::signature(b"guess", now, unknown.to_string().as_bytes())
            .expect("sign");
    assert_eq!(post(unknown.to_string(), None).await, 403);
    assert_eq!(post(unknown.to_string(), Some(forged)).await, 403);
    assert_eq!(post("{not json".to_owned(), None).await, 400);
    assert_eq!(post("x".repeat(4096), None).await, 413);

    // A finished call's token signs correctly, and still opens nothing.
    let report = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(1)),
        None,
    )
    .await
    .expect("call");
    let record = world.finished_call(&report.call_sid).await;
    let body = serde_json::json!({"call_sid": record.sid.as_str()}).to_string();
    let signed = hotline_outbound::signing::signature(
        record.stream_token.as_bytes(),
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    )
    .expect("sign");
    let before = world.ai.sessions().len();
    assert_eq!(post(body, Some(signed)).await, 409);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.ai.sessions().len(), before, "nothing opened");
}
