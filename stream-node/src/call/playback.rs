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

#[derive(Debug)]
pub struct Playback {
    /// A mark goes out once this much audio is unmarked (0: after every chunk).
    mark_every_ms: u64,
    /// Audio sent since the last mark, in ms.
    unmarked_ms: u64,
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
    /// Marks every `mark_every_ms` of audio rather than every chunk: each mark is a
    /// frame each way, and the clock between marks is interpolated anyway.
    pub fn new(mark_every_ms: u64) -> Self {
        Self {
            mark_every_ms,
            unmarked_ms: 0,
            sent_ms: 0,
            anchor_ms: 0,
            anchor_at: 0,
            pending: VecDeque::new(),
            next_mark: 0,
        }
    }

    /// Audio is still queued at Twilio (some mark has not come back, or audio was sent
    /// after the last mark).
    pub fn is_playing(&self) -> bool {
        !self.pending.is_empty() || self.unmarked_ms > 0
    }

    pub fn sent_ms(&self) -> u64 {
        self.sent_ms
    }

    /// Where playback is at `now` (ms on the call clock).
    pub fn position(&self, now: u64) -> u64 {
        if !self.is_playing() {
            return self.sent_ms;
        }
        (self.anchor_ms + now.saturating_sub(self.anchor_at)).min(self.sent_ms)
    }

    /// Records a chunk of `bytes` µ-law sent at `now`; returns the mark to send right
    /// after it, when one is due.
    pub fn sent(&mut self, bytes: usize, now: u64) -> Option<u64> {
        // Twilio's buffer is empty (all echoed, or the clock has reached the end of what
        // was sent: an underrun while echoes are still on their way): this chunk starts
        // playing now, not back when the last one would have.
        if !self.is_playing() || self.position(now) >= self.sent_ms {
            self.anchor_ms = self.sent_ms;
            self.anchor_at = now;
        }
        let ms = bytes as u64 / MULAW_BYTES_PER_MS;
        self.sent_ms += ms;
        self.unmarked_ms += ms;
        (self.unmarked_ms >= self.mark_every_ms).then(|| self.mark())
    }

    /// A mark for the audio sent since the last one, if any: due when a response's
    /// audio ends, so that its last echo means "all of it played".
    pub fn mark_rest(&mut self) -> Option<u64> {
        (self.unmarked_ms > 0).then(|| self.mark())
    }

    fn mark(&mut self) -> u64 {
        let seq = self.next_mark;
        self.next_mark += 1;
        self.unmarked_ms = 0;
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
        self.unmarked_ms = 0;
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
        let mut p = Playback::new(0);
        p.sent(800, 1000); // 100 ms at t=1000
        p.sent(800, 1010); // queued behind it
        assert_eq!(p.position(1050), 50);
        assert_eq!(p.position(1150), 150);
        assert_eq!(p.position(5000), 200, "never past what was sent");
    }

    #[test]
    fn mark_echoes_re_anchor_the_clock() {
        let mut p = Playback::new(0);
        let first = p.sent(800, 0).expect("mark");
        p.sent(800, 0);
        // Twilio started late: the first 100 ms ended at t=130, not t=100.
        p.acked(first, 130);
        assert_eq!(p.position(130), 100);
        assert_eq!(p.position(160), 130);
        assert!(p.is_playing());
    }

    #[test]
    fn a_later_echo_acknowledges_everything_before_it() {
        let mut p = Playback::new(0);
        p.sent(160, 0);
        let second = p.sent(160, 0).expect("mark");
        p.acked(second, 40);
        assert!(!p.is_playing());
        assert_eq!(p.position(1000), 40);
    }

    #[test]
    fn clear_drops_unheard_audio_and_ignores_late_echoes() {
        let mut p = Playback::new(0);
        let a = p.sent(8000, 0).expect("mark"); // 1 s
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
        let mut p = Playback::new(0);
        let a = p.sent(160, 0).expect("mark");
        p.acked(a, 20);
        p.sent(160, 1000);
        assert_eq!(p.position(1010), 30);
    }

    #[test]
    fn after_an_underrun_the_clock_restarts_when_audio_comes_again() {
        let mut p = Playback::new(100);
        // 60 ms sent at t=0, no mark yet (the response is still being generated), then
        // nothing for almost a second: the caller's buffer ran dry at t=60.
        p.sent(480, 0);
        assert!(p.is_playing());
        p.sent(800, 1000);
        assert_eq!(p.position(1000), 60, "nothing of the new chunk heard yet");
        assert_eq!(p.position(1050), 110);
        // The same with a mark whose echo is still on its way.
        let mut p = Playback::new(0);
        p.sent(800, 0).expect("mark");
        p.sent(800, 2000);
        assert_eq!(p.position(2030), 130);
    }

    #[test]
    fn marks_go_out_every_so_often_and_for_the_rest_at_the_end() {
        let mut p = Playback::new(100);
        let marks: Vec<Option<u64>> = (0..7).map(|_| p.sent(160, 0)).collect();
        // 20 ms chunks: a mark with the fifth (100 ms), none after the sixth and seventh.
        assert_eq!(marks, [None, None, None, None, Some(0), None, None]);
        assert!(p.is_playing(), "unmarked audio still plays");
        assert_eq!(p.mark_rest(), Some(1));
        assert_eq!(p.mark_rest(), None, "nothing left to mark");
        p.acked(0, 100);
        assert!(p.is_playing());
        p.acked(1, 140);
        assert!(!p.is_playing());
        assert_eq!(p.position(1000), 140);
    }

    #[test]
    fn unmarked_audio_counts_for_barge_in() {
        let mut p = Playback::new(100);
        p.sent(160, 0);
        p.sent(160, 0);
        assert_eq!(p.cleared(30), 30);
        assert!(!p.is_playing());
        assert_eq!(p.mark_rest(), None, "cleared audio needs no mark");
    }

    #[test]
    fn mark_names_round_trip() {
        assert_eq!(parse_mark(&mark_name(42)), Some(42));
        assert_eq!(parse_mark("x1"), None);
        assert_eq!(parse_mark("m"), None);
    }
}
