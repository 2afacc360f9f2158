//! The node's limits: a bound on concurrent calls, and draining on shutdown.

use std::time::Duration;

use hotline_core::model::EndReason;
use hotline_core::model::StreamNodeStatus;
use hotline_e2e::{World, health};
use hotline_sim::phone::{AudioSource, HangupSide, Phone};
use hotline_sim::realtime::Script;
use hotline_store::Stores;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_beyond_the_call_bound_are_refused_with_503_and_an_apology() {
    let world = World::start_full(Script::default(), |_| {}, 1, Duration::from_secs(5)).await;
    let first = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(3)),
        None,
    ));
    // Wait until the first call holds the only slot.
    world
        .ai
        .wait_for_session(|s| s.upgraded(), Duration::from_secs(5))
        .await
        .expect("first call connected");
    let second = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(1)),
        None,
    )
    .await
    .expect("second call");
    assert_eq!(
        second.stream_refused.as_ref().map(|r| r.0),
        Some(503),
        "{second:?}"
    );
    // Twilio goes on after </Connect>: the caller hears why, not a silent hang-up.
    assert!(
        second.said.last().is_some_and(|s| s.starts_with("Sorry")),
        "{second:?}"
    );
    assert_eq!(second.hung_up_by, HangupSide::Twiml);
    let first = first.await.expect("task").expect("first call");
    assert_eq!(first.hung_up_by, HangupSide::Caller);
    // The slot is free again once the first call is over.
    let third = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(1)),
        None,
    )
    .await
    .expect("third call");
    assert!(third.stream_sid.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_live_calls_then_ends_them_cleanly() {
    let world = World::start_full(Script::default(), |_| {}, 10, Duration::from_secs(2)).await;
    assert_eq!(world.health().await, 200);
    let live = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(30)),
        None,
    ));
    world
        .ai
        .wait_for_session(|s| s.upgraded(), Duration::from_secs(5))
        .await
        .expect("call connected");
    // The node reports the live call in the registry the voice webhook routes by.
    let registered = wait_for_node(&world.stores, |n| n.live_calls == 1 && !n.draining).await;
    assert_eq!(registered.capacity, 10);
    let World {
        stack,
        stores,
        ai,
        twilio,
        ..
    } = world;
    let stream = stack.stream;
    let stopping = tokio::spawn(stack.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Draining is reported at once, not at the next beat: no new call is routed here.
    let nodes = stores.nodes.list_nodes().await.expect("registry");
    assert!(
        nodes.iter().all(|n| n.id == registered.id && n.draining),
        "{nodes:?}"
    );
    // Draining: health checks fail so the load balancer stops sending calls, and new
    // streams are refused, while the live call goes on.
    assert_eq!(health(stream).await, 503);
    assert!(
        !live.is_finished(),
        "the live call continues while draining"
    );

    let report = live.await.expect("task").expect("live call");
    stopping.await.expect("stopped");
    // Ended by the node at the deadline (2 s), long before the caller's 30 s.
    assert!(
        report.stream_duration < Duration::from_secs(10),
        "{report:?}"
    );
    assert!(
        matches!(
            report.hung_up_by,
            HangupSide::Remote { .. } | HangupSide::Api
        ),
        "{report:?}"
    );
    let call = stores
        .calls
        .get_call(&report.call_sid)
        .await
        .expect("get")
        .expect("call");
    assert_eq!(call.outcome.map(|o| o.reason), Some(EndReason::Shutdown));
    assert!(call.ended_at.is_some());
    // The caller was told, in Twilio's voice, rather than cut off.
    assert!(
        twilio
            .requests()
            .iter()
            .any(|r| r.param("Twiml").is_some_and(|t| t.contains("Sorry")))
    );
    drop(ai);
}

/// The local node's registry entry once `ready` holds (the node beats every second).
async fn wait_for_node(
    stores: &Stores,
    ready: impl Fn(&StreamNodeStatus) -> bool,
) -> StreamNodeStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let nodes = stores.nodes.list_nodes().await.expect("registry");
        assert!(nodes.len() <= 1, "one node, one entry: {nodes:?}");
        if let Some(node) = nodes.into_iter().find(|n| ready(n)) {
            return node;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never reported as expected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
