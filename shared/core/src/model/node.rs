use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stream node as it last reported itself: where Twilio reaches it, how full it is,
/// whether it is draining. Written by the node on every heartbeat; read by the voice
/// webhook to choose where a new call's stream goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamNodeStatus {
    /// Random per process: a restarted node is a new node, and its old record goes
    /// stale instead of being mistaken for the new one.
    pub id: String,
    /// The node's own public `wss://` base (without the stream path).
    pub url: String,
    pub live_calls: u32,
    pub capacity: u32,
    pub draining: bool,
    pub heartbeat_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl StreamNodeStatus {
    /// Whether a new call may go to this node at `now`: heard from within `stale_after`,
    /// not draining, and with room.
    pub fn takes_calls(&self, now: DateTime<Utc>, stale_after: chrono::Duration) -> bool {
        !self.draining
            && self.live_calls < self.capacity
            && self.heartbeat_at <= now + chrono::Duration::seconds(5)
            && now - self.heartbeat_at <= stale_after
    }
}
