//! What the caller has heard of the audio sent to Twilio.
//!
//! Twilio plays outbound audio from a buffer and echoes each `mark` once the audio
//! before it has played (or was discarded by `clear`). Between echoes the playback clock
//! advances in real time, but never past the audio actually sent. All positions are
//! milliseconds on one timeline of sent audio, so items that queue behind each other
//! need no special case.

use std::collections::VecDeque;

/// µ-law at 8 kHz: 8 bytes per millisecond.
pub const MULAW_BYTES_PER_MS: u64 = 8;

#[derive(Debug, Default)]
pub struct Playback {
    /// Total audio sent, in ms.
    sent_ms: u64,
    /// A known point of the playback clock: `anchor_ms` was playing at time `anchor_at`.
    anchor_ms: u64,
    anchor_at: u64,
    /// Marks sent and not yet echoed: (sequence number, timeline position at their end).
    pending: VecDeque<(u64, u64)>,
    next_mark: u64,
}

impl Playback {
    /// Audio is still queued at Twilio (some mark has not come back).
    pub fn is_playing(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn sent_ms(&self) -> u64 {
        self.sent_ms
    }

    /// Where playback is at `now` (ms on the call clock).
    pub fn position(&self, now: u64) -> u64 {
        if self.pending.is_empty() {
            return self.sent_ms;
        }
        (self.anchor_ms + now.saturating_sub(self.anchor_at)).min(self.sent_ms)
    }

    /// Records a chunk of `bytes` µ-law sent at `now`; returns the mark sequence number
    /// to send right after it.
    pub fn sent(&mut self, bytes: usize, now: u64) -> u64 {
        if self.pending.is_empty() {
            // Twilio's buffer was empty: this chunk starts playing now.
            self.anchor_ms = self.sent_ms;
            self.anchor_at = now;
        }
        self.sent_ms += bytes as u64 / MULAW_BYTES_PER_MS;
        let seq = self.next_mark;
        self.next_mark += 1;
        self.pending.push_back((seq, self.sent_ms));
        seq
    }

    /// Twilio echoed mark `seq` at `now`: everything before it has played. Unknown and
    /// stale marks (echoes of cleared audio) are ignored.
    pub fn acked(&mut self, seq: u64, now: u64) {
        let mut reached = None;
        while let Some(&(s, end)) = self.pending.front() {
            if s > seq {
                break;
            }
            self.pending.pop_front();
            reached = Some(end);
        }
        if let Some(end) = reached {
            self.anchor_ms = end;
            self.anchor_at = now;
        }
    }

    /// Twilio's buffer was cleared at `now`: what was not heard is gone. Returns the
    /// timeline position reached.
    pub fn cleared(&mut self, now: u64) -> u64 {
        let heard = self.position(now);
        self.pending.clear();
        self.sent_ms = heard;
        self.anchor_ms = heard;
        self.anchor_at = now;
        heard
    }
}

/// Mark names on the wire: `m{seq}`. Short, because one goes out with every chunk.
pub fn mark_name(seq: u64) -> String {
    format!("m{seq}")
}

pub fn parse_mark(name: &str) -> Option<u64> {
    name.strip_prefix('m')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_from_the_first_chunk_and_stops_at_what_was_sent() {
        let mut p = Playback::default();
        p.sent(800, 1000); // 100 ms at t=1000
        p.sent(800, 1010); // queued behind it
        assert_eq!(p.position(1050), 50);
        assert_eq!(p.position(1150), 150);
        assert_eq!(p.position(5000), 200, "never past what was sent");
    }

    #[test]
    fn mark_echoes_re_anchor_the_clock() {
        let mut p = Playback::default();
        let first = p.sent(800, 0);
        p.sent(800, 0);
        // Twilio started late: the first 100 ms ended at t=130, not t=100.
        p.acked(first, 130);
        assert_eq!(p.position(130), 100);
        assert_eq!(p.position(160), 130);
        assert!(p.is_playing());
    }

    #[test]
    fn a_later_echo_acknowledges_everything_before_it() {
        let mut p = Playback::default();
        p.sent(160, 0);
        let second = p.sent(160, 0);
        p.acked(second, 40);
        assert!(!p.is_playing());
        assert_eq!(p.position(1000), 40);
    }

    #[test]
    fn clear_drops_unheard_audio_and_ignores_late_echoes() {
        let mut p = Playback::default();
        let a = p.sent(8000, 0); // 1 s
        assert_eq!(p.cleared(250), 250);
        assert!(!p.is_playing());
        p.acked(a, 260); // the echo Twilio sends for the cleared mark
        assert_eq!(p.position(400), 250);
        // New audio starts playing when sent.
        p.sent(160, 500);
        assert_eq!(p.position(510), 260);
    }

    #[test]
    fn an_idle_buffer_starts_a_new_chunk_at_send_time() {
        let mut p = Playback::default();
        let a = p.sent(160, 0);
        p.acked(a, 20);
        p.sent(160, 1000);
        assert_eq!(p.position(1010), 30);
    }

    #[test]
    fn mark_names_round_trip() {
        assert_eq!(parse_mark(&mark_name(42)), Some(42));
        assert_eq!(parse_mark("x1"), None);
        assert_eq!(parse_mark("m"), None);
    }
}
