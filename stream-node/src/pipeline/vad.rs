//! The node's own voice activity detector on the caller's audio, for barge-in before
//! the speech-to-text service has said anything: `earshot` (pure Rust, a small neural
//! network on 16 ms frames at 16 kHz, ~8 KiB of state per call, no C library to build
//! as the WebRTC VAD bindings need). The caller's µ-law 8 kHz goes up to 16 kHz through
//! the same anti-aliased resampler the Gemini bridge uses.

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
    voiced: u32,
    unvoiced: u32,
    speaking: bool,
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
            voiced: 0,
            unvoiced: 0,
            speaking: false,
        })
    }

    pub fn speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds µ-law 8 kHz; returns the last change this audio made, if any.
    pub fn push(&mut self, mulaw: &[u8]) -> Option<Change> {
        self.up.process(
            mulaw.iter().map(|&b| hotline_audio::decode(b)),
            &mut self.pcm,
        );
        let mut change = None;
        let mut used = 0;
        while self.pcm.len() - used >= FRAME {
            let score = self.detector.predict_i16(&self.pcm[used..used + FRAME]);
            used += FRAME;
            if score >= THRESHOLD {
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
}
