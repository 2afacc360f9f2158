//! Outbound campaigns: a list of leads an agent calls, each in its own calling window,
//! retried by outcome after a cooldown, under the campaign's concurrency and
//! calls-per-second limits.
//!
//! The records and the rules are here, as pure functions of a clock reading
//! ([`Lead::is_due`], [`Window::is_open`], [`pick_due`], [`Lead::record_result`]); the
//! dialer that runs them against the store and Twilio is in [`dialer`].

pub mod dialer;
pub mod import;
pub mod zones;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, CallSid, E164, OrgId};
use crate::model::{AmdOutcome, CallStatus};

/// Most attempts a lead may get.
pub const MAX_ATTEMPTS: u32 = 20;
/// Highest `max_concurrent` taken (Twilio's default account limit is far lower).
pub const MAX_CONCURRENT: u32 = 100;
/// Highest `calls_per_second` taken: Twilio's default outbound CPS is 1, raisable to 30.
pub const MAX_CPS: u32 = 30;
/// Longest campaign name.
pub const MAX_NAME: usize = 200;

/// An outbound campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// `cp_` and 32 hex digits.
    pub id: String,
    pub org: OrgId,
    pub name: String,
    pub agent: AgentId,
    /// The organization's numbers the calls come from.
    pub caller_ids: Vec<E164>,
    pub caller_id_mode: CallerIdMode,
    pub retry: RetryPolicy,
    pub window: Window,
    /// Most calls of this campaign live at once.
    pub max_concurrent: u32,
    /// Most calls this campaign places in one second.
    pub calls_per_second: u32,
    /// Whether Twilio's answering-machine detection runs (voicemail is then left after
    /// the beep).
    pub machine_detection: bool,
    pub state: CampaignState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// How a lead's caller ID is chosen among the campaign's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdMode {
    /// Each attempt takes the next number, so one number is not called from all day.
    #[default]
    RoundRobin,
    /// The lead's own `caller_id` (one of the campaign's), else round robin.
    PerLead,
}

/// A campaign's state. `cancelled` and `completed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Cancelled,
    Completed,
}

/// What a person can ask of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Cancel,
}

impl CampaignAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "start" => Self::Start,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }
}

impl Campaign {
    /// A new campaign's id.
    pub fn new_id() -> String {
        format!("cp_{}", uuid::Uuid::new_v4().simple())
    }

    /// Applies `action`; an action the state does not allow is refused, naming both.
    pub fn apply(&mut self, action: CampaignAction) -> Result<(), String> {
        use CampaignAction as A;
        use CampaignState as S;
        let next = match (self.state, action) {
            (S::Draft, A::Start) | (S::Paused, A::Resume) => S::Running,
            (S::Running, A::Pause) => S::Paused,
            (S::Draft | S::Running | S::Paused, A::Cancel) => S::Cancelled,
            (state, action) => {
                return Err(format!("a {state:?} campaign cannot {action:?}").to_lowercase());
            }
        };
        self.state = next;
        Ok(())
    }

    /// The number attempt `attempt` (0-based) of `lead` is placed from.
    pub fn caller_for(&self, lead: &Lead, attempt: usize) -> Option<E164> {
        if self.caller_id_mode == CallerIdMode::PerLead
            && let Some(own) = lead
                .caller_id
                .as_ref()
                .filter(|c| self.caller_ids.contains(c))
        {
            return Some(own.clone());
        }
        if self.caller_ids.is_empty() {
            return None;
        }
        // Spread leads over the numbers, and move each lead's retries to the next one.
        let spread = lead
            .id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31) ^ b as usize);
        Some(self.caller_ids[(spread.wrapping_add(attempt)) % self.caller_ids.len()].clone())
    }

    /// Checks what a person set: refused with every problem named.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME {
            problems.push(format!("name: 1 to {MAX_NAME} characters"));
        }
        if self.caller_ids.is_empty() {
            problems.push("caller_ids: at least one of the organization's numbers".into());
        }
        if !(1..=MAX_CONCURRENT).contains(&self.max_concurrent) {
            problems.push(format!("max_concurrent: 1 to {MAX_CONCURRENT}"));
        }
        if !(1..=MAX_CPS).contains(&self.calls_per_second) {
            problems.push(format!("calls_per_second: 1 to {MAX_CPS}"));
        }
        if let Err(e) = self.retry.validate() {
            problems.push(e);
        }
        if let Err(e) = self.window.validate() {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// When a lead is called again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Seconds from an attempt's end to the next attempt's earliest start.
    pub cooldown_secs: u64,
    /// Which outcomes are tried again.
    pub retry_on: BTreeSet<RetryOn>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            cooldown_secs: 3600,
            retry_on: [RetryOn::Busy, RetryOn::NoAnswer, RetryOn::Failed]
                .into_iter()
                .collect(),
        }
    }
}

/// An outcome a retry policy can retry, in Twilio's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    Busy,
    NoAnswer,
    Failed,
    Canceled,
    /// A machine answered (a voicemail was left or not).
    Voicemail,
}

impl RetryOn {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            "voicemail" => Self::Voicemail,
            _ => return None,
        })
    }
}

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!("retry.max_attempts: 1 to {MAX_ATTEMPTS}"));
        }
        if self.cooldown_secs == 0 || self.cooldown_secs > 30 * 86_400 {
            return Err("retry.cooldown_secs: 1 to 2592000 seconds".into());
        }
        Ok(())
    }

    /// Where a lead goes once its `attempts`-th attempt ended at `ended` with `outcome`.
    pub fn after(
        &self,
        outcome: AttemptOutcome,
        attempts: usize,
        ended: DateTime<Utc>,
    ) -> LeadState {
        let again = outcome
            .retry_kind()
            .is_some_and(|k| self.retry_on.contains(&k))
            && attempts < self.max_attempts as usize;
        if again {
            LeadState::RetryAt {
                at: ended + chrono::Duration::seconds(self.cooldown_secs as i64),
            }
        } else {
            LeadState::Finished { outcome }
        }
    }
}

/// When leads may be called: from `start` to `end` (local times in each lead's zone;
/// `end` before `start` spans midnight) on `days` (every day when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
    #[serde(default)]
    pub days: Vec<Weekday>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
            days: Vec::new(),
        }
    }
}

impl Window {
    /// `HH:MM-HH:MM`.
    pub fn parse_range(s: &str) -> Result<Self, String> {
        let bad = || format!("window {s:?}: HH:MM-HH:MM");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let t = |v: &str| NaiveTime::parse_from_str(v.trim(), "%H:%M").map_err(|_| bad());
        Ok(Self {
            start: t(a)?,
            end: t(b)?,
            days: Vec::new(),
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.start == self.end {
            return Err("window: start and end must differ".into());
        }
        Ok(())
    }

    /// Whether `now` falls in the window in zone `tz`. A window spanning midnight
    /// belongs to the day it starts on.
    pub fn is_open(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&tz);
        let time = local.time();
        let (open, day) = if self.start < self.end {
            (time >= self.start && time < self.end, local.weekday())
        } else if time >= self.start {
            (true, local.weekday())
        } else {
            (time < self.end, local.weekday().pred())
        };
        open && (self.days.is_empty() || self.days.contains(&day))
    }
}

/// A person a campaign calls. One per number per campaign: its id is made from the
/// number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: String,
    pub campaign: String,
    pub org: OrgId,
    pub phone: E164,
    #[serde(default)]
    pub name: Option<String>,
    /// Filled into the agent's texts (`name` included, when given).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The lead's zone: given, or inferred from the number.
    pub timezone: Tz,
    /// The caller ID for this lead, with [`CallerIdMode::PerLead`].
    #[serde(default)]
    pub caller_id: Option<E164>,
    pub state: LeadState,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    #[serde(default)]
    pub version: u64,
}

/// Where a lead is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LeadState {
    Pending,
    /// Claimed by a dialer at `since`; its last attempt is under way.
    Dialing {
        since: DateTime<Utc>,
    },
    RetryAt {
        at: DateTime<Utc>,
    },
    Finished {
        outcome: AttemptOutcome,
    },
    OptedOut,
}

/// A lead state's name, for filters and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStateKind {
    Pending,
    Dialing,
    RetryAt,
    Finished,
    OptedOut,
}

impl LeadStateKind {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Dialing,
        Self::RetryAt,
        Self::Finished,
        Self::OptedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dialing => "dialing",
            Self::RetryAt => "retry_at",
            Self::Finished => "finished",
            Self::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl LeadState {
    pub fn kind(&self) -> LeadStateKind {
        match self {
            Self::Pending => LeadStateKind::Pending,
            Self::Dialing { .. } => LeadStateKind::Dialing,
            Self::RetryAt { .. } => LeadStateKind::RetryAt,
            Self::Finished { .. } => LeadStateKind::Finished,
            Self::OptedOut => LeadStateKind::OptedOut,
        }
    }

    /// Finished or opted out: nothing ever moves it again.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Finished { .. } | Self::OptedOut)
    }
}

/// One call to a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The [`crate::model::Dial`] placing it.
    pub dial: String,
    #[serde(default)]
    pub call_sid: Option<CallSid>,
    pub started: DateTime<Utc>,
    #[serde(default)]
    pub ended: Option<DateTime<Utc>>,
    #[serde(default)]
    pub outcome: Option<AttemptOutcome>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A person answered.
    Human,
    /// A machine answered and the agent's message was left after the beep.
    VoicemailLeft,
    /// A machine answered; no message was left.
    Machine,
    Fax,
    /// Answered; detection could not tell by whom.
    Unknown,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
    /// No callback ever came: released by the dialer after its timeout.
    Lost,
    /// The callee asked not to be called again.
    OptedOut,
}

impl AttemptOutcome {
    /// A finished call's outcome from its final status and its detection verdict.
    pub fn of_call(status: CallStatus, amd: Option<AmdOutcome>) -> Option<Self> {
        Some(match status {
            CallStatus::Completed => match amd {
                None | Some(AmdOutcome::Human) => Self::Human,
                Some(AmdOutcome::VoicemailLeft) => Self::VoicemailLeft,
                Some(AmdOutcome::Machine) => Self::Machine,
                Some(AmdOutcome::Fax) => Self::Fax,
                Some(AmdOutcome::Unknown) => Self::Unknown,
            },
            CallStatus::Busy => Self::Busy,
            CallStatus::NoAnswer => Self::NoAnswer,
            CallStatus::Failed => Self::Failed,
            CallStatus::Canceled => Self::Canceled,
            _ => return None,
        })
    }

    /// Which retry setting covers it; `None`: never retried.
    pub fn retry_kind(self) -> Option<RetryOn> {
        match self {
            Self::Busy => Some(RetryOn::Busy),
            Self::NoAnswer => Some(RetryOn::NoAnswer),
            Self::Failed | Self::Lost => Some(RetryOn::Failed),
            Self::Canceled => Some(RetryOn::Canceled),
            Self::VoicemailLeft | Self::Machine => Some(RetryOn::Voicemail),
            Self::Human | Self::Fax | Self::Unknown | Self::OptedOut => None,
        }
    }
}

/// A lead's reference in a dial (`Dial::lead`): `{campaign}/{lead}`.
pub fn lead_ref(campaign: &str, lead: &str) -> String {
    format!("{campaign}/{lead}")
}

/// The campaign and lead a dial's `lead` names.
pub fn parse_lead_ref(s: &str) -> Option<(&str, &str)> {
    s.split_once('/')
        .filter(|(c, l)| c.starts_with("cp_") && l.starts_with("ld_"))
}

impl Lead {
    /// The lead id for `phone`: one lead per number per campaign.
    pub fn id_for(phone: &E164) -> String {
        format!("ld_{}", phone.as_str().trim_start_matches('+'))
    }

    /// Whether a dialer may claim it at `now` (the calling window aside).
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            LeadState::Pending => true,
            LeadState::RetryAt { at } => at <= now,
            _ => false,
        }
    }

    /// Claims the lead for attempt `dial` at `now`; `false` (unchanged) if not due.
    pub fn claim(&mut self, dial: String, now: DateTime<Utc>) -> bool {
        if !self.is_due(now) {
            return false;
        }
        self.state = LeadState::Dialing { since: now };
        self.attempts.push(Attempt {
            dial,
            call_sid: None,
            started: now,
            ended: None,
            outcome: None,
        });
        true
    }

    /// Records how attempt `dial` ended and moves the lead by `policy`. Counted once:
    /// a replayed or late result, one for an attempt already ended, or one for an
    /// unknown attempt changes nothing (`false`). A final state stays final.
    pub fn record_result(
        &mut self,
        policy: &RetryPolicy,
        dial: &str,
        call_sid: Option<&CallSid>,
        outcome: AttemptOutcome,
        ended: DateTime<Utc>,
    ) -> bool {
        let count = self.attempts.len();
        let Some(index) = self.attempts.iter().position(|a| a.dial == dial) else {
            return false;
        };
        let attempt = &mut self.attempts[index];
        if attempt.ended.is_some() {
            return false;
        }
        // Never before the attempt started, whatever clock the callback carried.
        let ended = ended.max(attempt.started);
        attempt.ended = Some(ended);
        attempt.outcome = Some(outcome);
        if attempt.call_sid.is_none() {
            attempt.call_sid = call_sid.cloned();
        }
        let latest = index + 1 == count;
        if latest && matches!(self.state, LeadState::Dialing { .. }) {
            self.state = if outcome == AttemptOutcome::OptedOut {
                LeadState::OptedOut
            } else {
                policy.after(outcome, count, ended)
            };
        }
        true
    }

    /// The lead asked not to be called (or is on the do-not-call list): final.
    /// `false` if it already was final.
    pub fn opt_out(&mut self) -> bool {
        if self.state == LeadState::OptedOut {
            return false;
        }
        self.state = LeadState::OptedOut;
        true
    }
}

/// The leads to dial now, in order, from `candidates` (due leads the store found):
/// those whose window is open in their own zone, at most `max_concurrent - dialing`.
pub fn pick_due<'a>(
    campaign: &Campaign,
    candidates: &'a [Lead],
    dialing: usize,
    now: DateTime<Utc>,
) -> Vec<&'a Lead> {
    let budget = (campaign.max_concurrent as usize).saturating_sub(dialing);
    candidates
        .iter()
        .filter(|l| l.is_due(now) && campaign.window.is_open(l.timezone, now))
        .take(budget)
        .collect()
}

/// Leads of a campaign by state and by final outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadCounts {
    pub total: usize,
    pub by_state: BTreeMap<LeadStateKind, usize>,
    pub by_outcome: BTreeMap<AttemptOutcome, usize>,
    /// Attempts placed, over all leads.
    pub attempts: usize,
}

impl LeadCounts {
    pub fn add(&mut self, lead: &Lead) {
        self.total += 1;
        *self.by_state.entry(lead.state.kind()).or_default() += 1;
        if let LeadState::Finished { outcome } = lead.state {
            *self.by_outcome.entry(outcome).or_default() += 1;
        }
        self.attempts += lead.attempts.len();
    }
}

#[cfg(test)]
mod tests;
