//! The node's own voice activity detector on the caller's audio, for barge-in before
//! the speech-to-text service has said anything: `earshot` (pure Rust, a small neural
//! network on 16 ms frames at 16 kHz, ~8 KiB of state per call, no C library to build
//! as the WebRTC VAD bindings need). The caller's µ-law 8 kHz goes up to 16 kHz through
//! the same anti-aliased resampler the Gemini bridge uses.
//!
//! earshot scores steady tones as voice: keypad tones (DTMF) and a fax machine's
//! calling tone (1100 Hz) start "speech" within 100 ms, and a caller pressing keys or a
//! fax answering would barge in on the agent. So each 20 ms of caller audio is checked
//! first ([`tone`]): when nearly all its energy sits at a DTMF pair or a fax tone, it
//! counts as no voice whatever earshot says.

use hotline_audio::StreamResampler;

/// Samples in one of earshot's frames (16 ms at 16 kHz).
const FRAME: usize = 256;
/// A frame scoring this much is voice (earshot's suggested default).
const THRESHOLD: f32 = 0.5;
/// Voice for this many frames in a row starts speech (about 100 ms): a click or a
/// cough is not a barge-in.
const ONSET_FRAMES: u32 = 6;
/// No voice for this many frames in a row ends it (about 500 ms).
const OFFSET_FRAMES: u32 = 31;
/// A tone holds at least this share of a frame's energy (a voice spreads its own
/// over many harmonics and formants).
const TONE_SHARE: f32 = 0.8;
/// Below this level (20 dB under a quiet talker) a frame is no voice without asking
/// earshot. earshot is about a fifth of the node's work on a pipeline
/// call and a caller is silent for much of one, listening; and earshot normalises the
/// level away, so it would hear a hum at −66 dBFS as a voice and barge in.
const QUIET_DBFS: f32 = -60.0;
/// Quiet frames earshot is given as silence when sound comes back, so it judges the
/// sound after silence, as it would have had it heard every frame (its context is
/// three frames, and one more settles its state).
const SETTLE_FRAMES: u32 = 4;
/// Fax: the calling tone (CNG, 1100 Hz) and the answer tone (CED, 2100 Hz).
const FAX_HZ: [f64; 2] = [1100.0, 2100.0];

/// The frequencies [`tone`] looks at: the four DTMF rows, the four columns, then the
/// two fax tones.
const TONE_HZ: [f64; 10] = {
    let (low, high) = (hotline_audio::dtmf::LOW_HZ, hotline_audio::dtmf::HIGH_HZ);
    [
        low[0], low[1], low[2], low[3], high[0], high[1], high[2], high[3], FAX_HZ[0], FAX_HZ[1],
    ]
};

/// Goertzel's coefficient `2 cos(2π f / 8000)` for each of [`TONE_HZ`].
static TONE_COEFFS: std::sync::LazyLock<[f32; 10]> = std::sync::LazyLock::new(|| {
    TONE_HZ.map(|hz| {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(hotline_audio::SAMPLE_RATE);
        (2.0 * w.cos()) as f32
    })
});

/// Whether `pcm` (8 kHz) is a keypad tone or a fax tone: its energy nearly all at one
/// DTMF row and column frequency, or at one fax frequency.
fn tone(pcm: &[i16]) -> bool {
    let energy: f32 = pcm.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
    // A quiet 20 ms frame is no tone (and its energy may be zero).
    if pcm.len() < 80 || energy / (pcm.len() as f32) < 100.0 {
        return false;
    }
    let share = powers(pcm).map(|p| p * 2.0 / (pcm.len() as f32 * energy));
    let best = |set: &[f32]| set.iter().copied().fold(0.0, f32::max);
    let (low, high) = (best(&share[..4]), best(&share[4..8]));
    (low > 0.2 && high > 0.2 && low + high >= TONE_SHARE) || best(&share[8..]) >= TONE_SHARE
}

/// |X(f)|² of `pcm` (8 kHz) at each of [`TONE_HZ`]: ten Goertzel filters run side by
/// side in one pass, in `f32`, so the compiler keeps them in vector registers. A
/// frame's tone check runs on every frame earshot hears as voice, and ten passes in
/// `f64` one after another had cost a sixth of the local VAD.
fn powers(pcm: &[i16]) -> [f32; 10] {
    let coeff = *TONE_COEFFS;
    let (mut s1, mut s2) = ([0f32; 10], [0f32; 10]);
    for &x in pcm {
        let x = f32::from(x);
        for k in 0..10 {
            let s0 = x + coeff[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    std::array::from_fn(|k| s1[k] * s1[k] + s2[k] * s2[k] - coeff[k] * s1[k] * s2[k])
}

/// A change the detector saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Started,
    Stopped,
}

pub struct LocalVad {
    detector: Box<earshot::Detector>,
    up: StreamResampler,
    pcm: Vec<i16>,
    /// The input decoded, for the tone check.
    input: Vec<i16>,
    voiced: u32,
    unvoiced: u32,
    speaking: bool,
    /// Quiet frames in a row that earshot did not hear.
    quiet: u32,
    /// Frames earshot judged.
    predicted: u64,
}

impl std::fmt::Debug for LocalVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVad")
            .field("speaking", &self.speaking)
            .finish_non_exhaustive()
    }
}

impl LocalVad {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            detector: earshot::Detector::default_boxed(),
            up: StreamResampler::new(hotline_audio::SAMPLE_RATE, 16_000, 20)
                .map_err(|e| e.to_string())?,
            pcm: Vec::with_capacity(FRAME * 3),
            input: Vec::with_capacity(160),
            voiced: 0,
            unvoiced: 0,
            speaking: false,
            quiet: 0,
            predicted: 0,
        })
    }

    pub fn speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds µ-law 8 kHz; returns the last change this audio made, if any.
    pub fn push(&mut self, mulaw: &[u8]) -> Option<Change> {
        self.input.clear();
        self.input
            .extend(mulaw.iter().map(|&b| hotline_audio::decode(b)));
        self.up.process(self.input.iter().copied(), &mut self.pcm);
        // Only a frame that sounds like voice needs the tone check.
        let mut tonal = None;
        let mut change = None;
        let mut used = 0;
        while self.pcm.len() - used >= FRAME {
            let frame = &self.pcm[used..used + FRAME];
            used += FRAME;
            let score = if hotline_audio::pcm_dbfs(frame) < QUIET_DBFS {
                self.quiet = self.quiet.saturating_add(1);
                0.0
            } else {
                for _ in 0..std::mem::take(&mut self.quiet).min(SETTLE_FRAMES) {
                    self.detector.predict_i16(&[0; FRAME]);
                }
                self.predicted += 1;
                self.detector.predict_i16(frame)
            };
            if score >= THRESHOLD && !*tonal.get_or_insert_with(|| tone(&self.input)) {
                self.voiced += 1;
                self.unvoiced = 0;
                if !self.speaking && self.voiced >= ONSET_FRAMES {
                    self.speaking = true;
                    change = Some(Change::Started);
                }
            } else {
                self.unvoiced += 1;
                self.voiced = 0;
                if self.speaking && self.unvoiced >= OFFSET_FRAMES {
                    self.speaking = false;
                    change = Some(Change::Stopped);
                }
            }
        }
        self.pcm.drain(..used);
        change
    }

    /// How many frames earshot has judged (the quiet ones it is not asked about).
    pub fn predicted(&self) -> u64 {
        self.predicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(vad: &mut LocalVad, audio: &[u8]) -> Vec<Change> {
        audio
            .chunks(160)
            .filter_map(|frame| vad.push(frame))
            .collect()
    }

    #[test]
    fn silence_is_nothing_and_a_voice_starts_and_stops() {
        let mut vad = LocalVad::new().expect("vad");
        assert!(
            run(&mut vad, &[0xFF; 16_000]).is_empty(),
            "two seconds of silence"
        );
        // A click (40 ms) is not a barge-in.
        assert!(run(&mut vad, &hotline_audio::tone_mulaw(150.0, 0.1, 40)).is_empty());
        assert!(run(&mut vad, &[0xFF; 8000]).is_empty());
        // The phone simulator's voice: a 150 Hz fundamental at about -23 dBFS.
        let voice = run(&mut vad, &hotline_audio::tone_mulaw(150.0, 0.1, 400));
        assert_eq!(voice, [Change::Started]);
        assert!(vad.speaking());
        assert_eq!(run(&mut vad, &[0xFF; 8000]), [Change::Stopped]);
    }

    #[test]
    fn quiet_frames_skip_earshot_and_a_voice_after_them_is_still_heard_at_once() {
        let mut vad = LocalVad::new().expect("vad");
        assert!(run(&mut vad, &[0xFF; 16_000]).is_empty());
        assert_eq!(vad.predicted(), 0, "two seconds of silence");
        // A hum at about -66 dBFS: earshot alone would call it a voice.
        assert!(run(&mut vad, &hotline_audio::tone_mulaw(400.0, 0.0005, 1000)).is_empty());
        assert_eq!(vad.predicted(), 0, "a hum under the floor");
        // A voice after silence starts within 120 ms (six of earshot's 16 ms frames and the
        // resampler's delay), each time.
        let voice = hotline_audio::tone_mulaw(150.0, 0.1, 400);
        for _ in 0..3 {
            let onset = voice
                .chunks(160)
                .position(|f| vad.push(f) == Some(Change::Started));
            assert!(onset.is_some_and(|i| i <= 5), "{onset:?}");
            assert_eq!(run(&mut vad, &[0xFF; 8000]), [Change::Stopped]);
        }
        // A quiet talker (-40 dBFS) is well above the floor: earshot hears every frame.
        let before = vad.predicted();
        run(&mut vad, &hotline_audio::tone_mulaw(150.0, 0.01, 400));
        assert!(
            vad.predicted() - before >= 24,
            "{}",
            vad.predicted() - before
        );
    }

    #[test]
    fn keypad_and_fax_tones_are_not_speech() {
        use hotline_audio::dtmf::{DtmfTiming, dtmf_mulaw};
        let long = DtmfTiming {
            tone_ms: 400,
            gap_ms: 80,
        };
        for (what, audio) in [
            (
                "keys",
                dtmf_mulaw("1234567890*#", DtmfTiming::default()).expect("tones"),
            ),
            ("held keys", dtmf_mulaw("159#", long).expect("tones")),
            (
                "fax calling tone",
                hotline_audio::tone_mulaw(1100.0, 0.3, 800),
            ),
            (
                "fax answer tone",
                hotline_audio::tone_mulaw(2100.0, 0.3, 800),
            ),
        ] {
            let mut vad = LocalVad::new().expect("vad");
            assert!(run(&mut vad, &audio).is_empty(), "{what} started speech");
            // The same detector still hears a voice after them.
            let voice = run(&mut vad, &hotline_audio::tone_mulaw(150.0, 0.1, 400));
            assert_eq!(voice, [Change::Started], "after {what}");
        }
        for (i, &hz) in TONE_HZ.iter().enumerate() {
            let p = powers(&hotline_audio::sine(hz, 8000, 0.3, 160));
            let loudest = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b]));
            assert_eq!(loudest, Some(i), "{hz} Hz: {p:?}");
        }
        assert!(tone(&hotline_audio::sine(1100.0, 8000, 0.3, 160)));
        assert!(!tone(&hotline_audio::sine(150.0, 8000, 0.1, 160)));
        assert!(!tone(&[0; 160]), "silence is no tone");
    }
}
