//! `hotline up`'s stand-in for the dialer's schedule: the very same run as the scheduled
//! Lambda, every `HOTLINE_DIALER_SECS`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// `HOTLINE_DIALER_SECS` when unset: a lead due now is dialed within seconds.
pub const DEFAULT_PERIOD_SECS: u64 = 5;

/// The timer's period from `HOTLINE_DIALER_SECS` (whole seconds, at least 1).
pub fn period(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Duration> {
    let Some(v) = get("HOTLINE_DIALER_SECS").filter(|v| !v.trim().is_empty()) else {
        return Ok(Duration::from_secs(DEFAULT_PERIOD_SECS));
    };
    match v.trim().parse::<u64>() {
        Ok(secs) if secs >= 1 => Ok(Duration::from_secs(secs)),
        _ => anyhow::bail!(
            "HOTLINE_DIALER_SECS must be a whole number of seconds, 1 or more, not {v:?}"
        ),
    }
}

/// Runs the dialer every `period` until `stop`; a failed run is logged and the next one
/// tries again, as with the schedule.
pub async fn run(deps: Arc<hotline_dialer::Deps>, period: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(period);
    // A run spaced by a campaign's calls per second delays the next, never bunches them.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = hotline_dialer::handle(&deps).await {
                    warn!(error = %e, "dialer run failed; the next one tries again");
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
        assert_eq!(of("1").expect("1 s"), Duration::from_secs(1));
        for bad in ["0", "-1", "1.5", "soon"] {
            assert!(of(bad).is_err(), "{bad} accepted");
        }
    }
}
