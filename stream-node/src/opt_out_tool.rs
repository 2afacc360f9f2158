//! The built-in `opt_out` tool: the person on the line asked not to be called again.
//! Their number goes on the organization's do-not-call list (no campaign dials it
//! again) and, on a campaign's call, the lead is finished as opted out
//! (`hotline_core::campaign::dialer::opt_out`). The outcome goes back to the model as the
//! tool's output; the number is never logged.

use std::sync::Arc;

use chrono::Utc;
use hotline_core::campaign::dialer;
use hotline_core::model::{Call, ToolKind, ToolSpec};
use hotline_core::ports::{Campaigns, Dials, StoreResult};
use serde_json::json;
use tracing::{info, warn};

use crate::memory::caller_phone;

/// Where an opt-out is written.
#[derive(Clone)]
pub struct OptOutPorts {
    pub campaigns: Arc<dyn Campaigns>,
    pub dials: Arc<dyn Dials>,
}

/// The names the agent's `opt_out` tools go by.
pub fn names(tools: &[ToolSpec]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| matches!(t.kind, ToolKind::OptOut))
        .map(|t| t.name.clone())
        .collect()
}

/// Records the opt-out of the person on `record`'s line; the JSON output the model reads.
pub async fn run(ports: Option<&OptOutPorts>, record: &Call) -> String {
    let Some(ports) = ports else {
        return json!({"ok": false, "error": "opting out is not available on this line; tell the person their request is noted"}).to_string();
    };
    match record_opt_out(ports, record).await {
        Ok(true) => {
            info!("opt_out: the person will not be called again");
            json!({"ok": true, "opted_out": true}).to_string()
        }
        Ok(false) => json!({"ok": false, "error": "the person's number is unknown"}).to_string(),
        Err(e) => {
            warn!(error = %e, "opt_out: not recorded");
            json!({"ok": false, "error": "the request could not be recorded just now"}).to_string()
        }
    }
}

async fn record_opt_out(ports: &OptOutPorts, record: &Call) -> StoreResult<bool> {
    let now = Utc::now();
    if let Some(out) = &record.outbound
        && let Some(dial) = ports.dials.get_dial(&out.dial).await?
        && dial.org == record.org
    {
        dialer::opt_out(ports.campaigns.as_ref(), &dial, now).await?;
        return Ok(true);
    }
    let Some(phone) = caller_phone(record) else {
        return Ok(false);
    };
    ports
        .campaigns
        .add_do_not_call(&record.org, &phone, now)
        .await?;
    Ok(true)
}
