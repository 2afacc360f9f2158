//! What the generator counts: per direction, frames sent and received inside the
//! measurement window and their latencies; plus live counters and errors by kind.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::FrameId;

/// Frames at least this late are listed by send time, to tell stalls from noise.
pub const SLOW_US: u32 = 5_000;

/// Frames count when their send time falls in `[from_us, to_us)` (generator clock).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from_us: u32,
    pub to_us: u32,
}

impl Window {
    pub fn contains(&self, sent_us: u32) -> bool {
        (self.from_us..self.to_us).contains(&sent_us)
    }
}

/// One direction of audio (caller → AI or AI → caller).
#[derive(Debug, Default)]
pub struct Dir {
    /// Frames sent inside the window.
    pub sent: u64,
    /// Of those, frames that arrived.
    pub received: u64,
    /// Their latencies, µs.
    pub latency_us: Vec<u32>,
    /// Send times (generator clock, µs) of frames slower than [`SLOW_US`].
    pub slow_sent_us: Vec<u32>,
    /// All frames, whatever their time.
    pub total_sent: u64,
    pub total_received: u64,
    /// A sequence number skipped (lost or reordered) or repeated.
    pub gaps: u64,
    pub repeats: u64,
    /// A frame of another call arrived on this call's socket.
    pub misrouted: u64,
}

impl Dir {
    pub fn sent(&mut self, id: FrameId, window: &Window) {
        self.total_sent += 1;
        if window.contains(id.sent_us) {
            self.sent += 1;
        }
    }

    pub fn merge(&mut self, other: Self) {
        self.sent += other.sent;
        self.received += other.received;
        self.latency_us.extend(other.latency_us);
        self.slow_sent_us.extend(other.slow_sent_us);
        self.total_sent += other.total_sent;
        self.total_received += other.total_received;
        self.gaps += other.gaps;
        self.repeats += other.repeats;
        self.misrouted += other.misrouted;
    }
}

/// The receiving end of one stream of frames.
#[derive(Debug)]
pub struct Receiver {
    pub dir: Dir,
    call: Option<u32>,
    next_seq: u32,
}

impl Receiver {
    /// `call`: the call this socket belongs to, if known yet (the fake AI learns it
    /// from the first frame).
    pub fn new(call: Option<u32>) -> Self {
        Self {
            dir: Dir::default(),
            call,
            next_seq: 0,
        }
    }

    pub fn call(&self) -> Option<u32> {
        self.call
    }

    pub fn received(&mut self, id: FrameId, now_us: u32, window: &Window) {
        let call = *self.call.get_or_insert(id.call);
        if call != id.call {
            self.dir.misrouted += 1;
            return;
        }
        self.dir.total_received += 1;
        if id.seq < self.next_seq {
            self.dir.repeats += 1;
        } else {
            if id.seq > self.next_seq {
                self.dir.gaps += 1;
            }
            self.next_seq = id.seq + 1;
        }
        if window.contains(id.sent_us) {
            self.dir.received += 1;
            let latency = now_us.wrapping_sub(id.sent_us);
            self.dir.latency_us.push(latency);
            if latency >= SLOW_US {
                self.dir.slow_sent_us.push(id.sent_us);
            }
        }
    }
}

/// Counters read while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub calls_started: AtomicU64,
    pub calls_upgraded: AtomicU64,
    /// Calls whose caller heard the AI: the whole path works.
    pub calls_established: AtomicU64,
    pub calls_ended: AtomicU64,
    /// Calls upgraded and not ended: the concurrent calls.
    pub calls_live: AtomicU64,
    pub ai_sessions: AtomicU64,
    pub ai_active: AtomicU64,
    pub frames_up: AtomicU64,
    pub frames_down: AtomicU64,
}

impl Live {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything merged at the end of each call or session.
#[derive(Debug, Default)]
pub struct Totals {
    pub up: Dir,
    pub down: Dir,
    /// Turns mode's per-turn figures.
    pub turns: super::turn::TurnStats,
    /// Node messages a caller did not expect (by event), AI client events likewise.
    pub other_events: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

pub struct Collector {
    pub live: Live,
    pub window: Window,
    totals: Mutex<Totals>,
}

impl Collector {
    pub fn new(window: Window) -> Self {
        Self {
            live: Live::default(),
            window,
            totals: Mutex::new(Totals::default()),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Totals) -> R) -> R {
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut totals)
    }

    pub fn error(&self, kind: impl Into<String>) {
        self.with(|t| *t.errors.entry(kind.into()).or_default() += 1);
    }

    pub fn take(&self) -> Totals {
        self.with(std::mem::take)
    }
}

/// p50, p99 and max of a set of latencies, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

pub fn percentiles(samples: &mut [u32]) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() * q).div_ceil(100).saturating_sub(1)];
    Some(Percentiles {
        p50: at(50),
        p99: at(99),
        max: samples[samples.len() - 1],
    })
}

/// When slow frames were sent: (start of a 100 ms slot from `from_us`, slow frames sent
/// in it), busiest slots first.
pub fn slow_slots(slow_sent_us: &[u32], from_us: u32) -> Vec<(u32, u64)> {
    let mut slots: BTreeMap<u32, u64> = BTreeMap::new();
    for &t in slow_sent_us {
        *slots
            .entry(t.wrapping_sub(from_us) / 100_000 * 100_000)
            .or_default() += 1;
    }
    let mut slots: Vec<_> = slots.into_iter().collect();
    slots.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    slots
}
