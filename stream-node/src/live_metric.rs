//! The metric the stream nodes' service scales on: the share of its call capacity each
//! node is using, published as CloudWatch embedded metric format (EMF) lines on
//! stdout, which the task's log driver ships and CloudWatch turns into the
//! `Hotline/LiveCallsPercent` metric (dimension `Service`). CPU says little about a
//! node whose calls mostly wait on the network; its live calls say when it is full.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::heartbeat::NodeGauge;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "Hotline";
/// How often a node publishes: CloudWatch's standard resolution.
pub const PERIOD: Duration = Duration::from_secs(60);

pub struct LiveMetric {
    /// The `Service` dimension: the stack's name, so two stacks in one account scale apart.
    pub service: String,
    pub period: Duration,
}

impl LiveMetric {
    /// One EMF record of the node's live calls, its capacity and the share used.
    pub fn line(&self, gauge: &dyn NodeGauge, at_ms: i64) -> String {
        let live = gauge.live_calls();
        let capacity = gauge.capacity();
        let percent = if capacity == 0 {
            100.0
        } else {
            f64::from(live) * 100.0 / f64::from(capacity)
        };
        json!({
            "_aws": {
                "Timestamp": at_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": [
                        {"Name": "LiveCalls", "Unit": "Count"},
                        {"Name": "LiveCallsPercent", "Unit": "Percent"},
                    ],
                }],
            },
            "Service": self.service,
            "LiveCalls": live,
            "CallCapacity": capacity,
            "LiveCallsPercent": percent,
            "Draining": gauge.draining(),
        })
        .to_string()
    }

    /// Publishes every period until `stop`.
    pub async fn run(self, gauge: Arc<dyn NodeGauge>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {
                    let line = self.line(gauge.as_ref(), Utc::now().timestamp_millis());
                    // One write per record: a line is never split by a log line beside it.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Gauge(u32, u32);

    impl NodeGauge for Gauge {
        fn live_calls(&self) -> u32 {
            self.0
        }
        fn capacity(&self) -> u32 {
            self.1
        }
        fn draining(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_record_names_its_metrics_and_carries_their_values_at_the_top_level() {
        let metric = LiveMetric {
            service: "hotline-prod".into(),
            period: PERIOD,
        };
        let line = metric.line(&Gauge(30, 120), 1_765_000_000_000);
        assert!(!line.contains('\n'));
        let record: serde_json::Value = serde_json::from_str(&line).expect("json");
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(record["_aws"]["Timestamp"], 1_765_000_000_000_i64);
        assert_eq!(directive["Namespace"], "Hotline");
        // Every dimension and metric a directive names must be a top-level member.
        for dimension in directive["Dimensions"][0].as_array().expect("dimensions") {
            let name = dimension.as_str().expect("name");
            assert_eq!(record[name], "hotline-prod");
        }
        let metrics = directive["Metrics"].as_array().expect("metrics");
        for m in metrics {
            assert!(record[m["Name"].as_str().expect("name")].is_number(), "{m}");
        }
        assert_eq!(record["LiveCalls"], 30);
        assert_eq!(record["LiveCallsPercent"], 25.0);
    }

    #[test]
    fn a_node_without_capacity_counts_as_full() {
        let metric = LiveMetric {
            service: "s".into(),
            period: PERIOD,
        };
        let record: serde_json::Value =
            serde_json::from_str(&metric.line(&Gauge(0, 0), 0)).expect("json");
        assert_eq!(record["LiveCallsPercent"], 100.0);
    }
}
