//! Warm transfer: the caller waits in a Twilio `<Conference>` named for the call while a
//! person is dialled, hears a short summary of the call (the whisper) and presses 1 to
//! take it or 2 to decline. The call record keeps every attempt ([`Transfer`]); a
//! person who does not answer, declines or is voicemail sends the caller back to the
//! agent, who says so ([`TransferOutcome::return_line`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CallSid, E164};

/// How `transfer_call` hands the caller over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The live call is redirected to `<Dial>` the number: the agent is gone at once.
    #[default]
    Cold,
    /// Conference, whisper, accept or decline; the caller is never left on hold.
    Warm,
}

impl TransferMode {
    pub fn is_cold(&self) -> bool {
        *self == Self::Cold
    }
}

/// How long the person's phone rings when the agent says nothing: Twilio's default.
pub const DEFAULT_RING_TIMEOUT_SECS: u32 = 30;
/// Twilio's `Timeout` bounds for a created call.
pub const MIN_RING_TIMEOUT_SECS: u32 = 5;
pub const MAX_RING_TIMEOUT_SECS: u32 = 120;

/// The ring timeout a warm transfer runs with, kept within Twilio's bounds whatever a
/// stored record says.
pub fn ring_timeout(secs: Option<u32>) -> u32 {
    secs.unwrap_or(DEFAULT_RING_TIMEOUT_SECS)
        .clamp(MIN_RING_TIMEOUT_SECS, MAX_RING_TIMEOUT_SECS)
}

/// The conference a call's caller waits in: one per call, named so that nobody else's
/// call can land in it.
pub fn conference_name(call: &CallSid) -> String {
    format!("xfer-{call}")
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferOutcome {
    /// The person pressed 1 and joined the caller.
    Connected,
    /// Nobody answered in time, the line was busy or the call failed.
    NoAnswer,
    /// The person pressed 2, or nothing, after the whisper.
    Declined,
    /// A machine answered.
    Voicemail,
    /// The caller hung up while waiting on hold: there was nobody left to connect.
    CallerLeft,
}

impl TransferOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NoAnswer => "no-answer",
            Self::Declined => "declined",
            Self::Voicemail => "voicemail",
            Self::CallerLeft => "caller-left",
        }
    }

    /// What the agent tells the caller when they are back: never left wondering.
    pub fn return_line(self) -> &'static str {
        match self {
            Self::Connected | Self::CallerLeft => "",
            Self::NoAnswer => {
                "I'm sorry, I couldn't reach anyone just now: nobody answered. I'm back with you. How else can I help?"
            }
            Self::Declined => {
                "I'm sorry, the person I tried can't take your call right now. I'm back with you. How else can I help?"
            }
            Self::Voicemail => {
                "I'm sorry, I couldn't reach anyone just now: it went to voicemail. I'm back with you. How else can I help?"
            }
        }
    }
}

/// One warm transfer attempt, as the call record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Who was dialled.
    pub to: E164,
    /// The whisper: a few sentences about the call so far, spoken to the person only.
    pub summary: String,
    pub started_at: DateTime<Utc>,
    /// The person's leg, once Twilio took the call.
    #[serde(default)]
    pub leg_sid: Option<CallSid>,
    /// The leg's last status as Twilio reported it (`ringing`, `in-progress`,
    /// `no-answer`, `completed`, …).
    #[serde(default)]
    pub leg_status: Option<String>,
    #[serde(default)]
    pub outcome: Option<TransferOutcome>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the caller was back with the agent after an attempt that did not connect.
    #[serde(default)]
    pub returned_at: Option<DateTime<Utc>>,
}

impl Transfer {
    pub fn new(to: E164, summary: String, at: DateTime<Utc>) -> Self {
        Self {
            to,
            summary,
            started_at: at,
            leg_sid: None,
            leg_status: None,
            outcome: None,
            ended_at: None,
            returned_at: None,
        }
    }

    /// Settles the attempt once: the first outcome stands (callbacks come more than once
    /// and out of order). Returns whether this call settled it.
    pub fn settle(&mut self, outcome: TransferOutcome, at: DateTime<Utc>) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        self.outcome = Some(outcome);
        self.ended_at = Some(at);
        true
    }

    /// Settled without the person while the caller waited, and the caller not yet back
    /// with the agent.
    pub fn awaits_return(&self) -> bool {
        self.outcome
            .is_some_and(|o| o != TransferOutcome::Connected && o != TransferOutcome::CallerLeft)
            && self.returned_at.is_none()
    }
}

/// The caller's call ended (`at`) while an attempt was still open: the caller hung up on
/// hold. The attempt is settled `caller-left` and, unless something already said how
/// the call ended, the call's outcome says so. Returns the person's leg to cancel
/// (`Some(None)` when Twilio had not named it yet); `None` when no attempt was open.
pub fn caller_left(call: &mut crate::model::Call, at: DateTime<Utc>) -> Option<Option<CallSid>> {
    let open = call
        .transfers
        .iter_mut()
        .rev()
        .find(|t| t.outcome.is_none())?;
    open.settle(TransferOutcome::CallerLeft, at);
    let leg = open.leg_sid.clone();
    call.outcome.get_or_insert_with(|| crate::model::Outcome {
        reason: crate::model::EndReason::CallerHungUp,
        detail: Some("hung up on hold, waiting for a warm transfer".to_owned()),
        provider: None,
        latency: None,
    });
    Some(leg)
}

/// The outcome a status callback of the person's leg settles, if any: a leg that never
/// connected is `no-answer` (`busy`, `failed` and `canceled` too: to the caller it is
/// the same); `completed` before the person accepted is a decline (they hung up during
/// the whisper).
pub fn outcome_of_leg_status(status: &str) -> Option<TransferOutcome> {
    match status {
        "no-answer" | "busy" | "failed" | "canceled" => Some(TransferOutcome::NoAnswer),
        "completed" => Some(TransferOutcome::Declined),
        _ => None,
    }
}

/// The outcome of the person's key after the whisper: 1 takes the call.
pub fn outcome_of_choice(digits: Option<&str>) -> TransferOutcome {
    match digits.map(str::trim) {
        Some("1") => TransferOutcome::Connected,
        _ => TransferOutcome::Declined,
    }
}

/// What the summary model is asked: short, for a person about to pick up, never
/// more than the transcript says.
pub const SUMMARY_INSTRUCTIONS: &str = "You brief a colleague who is about to take over a phone call from an AI assistant. In at most two short sentences (under 40 words), say who is calling if known and what they want, from the transcript below. Plain spoken English, no lists, no greetings, nothing that is not in the transcript.";

/// The whisper's longest length: `<Say>` text read before the person decides.
pub const MAX_SUMMARY_CHARS: usize = 400;

/// A summary cut to [`MAX_SUMMARY_CHARS`] on a word boundary, whitespace collapsed.
pub fn tidy_summary(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_SUMMARY_CHARS {
        return collapsed;
    }
    let cut: String = collapsed.chars().take(MAX_SUMMARY_CHARS).collect();
    match cut.rfind(' ') {
        Some(at) => format!("{}…", &cut[..at]),
        None => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_outcome_stands() {
        let to = E164::parse("+15550100002").expect("e164");
        let mut t = Transfer::new(to, "s".into(), Utc::now());
        assert!(t.settle(TransferOutcome::Declined, Utc::now()));
        assert!(!t.settle(TransferOutcome::NoAnswer, Utc::now()));
        assert_eq!(t.outcome, Some(TransferOutcome::Declined));
        assert!(t.awaits_return());
        t.returned_at = Some(Utc::now());
        assert!(!t.awaits_return());
    }

    #[test]
    fn a_caller_who_leaves_on_hold_settles_the_open_attempt_once() {
        let to = E164::parse("+15550100002").expect("e164");
        let mut call: crate::model::Call = serde_json::from_value(serde_json::json!({
            "sid": format!("CA{}", "2".repeat(32)), "org": "acme", "agent": "front",
            "from": "+14155550100", "to": "+14155550199", "direction": "inbound",
            "status": "completed", "started_at": "2026-11-20T21:40:00Z", "stream_token": "x"
        }))
        .expect("call");
        call.transfers
            .push(Transfer::new(to, "s".into(), Utc::now()));
        let leg = CallSid::parse("CA0123456789abcdef0123456789abcdef").expect("sid");
        call.transfers[0].leg_sid = Some(leg.clone());
        assert_eq!(caller_left(&mut call, Utc::now()), Some(Some(leg)));
        assert_eq!(call.transfers[0].outcome, Some(TransferOutcome::CallerLeft));
        assert!(!call.transfers[0].awaits_return(), "nobody to bring back");
        assert_eq!(
            call.outcome.as_ref().map(|o| o.reason),
            Some(crate::model::EndReason::CallerHungUp)
        );
        // Replayed: nothing open any more.
        assert_eq!(caller_left(&mut call, Utc::now()), None);
    }

    #[test]
    fn leg_statuses_and_keys_map_to_outcomes() {
        assert_eq!(
            outcome_of_leg_status("busy"),
            Some(TransferOutcome::NoAnswer)
        );
        assert_eq!(outcome_of_leg_status("ringing"), None);
        assert_eq!(outcome_of_leg_status("in-progress"), None);
        assert_eq!(outcome_of_choice(Some("1")), TransferOutcome::Connected);
        assert_eq!(outcome_of_choice(Some("2")), TransferOutcome::Declined);
        assert_eq!(outcome_of_choice(None), TransferOutcome::Declined);
    }

    #[test]
    fn summaries_are_bounded_and_ring_timeouts_clamped() {
        let long = "word ".repeat(200);
        let s = tidy_summary(&long);
        assert!(s.chars().count() <= MAX_SUMMARY_CHARS + 1, "{}", s.len());
        assert_eq!(tidy_summary("  a\n b  "), "a b");
        assert_eq!(ring_timeout(None), 30);
        assert_eq!(ring_timeout(Some(1)), 5);
        assert_eq!(ring_timeout(Some(9999)), 120);
    }

    #[test]
    fn outcomes_serialize_as_the_record_says_them() {
        let json = serde_json::to_string(&TransferOutcome::NoAnswer).expect("json");
        assert_eq!(json, "\"no-answer\"");
        assert_eq!(TransferOutcome::Voicemail.as_str(), "voicemail");
    }
}
