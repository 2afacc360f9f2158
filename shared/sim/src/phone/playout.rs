//! Twilio's outbound playback buffer, as a pure state machine over time.
//!
//! Audio the stream server sends is queued and played in order at 8 bytes per
//! millisecond, starting when it arrives at an idle buffer. A `mark` waits behind the
//! audio sent before it and is echoed once that audio has played, or at once when nothing
//! is buffered. `clear` drops the buffered audio and echoes every pending mark. Every
//! method takes `now` (time since the stream started) and first plays the buffer up to
//! it, so the struct needs no clock and tests drive it with plain durations.

use std::collections::VecDeque;
use std::time::Duration;

use hotline_audio::SILENCE;

/// µ-law samples (bytes) per second.
const RATE: u64 = 8_000;
/// One sample lasts 125 µs.
const NANOS_PER_SAMPLE: u64 = 1_000_000_000 / RATE;
/// Twilio stops accepting audio once more than ten minutes are buffered (warning 31931).
pub const MAX_BUFFERED_SAMPLES: usize = 10 * 60 * RATE as usize;

#[derive(Debug)]
enum Entry {
    /// Audio and how much of it has played.
    Audio { bytes: Vec<u8>, played: usize },
    /// A mark waiting for the audio before it.
    Mark(String),
}

/// The caller's side of the outbound audio: what is queued, what was heard, which marks
/// are due. See the module docs.
#[derive(Debug, Default)]
pub struct Playout {
    queue: VecDeque<Entry>,
    /// Audio samples in `queue` not yet played.
    buffered: usize,
    /// Samples of the timeline accounted for so far: `heard.len()`.
    position: u64,
    /// The caller's earpiece from the stream's start: played audio, silence when idle.
    heard: Vec<u8>,
    bytes_heard: u64,
    bytes_discarded: u64,
    overflowed: bool,
}

/// The sample index at `now` on the 8 kHz timeline.
fn samples_at(now: Duration) -> u64 {
    u64::try_from(now.as_nanos() / u128::from(NANOS_PER_SAMPLE)).unwrap_or(u64::MAX)
}

fn time_of(samples: u64) -> Duration {
    Duration::from_nanos(samples.saturating_mul(NANOS_PER_SAMPLE))
}

impl Playout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Plays the buffer up to `now`; returns the marks that came due, in order.
    pub fn advance(&mut self, now: Duration) -> Vec<String> {
        let mut echoed = Vec::new();
        let target = samples_at(now);
        let Some(mut due) = target.checked_sub(self.position) else {
            return echoed;
        };
        while let Some(front) = self.queue.front_mut() {
            match front {
                Entry::Mark(_) => {
                    if let Some(Entry::Mark(name)) = self.queue.pop_front() {
                        echoed.push(name);
                    }
                }
                Entry::Audio { bytes, played } => {
                    if due == 0 {
                        break;
                    }
                    let left = bytes.len() - *played;
                    let take = usize::try_from(due).map_or(left, |d| d.min(left));
                    self.heard
                        .extend_from_slice(&bytes[*played..*played + take]);
                    *played += take;
                    self.buffered -= take;
                    self.bytes_heard += take as u64;
                    due -= take as u64;
                    if *played == bytes.len() {
                        self.queue.pop_front();
                    }
                }
            }
        }
        if due > 0 {
            // Idle: the caller hears the line's silence.
            let silence = usize::try_from(due).unwrap_or(usize::MAX);
            self.heard
                .resize(self.heard.len().saturating_add(silence), SILENCE);
        }
        self.position = target;
        echoed
    }

    /// Queues audio behind what is buffered; playback starts at `now` if the buffer was
    /// idle. Audio that would take the buffer past ten minutes is discarded, as Twilio
    /// does ([`Playout::overflowed`]). Returns the marks that came due before `now`.
    pub fn push_audio(&mut self, now: Duration, audio: &[u8]) -> Vec<String> {
        let echoed = self.advance(now);
        if audio.is_empty() {
            return echoed;
        }
        if self.buffered + audio.len() > MAX_BUFFERED_SAMPLES {
            self.overflowed = true;
            self.bytes_discarded += audio.len() as u64;
            return echoed;
        }
        self.buffered += audio.len();
        self.queue.push_back(Entry::Audio {
            bytes: audio.to_vec(),
            played: 0,
        });
        echoed
    }

    /// Queues a mark behind the buffered audio, or echoes it at once when nothing is
    /// buffered. Returns the marks to echo now, in order.
    pub fn push_mark(&mut self, now: Duration, name: impl Into<String>) -> Vec<String> {
        let mut echoed = self.advance(now);
        if self.queue.is_empty() {
            echoed.push(name.into());
        } else {
            self.queue.push_back(Entry::Mark(name.into()));
        }
        echoed
    }

    /// Drops the buffered audio and returns every pending mark, in order: Twilio echoes
    /// them all right away.
    pub fn clear(&mut self, now: Duration) -> Vec<String> {
        let mut echoed = self.advance(now);
        self.bytes_discarded += self.buffered as u64;
        self.buffered = 0;
        echoed.extend(self.queue.drain(..).filter_map(|entry| match entry {
            Entry::Mark(name) => Some(name),
            Entry::Audio { .. } => None,
        }));
        echoed
    }

    /// The call ended at `now`: what is still buffered is never played and pending marks
    /// are never echoed (the socket is gone). Returns how many marks were pending.
    pub fn hang_up(&mut self, now: Duration) -> usize {
        // Marks that came due before the hang-up were echoed by the caller of `advance`.
        let _ = self.advance(now);
        self.bytes_discarded += self.buffered as u64;
        self.buffered = 0;
        let pending = self.pending_marks();
        self.queue.clear();
        pending
    }

    /// When the first pending mark comes due if nothing is cleared, since the stream
    /// started; `None` without pending marks.
    pub fn next_mark_due(&self) -> Option<Duration> {
        let mut ahead = 0u64;
        for entry in &self.queue {
            match entry {
                Entry::Mark(_) => return Some(time_of(self.position + ahead)),
                Entry::Audio { bytes, played } => ahead += (bytes.len() - played) as u64,
            }
        }
        None
    }

    /// Whether audio is playing (buffered and not yet played).
    pub fn is_playing(&self) -> bool {
        self.buffered > 0
    }

    /// Audio buffered and not yet played.
    pub fn buffered(&self) -> Duration {
        time_of(self.buffered as u64)
    }

    /// Marks waiting for their audio.
    pub fn pending_marks(&self) -> usize {
        self.queue
            .iter()
            .filter(|e| matches!(e, Entry::Mark(_)))
            .count()
    }

    /// The caller's earpiece from the stream's start up to the last `now` seen: played
    /// audio, and µ-law silence where nothing played. 8 bytes per millisecond.
    pub fn heard(&self) -> &[u8] {
        &self.heard
    }

    /// [`Playout::heard`], by value.
    pub fn into_heard(self) -> Vec<u8> {
        self.heard
    }

    /// Bytes of outbound audio actually played (idle silence not counted).
    pub fn bytes_heard(&self) -> u64 {
        self.bytes_heard
    }

    /// Bytes of outbound audio dropped unplayed: by `clear`, by the hang-up, or past the
    /// ten-minute buffer limit.
    pub fn bytes_discarded(&self) -> u64 {
        self.bytes_discarded
    }

    /// Whether audio was refused because ten minutes were already buffered.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_mark_is_echoed_once_its_audio_has_played() {
        let mut p = Playout::new();
        assert!(p.push_audio(ms(100), &[1; 800]).is_empty()); // 100 ms of audio
        assert!(p.push_mark(ms(100), "a").is_empty());
        assert_eq!(p.next_mark_due(), Some(ms(200)));
        assert!(p.advance(ms(199)).is_empty());
        assert_eq!(p.advance(ms(200)), ["a"]);
        assert_eq!(p.bytes_heard(), 800);
        assert!(!p.is_playing());
    }

    #[test]
    fn a_mark_on_an_empty_buffer_is_echoed_at_once() {
        let mut p = Playout::new();
        assert_eq!(p.push_mark(ms(5), "now"), ["now"]);
        assert_eq!(p.pending_marks(), 0);
        assert_eq!(p.next_mark_due(), None);
    }

    #[test]
    fn playback_starts_when_audio_reaches_an_idle_buffer() {
        let mut p = Playout::new();
        p.push_audio(ms(50), &[7; 80]); // 10 ms, arriving at 50 ms
        p.push_mark(ms(50), "m");
        assert_eq!(p.advance(ms(60)), ["m"]);
        p.advance(ms(70));
        let heard = p.heard();
        assert_eq!(heard.len(), 70 * 8);
        assert!(heard[..400].iter().all(|&b| b == SILENCE));
        assert!(heard[400..480].iter().all(|&b| b == 7));
        assert!(heard[480..].iter().all(|&b| b == SILENCE));
    }

    #[test]
    fn audio_queued_behind_playing_audio_plays_back_to_back() {
        let mut p = Playout::new();
        p.push_audio(ms(0), &[1; 160]);
        p.push_mark(ms(0), "first");
        p.push_audio(ms(10), &[2; 160]);
        p.push_mark(ms(10), "second");
        assert_eq!(p.advance(ms(20)), ["first"]);
        assert_eq!(p.next_mark_due(), Some(ms(40)));
        assert_eq!(p.advance(ms(45)), ["second"]);
        assert_eq!(&p.heard()[..320], [[1u8; 160], [2u8; 160]].concat());
    }

    #[test]
    fn clear_flushes_audio_and_echoes_every_pending_mark() {
        let mut p = Playout::new();
        p.push_audio(ms(0), &[1; 8000]); // 1 s
        p.push_mark(ms(0), "a");
        p.push_audio(ms(0), &[2; 8000]);
        p.push_mark(ms(0), "b");
        assert_eq!(p.clear(ms(250)), ["a", "b"]);
        assert_eq!(p.bytes_heard(), 2000);
        assert_eq!(p.bytes_discarded(), 14_000);
        assert!(!p.is_playing());
        assert_eq!(p.next_mark_due(), None);
        // Nothing more is heard after the clear.
        p.advance(ms(500));
        assert_eq!(p.bytes_heard(), 2000);
        assert!(p.heard()[2000..].iter().all(|&b| b == SILENCE));
    }

    #[test]
    fn marks_due_before_a_clear_come_first() {
        let mut p = Playout::new();
        p.push_audio(ms(0), &[1; 80]);
        p.push_mark(ms(0), "played");
        p.push_audio(ms(0), &[1; 800]);
        p.push_mark(ms(0), "discarded");
        assert_eq!(p.clear(ms(20)), ["played", "discarded"]);
    }

    #[test]
    fn hang_up_discards_without_echoing() {
        let mut p = Playout::new();
        p.push_audio(ms(0), &[1; 800]);
        p.push_mark(ms(0), "never");
        assert_eq!(p.hang_up(ms(50)), 1);
        assert_eq!(p.bytes_heard(), 400);
        assert_eq!(p.bytes_discarded(), 400);
        assert_eq!(p.pending_marks(), 0);
    }

    #[test]
    fn more_than_ten_minutes_of_audio_is_refused() {
        let mut p = Playout::new();
        p.push_audio(ms(0), &vec![1; MAX_BUFFERED_SAMPLES]);
        assert!(!p.overflowed());
        p.push_audio(ms(0), &[1; 8]);
        assert!(p.overflowed());
        assert_eq!(p.bytes_discarded(), 8);
        assert_eq!(p.buffered(), Duration::from_secs(600));
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut p = Playout::new();
        p.advance(ms(10));
        p.advance(ms(5));
        assert_eq!(p.heard().len(), 80);
    }
}
