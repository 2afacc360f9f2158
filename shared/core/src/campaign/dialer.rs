//! The campaign dialer: what one scheduled run does ([`run_dialer`]), and how a call's
//! end moves its lead ([`record_call_result`]).
//!
//! A run takes each running campaign, releases leads whose callback never came, claims
//! the leads due now (in their window, within the campaign's concurrency) by a versioned
//! write, and places each through [`place_call`], spaced by the campaign's
//! calls-per-second. Two dialers running at once both read a lead, and only the first
//! write of the claim succeeds: the other skips it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::{Instrument, info, info_span, warn};

use super::{AttemptOutcome, Campaign, CampaignState, Lead, lead_ref, parse_lead_ref, pick_due};
use crate::dial::{DialError, DialPorts, DialRequest, DialUrls, dial_id, place_call};
use crate::ids::CallSid;
use crate::model::{Dial, Organization};
use crate::ports::{Campaigns, StoreError, StoreResult};

/// How long a lead may stay in `dialing` with no callback before it is released as
/// `lost`: longer than any call hotline lets run (ringing included).
pub const STUCK_AFTER: chrono::Duration = chrono::Duration::hours(5);
/// Most due leads read per campaign per run, before the calling windows are applied.
pub const CANDIDATES_PER_RUN: usize = 500;

/// Waits between two calls of a campaign (its calls-per-second): a real sleep in the
/// dialer, anything in tests.
#[async_trait]
pub trait Pace: Send + Sync {
    async fn pause(&self, for_: Duration);
}

/// What a run needs.
pub struct DialerPorts<'a> {
    pub dial: DialPorts<'a>,
    pub campaigns: &'a dyn Campaigns,
    pub pace: &'a dyn Pace,
}

/// What a run did, for its log line and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialerReport {
    pub campaigns: usize,
    pub placed: usize,
    /// Attempts Twilio refused (or could not be reached for).
    pub failed: usize,
    /// Leads found on the do-not-call list and finished as opted out.
    pub opted_out: usize,
    /// Leads another dialer claimed first.
    pub lost_races: usize,
    /// Leads released from `dialing` after [`STUCK_AFTER`] without a callback.
    pub released: usize,
    pub completed: usize,
}

/// One run over every running campaign at `now`. A campaign that fails (its store
/// unavailable, its organization gone) is logged and the others go on.
pub async fn run_dialer(
    ports: &DialerPorts<'_>,
    urls: &DialUrls,
    stuck_after: chrono::Duration,
    now: DateTime<Utc>,
) -> StoreResult<DialerReport> {
    let mut report = DialerReport::default();
    for campaign in ports.campaigns.running_campaigns().await? {
        report.campaigns += 1;
        let span = info_span!("campaign", campaign = %campaign.id, org = %campaign.org);
        if let Err(e) = run_campaign(ports, urls, &campaign, stuck_after, now, &mut report)
            .instrument(span)
            .await
        {
            warn!(campaign = %campaign.id, error = %e, "dialer run failed for this campaign");
        }
    }
    Ok(report)
}

async fn run_campaign(
    ports: &DialerPorts<'_>,
    urls: &DialUrls,
    campaign: &Campaign,
    stuck_after: chrono::Duration,
    now: DateTime<Utc>,
    report: &mut DialerReport,
) -> StoreResult<()> {
    let campaigns = ports.campaigns;
    for lead in campaigns
        .dialing_since_before(&campaign.id, now - stuck_after)
        .await?
    {
        let Some(last) = lead.attempts.last() else {
            continue;
        };
        let dial = last.dial.clone();
        let released = modify_lead(campaigns, &campaign.id, &lead.id, |l| {
            l.record_result(&campaign.retry, &dial, None, AttemptOutcome::Lost, now)
        })
        .await?;
        if released {
            warn!(lead = %lead.id, "no callback came for the lead's call: released as lost");
            report.released += 1;
        }
    }
    let Some(org) = ports.dial.directory.get_org(&campaign.org).await? else {
        return Err(StoreError::NotFound(format!(
            "organization {}",
            campaign.org
        )));
    };
    let dialing = campaigns.count_dialing(&campaign.id).await?;
    let candidates = campaigns
        .due_leads(&campaign.id, now, CANDIDATES_PER_RUN)
        .await?;
    if candidates.is_empty() && dialing == 0 {
        return complete(campaigns, campaign, now, report).await;
    }
    let gap = Duration::from_secs(1) / campaign.calls_per_second.max(1);
    for (i, lead) in pick_due(campaign, &candidates, dialing, now)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            ports.pace.pause(gap).await;
        }
        dial_lead(ports, urls, campaign, &org, lead, now, report).await?;
    }
    Ok(())
}

/// A campaign with no lead left to dial or being dialed is completed.
async fn complete(
    campaigns: &dyn Campaigns,
    campaign: &Campaign,
    now: DateTime<Utc>,
    report: &mut DialerReport,
) -> StoreResult<()> {
    // Every lead, whatever its retry time: none left means all are final.
    let far = now + chrono::Duration::days(365 * 100);
    if !campaigns.due_leads(&campaign.id, far, 1).await?.is_empty() {
        return Ok(());
    }
    let mut done = campaign.clone();
    done.state = CampaignState::Completed;
    match campaigns.update_campaign(&done).await {
        Ok(_) => {
            info!("every lead is final: campaign completed");
            report.completed += 1;
            Ok(())
        }
        // Paused or cancelled meanwhile: that stands.
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn dial_lead(
    ports: &DialerPorts<'_>,
    urls: &DialUrls,
    campaign: &Campaign,
    org: &Organization,
    lead: &Lead,
    now: DateTime<Utc>,
    report: &mut DialerReport,
) -> StoreResult<()> {
    let campaigns = ports.campaigns;
    if campaigns.is_do_not_call(&org.id, &lead.phone).await? {
        let mut out = lead.clone();
        if out.opt_out() && write_claim(campaigns, &out).await? {
            info!(lead = %lead.id, "lead is on the do-not-call list: not dialed");
            report.opted_out += 1;
        }
        return Ok(());
    }
    let attempt = lead.attempts.len();
    let key = format!("campaign:{}:{}:{attempt}", campaign.id, lead.id);
    let dial = dial_id(&org.id, Some(&key));
    let mut claimed = lead.clone();
    if !claimed.claim(dial.clone(), now) || !write_claim(campaigns, &claimed).await? {
        report.lost_races += 1;
        return Ok(());
    }
    let request = DialRequest {
        to: lead.phone.clone(),
        agent: campaign.agent.clone(),
        from: campaign.caller_for(lead, attempt),
        variables: lead.variables.clone(),
        machine_detection: campaign.machine_detection,
        idempotency_key: Some(key),
        lead: Some(lead_ref(&campaign.id, &lead.id)),
    };
    match place_call(&ports.dial, org, &request, urls, now).await {
        Ok(placed) => {
            report.placed += 1;
            let sid = placed.call.sid.clone();
            info!(lead = %lead.id, call_sid = %sid, attempt = attempt + 1, "lead dialed");
            // The sid is on the attempt at once for whoever lists the leads; a callback
            // that came first has already put it there.
            modify_lead(campaigns, &campaign.id, &lead.id, |l| {
                match l.attempts.iter_mut().find(|a| a.dial == dial) {
                    Some(a) if a.call_sid.is_none() => {
                        a.call_sid = Some(sid.clone());
                        true
                    }
                    _ => false,
                }
            })
            .await?;
        }
        Err(e) => {
            report.failed += 1;
            let outcome = match e {
                DialError::Store(e) => return Err(e),
                _ => AttemptOutcome::Failed,
            };
            warn!(lead = %lead.id, error = %e, "the lead's call was not placed");
            modify_lead(campaigns, &campaign.id, &lead.id, |l| {
                l.record_result(&campaign.retry, &dial, None, outcome, now)
            })
            .await?;
        }
    }
    Ok(())
}

/// Writes a lead over the version read: `false` when someone else wrote first.
async fn write_claim(campaigns: &dyn Campaigns, lead: &Lead) -> StoreResult<bool> {
    match campaigns.update_lead(lead).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Applies `change` to the stored lead and writes it over the version read, reading
/// again after a lost race. `change` returns whether it changed anything; `false`
/// writes nothing. Returns whether a change was written.
pub async fn modify_lead(
    campaigns: &dyn Campaigns,
    campaign: &str,
    lead: &str,
    mut change: impl FnMut(&mut Lead) -> bool + Send,
) -> StoreResult<bool> {
    for _ in 0..8 {
        let Some(mut stored) = campaigns.get_lead(campaign, lead).await? else {
            return Err(StoreError::NotFound(format!("lead {campaign}/{lead}")));
        };
        if !change(&mut stored) {
            return Ok(false);
        }
        if write_claim(campaigns, &stored).await? {
            return Ok(true);
        }
    }
    Err(StoreError::Conflict(format!("lead {campaign}/{lead}")))
}

/// Moves the lead a campaign call was for, once the call is over: counted once per
/// attempt, whatever callbacks are replayed or come late. Calls that are no campaign's
/// change nothing (`false`).
pub async fn record_call_result(
    campaigns: &dyn Campaigns,
    dial: &Dial,
    sid: &CallSid,
    outcome: AttemptOutcome,
    ended: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some((campaign_id, lead_id)) = dial.lead.as_deref().and_then(parse_lead_ref) else {
        return Ok(false);
    };
    let Some(campaign) = campaigns.get_campaign(&dial.org, campaign_id).await? else {
        return Ok(false);
    };
    let moved = modify_lead(campaigns, campaign_id, lead_id, |lead| {
        lead.org == dial.org
            && lead.record_result(&campaign.retry, &dial.id, Some(sid), outcome, ended)
    })
    .await?;
    if moved {
        info!(campaign = %campaign_id, lead = %lead_id, outcome = ?outcome, "lead's attempt recorded");
    }
    Ok(moved)
}

/// The callee of a campaign call asked not to be called again: the number goes on the
/// organization's do-not-call list and the lead is finished as opted out. A call that is
/// no campaign's only adds the number.
pub async fn opt_out(
    campaigns: &dyn Campaigns,
    dial: &Dial,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    campaigns.add_do_not_call(&dial.org, &dial.to, now).await?;
    if let Some((campaign, lead)) = dial.lead.as_deref().and_then(parse_lead_ref) {
        modify_lead(campaigns, campaign, lead, |l| {
            l.org == dial.org && l.opt_out()
        })
        .await?;
    }
    info!(dial = %dial.id, "callee opted out");
    Ok(())
}
