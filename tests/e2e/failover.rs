//! An agent with a `fallback:` provider: when its own provider refuses at connect, the
//! call goes on with the fallback (the caller hears a pause, not an apology) and the
//! record names the provider that carried it; when both refuse, the apology says why.

use std::time::Duration;

use hotline_core::model::{Agent, EndReason, Fallback, Provider};
use hotline_e2e::World;
use hotline_sim::phone::{AudioSource, Phone, Segment};

/// The demo agent on Gemini Live, falling back to OpenAI Realtime.
fn gemini_falling_back_to_openai(agent: &mut Agent) {
    agent.greeting = None;
    agent.fallback = Some(Fallback {
        provider: Provider::OpenaiRealtime,
        model: "gpt-realtime".into(),
        voice: "marin".into(),
    });
}

async fn call(world: &World) -> hotline_sim::phone::CallReport {
    let spec = world.call(
        AudioSource::Script(vec![
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
            Segment::Silence { ms: 3000 },
        ]),
        Duration::from_secs(7),
    );
    Phone::call(spec, None).await.expect("call placed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_provider_hands_the_call_to_the_agents_fallback() {
    let world = World::start_gemini(
        hotline_sim::gemini::Script {
            refuse: Some(503),
            ..hotline_sim::gemini::Script::default()
        },
        gemini_falling_back_to_openai,
    )
    .await;
    let report = call(&world).await;

    let session = world.ai.session(0).expect("the fallback's session");
    let update = session.session_updates()[0].clone();
    let voice = update.audio.and_then(|a| a.output).and_then(|o| o.voice);
    assert_eq!(
        voice,
        Some(hotline_realtime::openai::Voice::Named("marin".into())),
        "the fallback's own voice"
    );
    assert_eq!(session.model.as_deref(), Some("gpt-realtime"));
    assert!(
        report.bytes_heard > 0,
        "the caller heard the fallback speak"
    );
    assert!(
        world
            .twilio
            .requests()
            .iter()
            .all(|r| r.param("Twiml").is_none()),
        "no apology was played"
    );
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::CallerHungUp);
    assert_eq!(outcome.provider, Some(Provider::OpenaiRealtime));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_fallback_refuses_too_the_caller_gets_the_apology_and_both_reasons() {
    let world = World::start_gemini(
        hotline_sim::gemini::Script {
            refuse: Some(503),
            ..hotline_sim::gemini::Script::default()
        },
        gemini_falling_back_to_openai,
    )
    .await;
    world.ai.set_script(hotline_sim::realtime::Script {
        refuse: Some(401),
        ..hotline_sim::realtime::Script::default()
    });
    let report = call(&world).await;

    world
        .twilio
        .wait_for(|r| r.param("Twiml").is_some(), Duration::from_secs(2))
        .await
        .expect("apology redirect");
    let call = world.finished_call(&report.call_sid).await;
    let outcome = call.outcome.expect("outcome");
    assert_eq!(outcome.reason, EndReason::ProviderFailed);
    assert_eq!(outcome.provider, None, "no provider carried the call");
    let detail = outcome.detail.unwrap_or_default();
    assert!(
        detail.contains("503") && detail.contains("fallback:") && detail.contains("401"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_provider_connects_never_touches_its_fallback() {
    let world = World::start_with(hotline_sim::realtime::Script::default(), |agent| {
        agent.fallback = Some(Fallback {
            provider: Provider::GeminiLive,
            model: "gemini-live-2.5-flash-preview".into(),
            voice: "Puck".into(),
        });
    })
    .await;
    let report = call(&world).await;
    assert!(
        world.gemini.sessions().is_empty(),
        "the fallback was never opened"
    );
    let call = world.finished_call(&report.call_sid).await;
    assert_eq!(
        call.outcome.and_then(|o| o.provider),
        Some(Provider::OpenaiRealtime)
    );
}
