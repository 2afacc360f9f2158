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
    crate::sweeper_timer::period_setting(get, "HOTLINE_DIALER_SECS", DEFAULT_PERIOD_SECS)
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
    fn the_dialer_period_is_its_own_setting_and_one_second_works() {
        let of = |v: Option<&'static str>| {
            period(move |k| v.filter(|_| k == "HOTLINE_DIALER_SECS").map(str::to_owned))
        };
        assert_eq!(
            of(None).expect("default"),
            Duration::from_secs(DEFAULT_PERIOD_SECS)
        );
        assert_eq!(of(Some("1")).expect("1 s"), Duration::from_secs(1));
        let err = of(Some("0")).expect_err("0 s").to_string();
        assert!(err.contains("HOTLINE_DIALER_SECS"), "{err}");
    }
}
