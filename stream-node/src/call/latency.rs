//! How long the caller waits for the agent, turn by turn: from the provider's "caller
//! stopped speaking" to the reply's first audio sent to Twilio, and to Twilio's echo of
//! the first mark behind it (the caller hears the reply start). Times are the call
//! loop's milliseconds; only turns the caller ended and the agent answered count.
//! Each timed turn is also a `turn` span (inside the call's) from the caller's stop to
//! the echo, and its figures go to the latency histograms.

use hotline_core::model::{Latency, Spread};
use tracing::Span;

use crate::telemetry;

#[derive(Debug, Default)]
pub struct TurnClock {
    /// The caller stopped speaking at this time; no reply audio has been sent since.
    stopped_at: Option<u64>,
    /// The reply's audio went out for the turn that stopped at `.0`; the next mark
    /// sent is the one whose echo means the caller heard it.
    awaiting_mark_for: Option<u64>,
    /// That mark's sequence number and the turn's stop time.
    mark: Option<(u64, u64)>,
    respond: Vec<u32>,
    heard: Vec<u32>,
    /// The `turn` span of the turn being timed; closed when the caller hears the reply
    /// or speaks again.
    span: Option<Span>,
}

impl TurnClock {
    /// The caller began speaking: whatever turn was being timed is superseded.
    pub fn caller_started(&mut self) {
        self.stopped_at = None;
        self.awaiting_mark_for = None;
        self.mark = None;
        self.span = None;
    }

    pub fn caller_stopped(&mut self, now: u64) {
        self.caller_started();
        self.stopped_at = Some(now);
        self.span = Some(tracing::info_span!(
            "turn",
            turn = self.respond.len() + 1,
            respond_ms = tracing::field::Empty,
            heard_ms = tracing::field::Empty,
        ));
    }

    /// Agent audio went to Twilio at `now`, followed by mark `mark` if one was due.
    pub fn audio_sent(&mut self, now: u64, mark: Option<u64>) {
        if let Some(stopped) = self.stopped_at.take() {
            let respond = ms(now - stopped);
            self.respond.push(respond);
            telemetry::instruments()
                .turn_respond
                .record(u64::from(respond), &[]);
            if let Some(span) = &self.span {
                span.record("respond_ms", respond);
            }
            self.awaiting_mark_for = Some(stopped);
        }
        if let (Some(stopped), Some(seq)) = (self.awaiting_mark_for, mark) {
            self.mark = Some((seq, stopped));
            self.awaiting_mark_for = None;
        }
    }

    /// A mark sent at the end of a reply (no audio after it) also counts.
    pub fn mark_sent(&mut self, seq: u64) {
        if let Some(stopped) = self.awaiting_mark_for.take() {
            self.mark = Some((seq, stopped));
        }
    }

    /// Twilio echoed mark `seq` at `now`: the audio before it has played.
    pub fn mark_echoed(&mut self, seq: u64, now: u64) {
        if let Some((awaited, stopped)) = self.mark
            && seq >= awaited
        {
            let heard = ms(now - stopped);
            self.heard.push(heard);
            telemetry::instruments()
                .turn_heard
                .record(u64::from(heard), &[]);
            if let Some(span) = self.span.take() {
                span.record("heard_ms", heard);
            }
            self.mark = None;
        }
    }

    pub fn summary(&self, connect_ms: Option<u32>) -> Latency {
        Latency {
            connect_ms,
            turns: u32::try_from(self.respond.len()).unwrap_or(u32::MAX),
            respond_ms: Spread::of(&self.respond),
            heard_ms: Spread::of(&self.heard),
            prewarmed: false,
        }
    }
}

fn ms(elapsed: u64) -> u32 {
    u32::try_from(elapsed).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_timed_to_the_first_audio_and_to_the_first_echo_behind_it() {
        let mut clock = TurnClock::default();
        clock.caller_stopped(1_000);
        clock.audio_sent(1_450, None);
        clock.audio_sent(1_500, Some(7));
        clock.audio_sent(1_600, Some(8));
        clock.mark_echoed(7, 1_700);
        clock.mark_echoed(8, 1_800);
        let summary = clock.summary(Some(320));
        assert_eq!(summary.turns, 1);
        assert_eq!(summary.connect_ms, Some(320));
        assert_eq!(summary.respond_ms.map(|s| s.max), Some(450));
        assert_eq!(summary.heard_ms.map(|s| s.max), Some(700));
    }

    #[test]
    fn speech_that_starts_again_before_the_reply_times_only_the_last_stop() {
        let mut clock = TurnClock::default();
        clock.caller_stopped(1_000);
        clock.caller_started();
        clock.caller_stopped(2_000);
        clock.audio_sent(2_300, Some(1));
        // A barge-in before the echo: the cleared mark's echo is not "heard".
        clock.caller_started();
        clock.mark_echoed(1, 2_500);
        let summary = clock.summary(None);
        assert_eq!(summary.turns, 1);
        assert_eq!(summary.respond_ms.map(|s| s.p50), Some(300));
        assert_eq!(summary.heard_ms, None);
    }

    #[test]
    fn audio_nobody_waited_for_is_not_a_turn() {
        let mut clock = TurnClock::default();
        clock.audio_sent(100, Some(1)); // the greeting
        clock.mark_echoed(1, 300);
        assert_eq!(clock.summary(None).turns, 0);
    }
}
