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

/// The registry's live calls per node (by URL) once `ready` holds for them.
async fn wait_for_nodes(
    stores: &Stores,
    ready: impl Fn(&[StreamNodeStatus]) -> bool,
) -> Vec<StreamNodeStatus> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut nodes = stores.nodes.list_nodes().await.expect("registry");
        nodes.sort_by(|a, b| a.url.cmp(&b.url));
        if ready(&nodes) {
            return nodes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the registry never got there: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn live(nodes: &[StreamNodeStatus]) -> Vec<u32> {
    nodes.iter().map(|n| n.live_calls).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_spread_over_nodes_by_load_and_a_full_node_is_never_chosen() {
    let world = World::start_nodes(Script::default(), 2, 1).await;
    wait_for_nodes(&world.stores, |n| n.len() == 2).await;
    let first = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(6)),
        None,
    ));
    let after_first = wait_for_nodes(&world.stores, |n| live(n).iter().sum::<u32>() == 1).await;
    let second = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(6)),
        None,
    ));
    // The second call went to the node the first left empty: one call on each.
    let after_second = wait_for_nodes(&world.stores, |n| live(n) == [1, 1]).await;
    assert_eq!(
        after_first.iter().map(|n| &n.id).collect::<Vec<_>>(),
        after_second.iter().map(|n| &n.id).collect::<Vec<_>>()
    );
    // Both full: the registry offers nothing, the call goes to the shared URL (the
    // first node, full too) and is refused there with an apology, not routed to a
    // full node as if it had room.
    let third = Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(1)),
        None,
    )
    .await
    .expect("third call");
    assert_eq!(
        third.stream_refused.as_ref().map(|r| r.0),
        Some(503),
        "{third:?}"
    );
    for call in [first, second] {
        let report = call.await.expect("task").expect("call");
        assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_gets_no_new_call_and_finishes_its_own() {
    let world = World::start_nodes(Script::default(), 2, 10).await;
    wait_for_nodes(&world.stores, |n| n.len() == 2).await;
    let first = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(3)),
        None,
    ));
    let nodes = wait_for_nodes(&world.stores, |n| live(n).iter().sum::<u32>() == 1).await;
    let busy = nodes
        .iter()
        .find(|n| n.live_calls == 1)
        .expect("busy node")
        .url
        .clone();
    // The idle node is told to drain: every new call must go to the busy one.
    let idle = world
        .stack
        .nodes
        .iter()
        .find(|n| n.url != busy)
        .expect("idle node");
    idle.drain();
    wait_for_nodes(&world.stores, |n| {
        n.iter().any(|s| s.url == idle.url && s.draining)
    })
    .await;
    let later = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(2)),
        None,
    ));
    let nodes = wait_for_nodes(&world.stores, |n| live(n).iter().sum::<u32>() == 2).await;
    let on_busy = nodes.iter().find(|n| n.url == busy).expect("busy node");
    assert_eq!(on_busy.live_calls, 2, "{nodes:?}");
    for call in [first, later] {
        let report = call.await.expect("task").expect("call");
        assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_down_mid_call_leaves_the_other_nodes_calls_alone() {
    let world = World::start_nodes(Script::default(), 2, 1).await;
    wait_for_nodes(&world.stores, |n| n.len() == 2).await;
    let first = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(4)),
        None,
    ));
    wait_for_nodes(&world.stores, |n| live(n).iter().sum::<u32>() == 1).await;
    let second = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(4)),
        None,
    ));
    // One call on each node (a node takes one call here).
    wait_for_nodes(&world.stores, |n| live(n) == [1, 1]).await;
    // The first node dies: its call is cut, and it takes no more.
    let dead = &world.stack.nodes[0];
    dead.drain();
    dead.end_calls();
    let (first, second) = (
        first.await.expect("task").expect("call"),
        second.await.expect("task").expect("call"),
    );
    let (cut, kept) = if first
        .stream_url
        .as_deref()
        .is_some_and(|u| u.starts_with(&dead.url))
    {
        (first, second)
    } else {
        (second, first)
    };
    assert_ne!(
        cut.hung_up_by,
        HangupSide::Caller,
        "the dead node's call was cut: {cut:?}"
    );
    assert!(cut.stream_duration < Duration::from_secs(4), "{cut:?}");
    // The other node's call went on to the caller's own hang-up.
    assert_eq!(kept.hung_up_by, HangupSide::Caller, "{kept:?}");
    assert!(kept.stream_duration >= Duration::from_secs(4), "{kept:?}");
    let record = world.finished_call(&kept.call_sid).await;
    assert_eq!(
        record.outcome.as_ref().map(|o| o.reason),
        Some(EndReason::CallerHungUp),
        "{record:?}"
    );
}
