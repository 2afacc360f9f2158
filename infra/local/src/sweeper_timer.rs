//! `hotline up`'s stand-in for the sweeper's schedule: the very same sweep as the
//! scheduled Lambda, every `HOTLINE_SWEEP_SECS`; and for DynamoDB's TTL: the local
//! store's expired sessions, invitations and sign-in counters are deleted on each tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// `HOTLINE_SWEEP_SECS` when unset: often enough that a lost callback is caught soon
/// after `HOTLINE_SWEEP_AFTER_SECS`, rarely enough to cost nothing.
pub const DEFAULT_PERIOD_SECS: u64 = 30;

/// The timer's period from `HOTLINE_SWEEP_SECS` (whole seconds, at least 1).
pub fn period(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Duration> {
    period_setting(get, "HOTLINE_SWEEP_SECS", DEFAULT_PERIOD_SECS)
}

/// A local timer's period from the setting `name`: whole seconds, at least 1;
/// `default_secs` when unset or empty.
pub fn period_setting(
    get: impl Fn(&str) -> Option<String>,
    name: &str,
    default_secs: u64,
) -> anyhow::Result<Duration> {
    let Some(v) = get(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(Duration::from_secs(default_secs));
    };
    match v.trim().parse::<u64>() {
        Ok(secs) if secs >= 1 => Ok(Duration::from_secs(secs)),
        _ => anyhow::bail!("{name} must be a whole number of seconds, 1 or more, not {v:?}"),
    }
}

/// Sweeps every `period` until `stop`; a failed sweep is logged and the next one tries
/// again, as with the schedule.
pub async fn run(
    deps: Arc<hotline_sweeper::Deps>,
    expiry: Arc<dyn hotline_core::ports::Expiry>,
    period: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(period);
    // A slow sweep delays the next rather than bunching them up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = hotline_sweeper::handle(&deps).await {
                    warn!(error = %e, "sweep failed; the next one tries again");
                }
                match expiry.remove_expired().await {
                    Ok(0) => {}
                    Ok(n) => debug!(removed = n, "expired records deleted"),
                    Err(e) => warn!(error = %e, "expired records not deleted; the next tick tries again"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_seconds_work_and_nonsense_is_refused() {
        assert_eq!(
            period(|_| None).expect("default"),
            Duration::from_secs(DEFAULT_PERIOD_SECS)
        );
        let of = |v: &'static str| period(move |_| Some(v.to_owned()));
        assert_eq!(of("2").expect("2 s"), Duration::from_secs(2));
        for bad in ["0", "-1", "1.5", "soon"] {
            assert!(of(bad).is_err(), "{bad} accepted");
        }
    }
}
