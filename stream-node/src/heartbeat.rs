//! The node's entry in the stream nodes' registry: reported on a timer, at once when
//! draining starts (so no new call is routed here after SIGTERM), and a last time when
//! the node stops. A report that fails is logged and retried at the next beat: the
//! registry is advice to the voice webhook, never a reason to stop serving calls.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hotline_core::model::StreamNodeStatus;
use hotline_core::ports::StreamNodes;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How long one report may take before it is abandoned until the next beat.
const REPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the node says about itself at a given moment.
pub trait NodeGauge: Send + Sync {
    fn live_calls(&self) -> u32;
    fn capacity(&self) -> u32;
    fn draining(&self) -> bool;
}

pub struct Heartbeat {
    pub registry: Arc<dyn StreamNodes>,
    pub id: String,
    pub url: String,
    pub period: Duration,
}

impl Heartbeat {
    pub fn status(&self, gauge: &dyn NodeGauge) -> StreamNodeStatus {
        StreamNodeStatus {
            id: self.id.clone(),
            url: self.url.clone(),
            live_calls: gauge.live_calls(),
            capacity: gauge.capacity(),
            draining: gauge.draining(),
            heartbeat_at: Utc::now(),
            version: 0,
        }
    }

    pub async fn report(&self, gauge: &dyn NodeGauge) {
        let status = self.status(gauge);
        match tokio::time::timeout(REPORT_TIMEOUT, self.registry.report_node(&status)).await {
            Ok(Ok(())) => debug!(
                live_calls = status.live_calls,
                draining = status.draining,
                "reported to the registry"
            ),
            Ok(Err(e)) => warn!(error = %e, "cannot report to the node registry"),
            Err(_) => warn!("reporting to the node registry timed out"),
        }
    }

    /// Reports every period until `stop`.
    pub async fn run(self: Arc<Self>, gauge: Arc<dyn NodeGauge>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.report(gauge.as_ref()).await,
            }
        }
    }
}
