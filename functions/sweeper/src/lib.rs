//! The sweeper: on a schedule, requests the post-call job of every call that ended a
//! while ago and whose job was never sent (see `hotline_core::sweep`).

mod config;
mod recordings;

use std::sync::Arc;

use chrono::Utc;
use hotline_core::ports::{Calls, Directory, Queue, StoreError};
use hotline_core::sweep::{SweepPorts, Swept, sweep};

pub use config::{ConfigError, SweepConfig};
pub use recordings::TwilioRecordings;

/// What a sweep needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: SweepConfig,
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    /// The post-call queue.
    pub queue: Arc<dyn Queue>,
    pub recordings: TwilioRecordings,
}

/// One sweep: every call that ended more than `HOTLINE_SWEEP_AFTER_SECS` ago and still
/// awaits its job gets it requested. An error only when the due calls could not be
/// listed (the next run tries again).
pub async fn handle(deps: &Deps) -> Result<Swept, StoreError> {
    let now = Utc::now();
    let after = chrono::Duration::from_std(deps.config.after).unwrap_or(chrono::Duration::MAX);
    let ports = SweepPorts {
        directory: deps.directory.as_ref(),
        calls: deps.calls.as_ref(),
        queue: deps.queue.as_ref(),
        recordings: &deps.recordings,
    };
    sweep(&ports, now - after, now).await
}
