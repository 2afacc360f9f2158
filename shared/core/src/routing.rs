//! Which stream node carries a new call. The registry is only as fresh as the last
//! heartbeat, so the choice leaves room for what a node may have taken since: least
//! loaded by share of capacity, never a draining, full or silent one. `None` sends the
//! call to the load balancer's URL, which is always a valid answer.

use chrono::{DateTime, Duration, Utc};

use crate::model::StreamNodeStatus;

/// How long a node's last heartbeat stays believable: three missed beats at the
/// default period. A node killed mid-call stops being chosen within this.
pub const STALE_AFTER_SECS: i64 = 15;

/// How long a node's record outlives its last heartbeat: long enough to look into a
/// node that died, short enough that the registry every voice webhook reads does not
/// grow with every node ever started. The store drops it then (DynamoDB's TTL).
pub const FORGET_AFTER_SECS: i64 = 3600;

/// The node a new call should go to, if any takes calls at `now`.
pub fn pick_node(nodes: &[StreamNodeStatus], now: DateTime<Utc>) -> Option<&StreamNodeStatus> {
    let stale_after = Duration::seconds(STALE_AFTER_SECS);
    nodes
        .iter()
        .filter(|n| n.takes_calls(now, stale_after))
        .min_by(|a, b| {
            // live/capacity compared without division: a.live * b.cap vs b.live * a.cap;
            // ties go to the node with more room left, then by id for a stable answer.
            let left = u64::from(a.live_calls) * u64::from(b.capacity);
            let right = u64::from(b.live_calls) * u64::from(a.capacity);
            left.cmp(&right)
                .then((b.capacity - b.live_calls).cmp(&(a.capacity - a.live_calls)))
                .then(a.id.cmp(&b.id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, live: u32, capacity: u32, draining: bool, age_secs: i64) -> StreamNodeStatus {
        StreamNodeStatus {
            id: id.into(),
            url: format!("wss://{id}.example.com"),
            live_calls: live,
            capacity,
            draining,
            heartbeat_at: now() - Duration::seconds(age_secs),
            version: 0,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn picked(nodes: &[StreamNodeStatus]) -> Option<&str> {
        pick_node(nodes, now()).map(|n| n.id.as_str())
    }

    #[test]
    fn the_least_loaded_share_wins() {
        let nodes = [node("a", 50, 100, false, 1), node("b", 60, 200, false, 1)];
        assert_eq!(picked(&nodes), Some("b"));
    }

    #[test]
    fn full_draining_and_silent_nodes_are_never_chosen() {
        let nodes = [
            node("full", 100, 100, false, 1),
            node("draining", 0, 100, true, 1),
            node("silent", 0, 100, false, STALE_AFTER_SECS + 1),
            node("future", 0, 100, false, -60),
        ];
        assert_eq!(picked(&nodes), None);
        let mut with_room = nodes.to_vec();
        with_room.push(node("busy", 99, 100, false, 1));
        assert_eq!(picked(&with_room), Some("busy"));
    }

    #[test]
    fn ties_go_to_the_node_with_more_room_then_by_id() {
        let nodes = [node("b", 0, 100, false, 1), node("a", 0, 100, false, 2)];
        assert_eq!(picked(&nodes), Some("a"));
        let nodes = [
            node("small", 0, 10, false, 1),
            node("large", 0, 100, false, 1),
        ];
        assert_eq!(picked(&nodes), Some("large"));
    }

    #[test]
    fn an_empty_registry_falls_back() {
        assert_eq!(picked(&[]), None);
    }
}
