//! Webhook tools through the real stream node: the model's arguments POSTed, signed, to
//! an organization's endpoint (the signature-checking receiver of `hotline-sim`), and
//! what comes back — an answer, a delay, a failure — handed to the model, the call going
//! on whatever happens.

use std::time::Duration;

use hotline_core::CallSid;
use hotline_core::model::{Agent, EndReason, ToolKind, ToolSpec};
use hotline_e2e::World;
use hotline_sim::phone::{AudioSource, Phone, Segment};
use hotline_sim::realtime::{Script, ToolCue};
use hotline_sim::webhook::WebhookReceiver;

const SECRET: &str = "whsec_e2e_tools";
const ARGUMENTS: &str = r#"{"order":"A-77341"}"#;

fn lookup_order(url: &str, timeout_secs: Option<u32>) -> impl FnOnce(&mut Agent) {
    let url = url.to_owned();
    move |agent| {
        agent.tools.push(ToolSpec {
            name: "lookup_order".into(),
            description: "Looks up an order's status by its number.".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"order": {"type": "string"}},
                "required": ["order"]
            }),
            kind: ToolKind::Webhook { url, timeout_secs },
        });
    }
}

fn script() -> Script {
    Script {
        tool_calls: vec![ToolCue::new(0, "lookup_order", ARGUMENTS)],
        ..Script::default()
    }
}

/// A caller who asks something at 2.5 s and then listens for `listen_ms`.
async fn call(world: &World, listen_ms: u32) -> hotline_sim::phone::CallReport {
    let spec = world.call(
        AudioSource::Script(vec![
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
            Segment::Silence { ms: listen_ms },
        ]),
        Duration::from_millis(u64::from(3300 + listen_ms)),
    );
    Phone::call(spec, None).await.expect("call placed")
}

/// The tool's output as the model got it, and whether a spoken response read it.
fn output_and_reply(world: &World) -> (String, bool) {
    let session = world.ai.session(0).expect("session");
    let outputs = session.function_call_outputs();
    assert_eq!(outputs.len(), 1, "one tool output: {outputs:?}");
    let output = outputs[0].1.to_owned();
    let spoken = session
        .responses
        .iter()
        .any(|r| r.tool_output.as_deref() == Some(output.as_str()) && r.audio_ms > 0);
    (output, spoken)
}

async fn call_continued(world: &World, sid: &CallSid) {
    let call = world.finished_call(sid).await;
    assert_eq!(
        call.outcome.map(|o| o.reason),
        Some(EndReason::CallerHungUp),
        "the call went on until the caller hung up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_tools_answer_reaches_the_model_and_the_model_speaks() {
    let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
    hook.answer_with(r#"{"status":"shipped","eta":"Tuesday"}"#);
    let world = World::start_with(script(), lookup_order(hook.url(), None)).await;
    world.sign_webhooks_with(SECRET).await;
    let report = call(&world, 4000).await;

    let deliveries = hook.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let d = &deliveries[0];
    assert_eq!(d.verified, Ok(()), "signed with the organization's secret");
    assert_eq!(
        d.body,
        ARGUMENTS.as_bytes(),
        "the model's arguments, as JSON"
    );
    let event_id = d.event_id.as_deref().unwrap_or_default();
    assert!(
        event_id.starts_with(&format!("{}:", report.call_sid)),
        "call sid and tool call id: {event_id}"
    );
    let (output, spoken) = output_and_reply(&world);
    assert_eq!(output, r#"{"status":"shipped","eta":"Tuesday"}"#);
    assert!(spoken, "a response read the answer and spoke");
    let session = world.ai.session(0).expect("session");
    assert!(
        !session
            .system_texts()
            .iter()
            .any(|t| t.contains("still working")),
        "a quick tool needs no filler"
    );
    call_continued(&world, &report.call_sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tool_gets_a_filler_then_its_answer() {
    let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
    hook.answer_with(r#"{"slots":["9:00","14:30"]}"#);
    hook.delay(Duration::from_millis(3000));
    let world = World::start_with(script(), lookup_order(hook.url(), None)).await;
    world.sign_webhooks_with(SECRET).await;
    let report = call(&world, 7000).await;

    let session = world.ai.session(0).expect("session");
    let filler = session
        .events
        .iter()
        .position(|e| e.system_text().is_some_and(|t| t.contains("still working")))
        .expect("a filler was asked for while the tool ran");
    let output_at = session
        .events
        .iter()
        .position(|e| e.function_call_output().is_some())
        .expect("the answer came");
    assert!(filler < output_at, "the filler came first");
    // The filler was spoken: a client response between the two, with audio.
    let spoken_fillers = session
        .responses
        .iter()
        .filter(|r| r.function_call.is_none() && r.tool_output.is_none() && r.audio_ms > 0)
        .count();
    assert!(spoken_fillers >= 2, "greeting and filler: {spoken_fillers}");
    let (output, spoken) = output_and_reply(&world);
    assert_eq!(output, r#"{"slots":["9:00","14:30"]}"#);
    assert!(spoken, "the answer was spoken after the filler");
    call_continued(&world, &report.call_sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_that_fails_or_times_out_is_an_error_the_model_can_tell_the_caller() {
    for (status, timeout, delay, why) in [
        (500, None, Duration::ZERO, "the tool answered HTTP 500"),
        (
            200,
            Some(1),
            Duration::from_secs(4),
            "the tool did not answer within 1 s",
        ),
    ] {
        let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
        hook.respond_with(vec![status]);
        hook.delay(delay);
        let world = World::start_with(script(), lookup_order(hook.url(), timeout)).await;
        world.sign_webhooks_with(SECRET).await;
        let report = call(&world, 4000).await;
        let (output, spoken) = output_and_reply(&world);
        let output: serde_json::Value = serde_json::from_str(&output).expect("JSON");
        assert_eq!(output["ok"], false);
        assert_eq!(output["error"], why);
        assert!(spoken, "the model answered the caller after the failure");
        call_continued(&world, &report.call_sid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_a_tool_url_to_a_private_address_is_refused_and_never_called() {
    let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
    let world = World::start_deployed(script(), lookup_order(hook.url(), None)).await;
    world.sign_webhooks_with(SECRET).await;
    let report = call(&world, 4000).await;
    let (output, spoken) = output_and_reply(&world);
    assert!(output.contains("the tool's URL is refused"), "{output}");
    assert!(spoken);
    assert!(hook.deliveries().is_empty(), "nothing reached the address");
    call_continued(&world, &report.call_sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_the_tool_is_not_called_and_the_model_is_told_why() {
    let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
    let world = World::start_with(script(), lookup_order(hook.url(), None)).await;
    let report = call(&world, 4000).await;
    let (output, _) = output_and_reply(&world);
    assert!(output.contains("no webhook secret"), "{output}");
    assert!(hook.deliveries().is_empty(), "never sent unsigned");
    call_continued(&world, &report.call_sid).await;
}

/// An agent that can press keys: the model asks for `keys` after the caller's first
/// utterance (here the "caller" is the phone menu an outbound call reached).
fn press(keys: &str) -> (Script, impl FnOnce(&mut Agent)) {
    let script = Script {
        tool_calls: vec![ToolCue::new(
            0,
            "press_keys",
            serde_json::json!({"digits": keys}).to_string(),
        )],
        ..Script::default()
    };
    let agent = |agent: &mut Agent| {
        let tool = hotline_config::agent_from_json(
            &agent.org,
            serde_json::json!({
                "id": "menu", "provider": "openai_realtime", "voice": "alloy",
                "instructions": "Navigate the menu.",
                "tools": [{"name": "press_keys", "type": "send_dtmf"}],
            }),
        )
        .expect("a send_dtmf tool as the file declares it")
        .tools
        .remove(0);
        agent.tools.push(tool);
    };
    (script, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_model_presses_reach_the_far_end_as_tones_and_the_call_goes_on() {
    let (script, agent) = press("1w2#");
    let world = World::start_with(script, agent).await;
    let report = call(&world, 4000).await;

    // What the far end heard, decoded from its earpiece by the simulator's keypad ear.
    assert_eq!(hotline_sim::keypad::decode_keys(&report.heard), "12#");
    let (output, spoken) = output_and_reply(&world);
    let output: serde_json::Value = serde_json::from_str(&output).expect("JSON");
    assert_eq!(output["ok"], true, "{output}");
    assert_eq!(output["pressed"], "1w2#");
    assert!(spoken, "the model went on talking after pressing");
    call_continued(&world, &report.call_sid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_are_not_keys_play_nothing_and_the_model_is_told_why() {
    let (script, agent) = press("1x");
    let world = World::start_with(script, agent).await;
    let report = call(&world, 4000).await;

    assert_eq!(hotline_sim::keypad::decode_keys(&report.heard), "");
    let (output, _) = output_and_reply(&world);
    assert!(output.contains("is not a key"), "{output}");
    call_continued(&world, &report.call_sid).await;
}
