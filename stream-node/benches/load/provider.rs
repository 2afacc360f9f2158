//! What differs by `--provider` on the caller's side: the audio a caller sends, and how
//! it times the agent's audio it hears.
//!
//! - `openai_realtime`: frame ids pass through untouched both ways (see `frame.rs`).
//! - `gemini_live`: audio is resampled both ways, so no id survives. Frames are timed by
//!   sample position instead ([`Clocks`]): the phone records each 20 ms frame's send
//!   time, and the fake Gemini, counting the 16 kHz samples it receives on the call,
//!   times frame `k` when its sound has arrived; down, the fake records each 24 kHz
//!   chunk's send time and the phone, counting µ-law samples, times chunk `j` likewise.
//!   The resamplers' filter delay is counted ([`SampleClock`]): it is latency a listener
//!   hears.
//! - `pipeline`: the caller's µ-law reaches the speech-to-text as it is, but must not
//!   sound like speech to the node's own VAD (a barge-in would cut the reply), so the id
//!   is written in quiet samples ([`push_quiet_payload`]); the voice's µ-law reaches the
//!   phone as the node received it, cut wherever HTTP chunks fell, so the phone reads an
//!   id at every 160th byte of the stream it hears.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::frame::{self, FRAME_BYTES, FrameId};
use super::stats::{Receiver, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
pub enum Provider {
    OpenaiRealtime,
    GeminiLive,
    Pipeline,
}

impl Provider {
    pub fn model(self) -> hotline_core::model::Provider {
        match self {
            Self::OpenaiRealtime => hotline_core::model::Provider::OpenaiRealtime,
            Self::GeminiLive => hotline_core::model::Provider::GeminiLive,
            Self::Pipeline => hotline_core::model::Provider::Pipeline,
        }
    }

    /// The p99 added latency each way the issue asks of it, µs (none for the pipeline:
    /// only its call count and loss).
    pub fn p99_target_us(self) -> Option<u32> {
        match self {
            Self::OpenaiRealtime => Some(5_000),
            Self::GeminiLive => Some(10_000),
            Self::Pipeline => None,
        }
    }

    /// The node's Gemini resamplers' filter delay, in the samples each side counts:
    /// (up, at 16 kHz; down, at 8 kHz). The node drops that many samples at the start,
    /// so sample `n` out is sample `n` in; of each 20 ms frame, the last `delay`
    /// samples come out with the next frame. Read from the node's own resampler.
    pub fn gemini_delay() -> (u64, u64) {
        let delay = |from: u32, to: u32| {
            hotline_audio::StreamResampler::new(from, to, 20).map_or(0, |r| r.delay() as u64)
        };
        (delay(8_000, 16_000), delay(24_000, 8_000))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::OpenaiRealtime => "openai_realtime",
            Self::GeminiLive => "gemini_live",
            Self::Pipeline => "pipeline",
        }
    }
}

/// Send times by call and frame (or chunk) number, shared by the phones and the fake AI
/// of one process: a ring per call and direction, each slot holding the frame number it
/// was written for, so a reader that fell a whole ring behind sees a miss, not a wrong
/// time.
pub struct Clocks {
    up: Vec<AtomicU64>,
    down: Vec<AtomicU64>,
}

/// Frames a ring remembers: 5 s of audio.
const RING: usize = 256;

impl Clocks {
    pub fn new(calls: u32) -> Self {
        let n = calls as usize * RING;
        Self {
            up: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
            down: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    fn slot(ring: &[AtomicU64], call: u32, seq: u32) -> Option<&AtomicU64> {
        ring.get(call as usize * RING + seq as usize % RING)
    }

    fn put(ring: &[AtomicU64], id: FrameId) {
        if let Some(s) = Self::slot(ring, id.call, id.seq) {
            s.store(
                u64::from(id.seq) << 32 | u64::from(id.sent_us),
                Ordering::Relaxed,
            );
        }
    }

    fn get(ring: &[AtomicU64], call: u32, seq: u32) -> Option<FrameId> {
        let v = Self::slot(ring, call, seq)?.load(Ordering::Relaxed);
        // The high half is the frame number the slot was written for.
        #[allow(clippy::cast_possible_truncation)]
        let (at_seq, sent_us) = ((v >> 32) as u32, v as u32);
        (v != u64::MAX && at_seq == seq).then_some(FrameId { call, seq, sent_us })
    }

    pub fn caller_sent(&self, id: FrameId) {
        Self::put(&self.up, id);
    }

    pub fn caller_frame(&self, call: u32, seq: u32) -> Option<FrameId> {
        Self::get(&self.up, call, seq)
    }

    pub fn agent_sent(&self, id: FrameId) {
        Self::put(&self.down, id);
    }

    pub fn agent_chunk(&self, call: u32, seq: u32) -> Option<FrameId> {
        Self::get(&self.down, call, seq)
    }
}

/// Times a stream of resampled audio by sample position, as a listener hears its delay:
/// frame `k` is timed when the output reaches the position its last sample had less the
/// resampler's delay (`per_frame (k + 1) − delay`), the sample the node could pass on
/// with frame `k`, and its latency is counted from when that sample was spoken, `delay`
/// before the frame was sent ([`Self::spoken`]). Passthrough audio (delay 0) reduces to
/// "frame k is in at its last sample". So the figure is the node's queueing plus the
/// filter's delay: how much later the caller (or the model) hears every sound.
#[derive(Debug)]
pub struct SampleClock {
    per_frame: u64,
    delay: u64,
    /// The delay in µs at the clock's rate.
    delay_us: u32,
    samples: u64,
    next: u32,
}

impl SampleClock {
    pub fn new(per_frame: u64, delay: u64, rate: u32) -> Self {
        Self {
            per_frame,
            delay,
            delay_us: u32::try_from(delay * 1_000_000 / u64::from(rate.max(1))).unwrap_or(0),
            samples: 0,
            next: 0,
        }
    }

    /// Adds `samples` arrived; returns the range of frames they completed.
    pub fn arrived(&mut self, samples: u64) -> std::ops::Range<u32> {
        self.samples += samples;
        let first = self.next;
        let done = u32::try_from((self.samples + self.delay) / self.per_frame).unwrap_or(u32::MAX);
        self.next = done.max(first);
        first..self.next
    }

    /// `now` moved on by the filter's delay: a frame received now is timed from when its
    /// timed sample was spoken, that delay before the frame was sent. The frame keeps its
    /// own send time, so sender and receiver agree on whether it is in the window.
    pub fn timed_at(&self, now_us: u32) -> u32 {
        now_us.wrapping_add(self.delay_us)
    }
}

/// Bytes a padded base64 string decodes to, without decoding it.
pub fn base64_len(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take(2).filter(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad) as u64
}

/// µ-law bytes this quiet: 0xFC..=0xFF decode to 0..=24 of 32,767 (under −60 dBFS).
const QUIET: u8 = 0xFC;
const QUIET_BYTES: usize = 48;

/// The id as 2-bit symbols in quiet µ-law bytes, then silence: 160 bytes.
pub fn quiet_frame(id: FrameId) -> [u8; FRAME_BYTES] {
    let mut out = [0xFF; FRAME_BYTES];
    let mut head = [0u8; 12];
    head[0..4].copy_from_slice(&id.call.to_le_bytes());
    head[4..8].copy_from_slice(&id.seq.to_le_bytes());
    head[8..12].copy_from_slice(&id.sent_us.to_le_bytes());
    for (i, b) in head.iter().enumerate() {
        for j in 0..4 {
            out[i * 4 + j] = QUIET | (b >> (j * 2) & 3);
        }
    }
    out
}

/// Reads the id of [`quiet_frame`].
pub fn read_quiet(audio: &[u8]) -> Option<FrameId> {
    let symbols = audio.get(..QUIET_BYTES)?;
    if symbols.iter().any(|&b| b & QUIET != QUIET) {
        return None;
    }
    let mut head = [0u8; 12];
    for (i, b) in head.iter_mut().enumerate() {
        for j in 0..4 {
            *b |= (symbols[i * 4 + j] & 3) << (j * 2);
        }
    }
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    Some(FrameId {
        call: word(0),
        seq: word(4),
        sent_us: word(8),
    })
}

/// A raw 160-byte frame with the id in its first 12 bytes (as `frame.rs` encodes it
/// before base64), the rest µ-law silence.
pub fn raw_frame(id: FrameId) -> [u8; FRAME_BYTES] {
    let mut out = [0xFF; FRAME_BYTES];
    out[0..4].copy_from_slice(&id.call.to_le_bytes());
    out[4..8].copy_from_slice(&id.seq.to_le_bytes());
    out[8..12].copy_from_slice(&id.sent_us.to_le_bytes());
    out
}

fn read_raw(frame: &[u8]) -> Option<FrameId> {
    let word = |i: usize| {
        frame
            .get(i..i + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    };
    Some(FrameId {
        call: word(0)?,
        seq: word(4)?,
        sent_us: word(8)?,
    })
}

/// What every caller of a run shares, by provider.
#[derive(Clone)]
pub enum Mode {
    OpenAi,
    Gemini(Arc<Clocks>),
    Pipeline,
}

/// One caller's side of its provider's audio.
pub struct Caller {
    mode: Mode,
    call: u32,
    /// Gemini: µ-law samples heard.
    heard: SampleClock,
    /// Pipeline: the agent's stream decoded, not yet a whole frame.
    carry: Vec<u8>,
}

impl Mode {
    pub fn caller(&self, call: u32) -> Caller {
        Caller {
            mode: self.clone(),
            call,
            heard: SampleClock::new(FRAME_BYTES as u64, Provider::gemini_delay().1, 8_000),
            carry: Vec::with_capacity(4 * FRAME_BYTES),
        }
    }
}

impl Caller {
    /// Twilio's `media` frame for frame `id`; records its send time where it is timed
    /// by position.
    pub fn media(&self, sequence_number: u64, stream_sid: &str, id: FrameId, tail: &str) -> String {
        let chunk = u64::from(id.seq) + 1;
        let timestamp_ms = u64::from(id.seq) * frame::FRAME_MS;
        match &self.mode {
            Mode::OpenAi => {
                frame::twilio_media(sequence_number, stream_sid, chunk, timestamp_ms, id, tail)
            }
            Mode::Gemini(clocks) => {
                clocks.caller_sent(id);
                frame::twilio_media(sequence_number, stream_sid, chunk, timestamp_ms, id, tail)
            }
            Mode::Pipeline => {
                frame::twilio_media_with(sequence_number, stream_sid, chunk, timestamp_ms, |out| {
                    BASE64.encode_string(quiet_frame(id), out);
                })
            }
        }
    }

    /// The agent's audio (a `media` payload) arrived at `now`: each frame it completes is
    /// timed into `down`. False if it was not audio this bench sent.
    pub fn heard(&mut self, payload: &str, now: u32, window: &Window, down: &mut Receiver) -> bool {
        match &self.mode {
            Mode::OpenAi => match frame::read_id(payload) {
                Some(id) => {
                    down.received(id, now, window);
                    true
                }
                None => false,
            },
            Mode::Gemini(clocks) => {
                for seq in self.heard.arrived(base64_len(payload)) {
                    match clocks.agent_chunk(self.call, seq) {
                        Some(id) => down.received(id, self.heard.timed_at(now), window),
                        None => down.dir.misrouted += 1,
                    }
                }
                true
            }
            Mode::Pipeline => {
                if BASE64.decode_vec(payload, &mut self.carry).is_err() {
                    return false;
                }
                let whole = self.carry.len() / FRAME_BYTES * FRAME_BYTES;
                for f in self.carry[..whole].chunks_exact(FRAME_BYTES) {
                    match read_raw(f) {
                        Some(id) => down.received(id, now, window),
                        None => return false,
                    }
                }
                self.carry.drain(..whole);
                true
            }
        }
    }
}

/// Checks the encodings this module relies on.
pub fn self_check() -> anyhow::Result<()> {
    use anyhow::ensure;
    let id = FrameId {
        call: 499,
        seq: 70_001,
        sent_us: u32::MAX - 9,
    };
    ensure!(
        read_quiet(&quiet_frame(id)) == Some(id),
        "quiet id does not round-trip"
    );
    ensure!(
        quiet_frame(id)
            .iter()
            .all(|&b| hotline_audio::decode(b).unsigned_abs() <= 32),
        "quiet id is not quiet"
    );
    ensure!(
        read_raw(&raw_frame(id)) == Some(id),
        "raw id does not round-trip"
    );
    for n in [0usize, 1, 2, 3, 160, 959, 960] {
        ensure!(
            base64_len(&BASE64.encode(vec![0u8; n])) == n as u64,
            "base64 length of {n}"
        );
    }
    let mut clock = SampleClock::new(320, 0, 16_000);
    ensure!(clock.arrived(300).is_empty(), "a partial frame was timed");
    ensure!(
        clock.arrived(20) == (0..1),
        "frame 0 not timed at its last sample"
    );
    ensure!(
        clock.arrived(660) == (1..3),
        "frames 1 and 2 not timed together"
    );
    // 2.5 ms of filter delay at 16 kHz: frame 0 is timed at sample 280, as spoken 2.5 ms
    // before it was sent.
    let mut clock = SampleClock::new(320, 40, 16_000);
    ensure!(clock.arrived(279).is_empty(), "timed before its position");
    ensure!(clock.arrived(1) == (0..1), "not timed at its position");
    ensure!(clock.timed_at(10_000) == 12_500, "spoken time");
    let clocks = Clocks::new(2);
    clocks.caller_sent(FrameId {
        call: 1,
        seq: 300,
        sent_us: 5,
    });
    ensure!(
        clocks.caller_frame(1, 300).map(|f| f.sent_us) == Some(5)
            && clocks.caller_frame(1, 300 - RING as u32).is_none(),
        "send-time ring"
    );
    Ok(())
}

/// What the fakes of the Gemini and pipeline runs share.
pub struct Fake {
    pub collector: Arc<super::stats::Collector>,
    pub clocks: Arc<Clocks>,
    /// When callers hang up: the node then closes sessions, and a send may meet a
    /// closed socket.
    pub calls_end_at: tokio::time::Instant,
    /// Sessions the node has not closed by then end on their own.
    pub give_up_at: tokio::time::Instant,
}

/// One session's or request's counts, merged into the totals when it ends.
pub struct Tally {
    /// An AI session (counted live), not an HTTP connection.
    session: bool,
    pub up: Receiver,
    pub down: super::stats::Dir,
    pub other: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            session: false,
            up: Receiver::new(None),
            down: super::stats::Dir::default(),
            other: std::collections::BTreeMap::new(),
        }
    }

    /// An AI session's counts; the session counts as open until [`Self::close`].
    pub fn session(fake: &Fake) -> Self {
        let live = &fake.collector.live;
        super::stats::Live::inc(&live.ai_sessions);
        super::stats::Live::inc(&live.ai_active);
        Self {
            session: true,
            ..Self::new()
        }
    }

    pub fn other(&mut self, kind: &str) {
        *self.other.entry(kind.to_owned()).or_default() += 1;
    }

    /// Merges the counts; `result` is how the session ended (an error after the calls
    /// ended is a socket closed under a send, not a failure).
    pub fn close(self, fake: &Fake, who: &str, result: anyhow::Result<()>) {
        let c = &fake.collector;
        if let Err(e) = result
            && tokio::time::Instant::now() < fake.calls_end_at
        {
            c.error(format!("{who}: {e:#}"));
        }
        c.with(|t| {
            t.up.merge(self.up.dir);
            t.down.merge(self.down);
            for (k, n) in self.other {
                *t.other_events.entry(format!("to {who}: {k}")).or_default() += n;
            }
        });
        if self.session {
            super::stats::Live::dec(&c.live.ai_active);
        }
    }
}

/// A 20 ms tick on an absolute schedule: a late tick is caught up, not skipped.
pub fn real_time_tick() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(frame::FRAME_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    tick
}

/// Accepts connections for a fake, each served by `talk`.
pub async fn serve<F, Fut>(listener: tokio::net::TcpListener, fake: Arc<Fake>, talk: F)
where
    F: Fn(tokio::net::TcpStream, Arc<Fake>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(talk(tcp, Arc::clone(&fake)));
            }
            Err(e) => {
                fake.collector.error(format!("fake accept: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// The call index a message names as `bench call N` (seeded instructions, transcripts
/// and sentences all say it so).
pub fn call_named(text: &str) -> Option<u32> {
    let rest = &text[text.find("bench call ")? + "bench call ".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}
