//! The campaign dialer as a function: each scheduled event runs
//! [`hotline_core::campaign::dialer::run_dialer`] once over every running campaign. The
//! same [`handle`] runs on `hotline up`'s timer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hotline_core::campaign::dialer::{DialerPorts, DialerReport, Pace, STUCK_AFTER, run_dialer};
use hotline_core::dial::{CallPlacer, DialPorts, DialUrls};
use hotline_core::ports::{Calls, Campaigns, Contacts, Dials, Directory, StoreResult};
use hotline_core::routes;
use tracing::info;

/// What a run needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub contacts: Arc<dyn Contacts>,
    pub dials: Arc<dyn Dials>,
    pub campaigns: Arc<dyn Campaigns>,
    /// Twilio's Calls API, with each organization's account.
    pub placer: Arc<dyn CallPlacer>,
    /// hotline's public webhooks the placed calls carry.
    pub urls: DialUrls,
}

/// `HOTLINE_PUBLIC_URL`, where Twilio reaches the calls' webhooks: required.
pub fn urls_from(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<DialUrls> {
    let raw = get("HOTLINE_PUBLIC_URL").unwrap_or_default();
    let base = routes::base_url(raw.trim(), &["https", "http"]).ok_or_else(|| {
        anyhow::anyhow!(
            "HOTLINE_PUBLIC_URL must be hotline's public https:// base URL (the calls' webhooks), not {raw:?}"
        )
    })?;
    Ok(DialUrls { base })
}

/// [`urls_from`] the process environment.
pub fn urls_from_env() -> anyhow::Result<DialUrls> {
    urls_from(|k| std::env::var(k).ok())
}

/// Waits with the runtime's timer.
struct Sleep;

#[async_trait]
impl Pace for Sleep {
    async fn pause(&self, for_: Duration) {
        tokio::time::sleep(for_).await;
    }
}

/// One dialer run now.
pub async fn handle(deps: &Deps) -> StoreResult<DialerReport> {
    let ports = DialerPorts {
        dial: DialPorts {
            directory: deps.directory.as_ref(),
            calls: deps.calls.as_ref(),
            contacts: deps.contacts.as_ref(),
            dials: deps.dials.as_ref(),
            placer: deps.placer.as_ref(),
        },
        campaigns: deps.campaigns.as_ref(),
        pace: &Sleep,
    };
    let report = run_dialer(&ports, &deps.urls, STUCK_AFTER, Utc::now()).await?;
    if report != DialerReport::default() {
        info!(
            campaigns = report.campaigns,
            placed = report.placed,
            failed = report.failed,
            opted_out = report.opted_out,
            lost_races = report.lost_races,
            released = report.released,
            completed = report.completed,
            "dialer run"
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_required_and_checked() {
        let of = |v: &'static str| urls_from(move |_| Some(v.to_owned()));
        assert_eq!(
            of("https://hotline.example/").expect("url").base,
            "https://hotline.example"
        );
        for bad in ["", "hotline.example", "ftp://x", "https://x/?q=1"] {
            assert!(of(bad).is_err(), "{bad} accepted");
        }
        assert!(urls_from(|_| None).is_err());
    }
}
