//! Streaming, anti-aliased resampling of one direction of one call, with `rubato`'s FFT
//! resampler: Twilio's µ-law at 8 kHz up to a provider's 16 kHz, and a provider's 24 kHz
//! down to 8 kHz. Unlike [`crate::resample_linear`], the filter keeps everything above
//! the lower rate's Nyquist frequency out (a 24 kHz voice has energy up to 12 kHz, which
//! would fold back into the telephone band as hiss), and its state carries over from
//! chunk to chunk so a stream of frames resamples as one continuous signal.
//!
//! Each chunk is filtered in [`SUB_CHUNKS`] pieces: the filter's delay is half a piece,
//! and every millisecond of it is a millisecond the caller waits, each way, on every
//! turn. With 20 ms chunks that is 2.5 ms (one whole-chunk filter held back 10 ms). A
//! Hann window on the shorter filter keeps the telephone band flat to 3 kHz (−0.3 dB
//! at 3.4 kHz) and folds nothing back above −60 dB; rubato's default window on so
//! short a filter would cut 3.4 kHz by 6 dB.
//!
//! Not `rubato`'s sinc resampler, even set up as an exact polyphase filter (one
//! precomputed phase per output position, `SincInterpolationType::Nearest`, the same
//! band and stopband): in `--bench audio_path` it made Gemini's bridge 1.1–1.6 times as
//! costly and a silent caller's VAD three times, its bookkeeping per output sample
//! outweighing these short transforms (2026-12-06).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

/// Pieces each chunk is filtered in (see the module's doc).
const SUB_CHUNKS: usize = 4;

/// Why a resampler could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample {from_hz} Hz to {to_hz} Hz: {reason}")]
pub struct ResampleError {
    pub from_hz: u32,
    pub to_hz: u32,
    reason: String,
}

/// One direction of one call: PCM16 in at one rate, PCM16 out at another. Input of any
/// length is buffered until a whole chunk is there; allocations happen only while the
/// buffers grow to their working size, then never on the per-frame path.
pub struct StreamResampler {
    inner: Fft<f32>,
    chunk_in: usize,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    /// One chunk of output, reused.
    scratch: Vec<f32>,
    /// Output samples of the filter's start-up delay still to drop, so the first sound
    /// is not preceded by silence the caller would wait through.
    skip: usize,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("chunk_in", &self.chunk_in)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// A resampler from `from_hz` to `to_hz` working on `chunk_ms` of input at a time
    /// (20 ms matches Twilio's frames; the delay it adds is an eighth of a chunk).
    pub fn new(from_hz: u32, to_hz: u32, chunk_ms: u32) -> Result<Self, ResampleError> {
        let error = |reason: String| ResampleError {
            from_hz,
            to_hz,
            reason,
        };
        let chunk_in = usize::try_from(u64::from(from_hz) * u64::from(chunk_ms.max(1)) / 1000)
            .map_err(|e| error(e.to_string()))?
            .max(1);
        let inner = Fft::<f32>::new_custom(
            from_hz as usize,
            to_hz as usize,
            chunk_in,
            SUB_CHUNKS,
            1,
            WindowFunction::Hann,
            FixedSync::Input,
        )
        .map_err(|e| error(e.to_string()))?;
        let chunk_in = inner.input_frames_next();
        let scratch = vec![0.0; inner.output_frames_max()];
        let skip = inner.output_delay();
        Ok(Self {
            inner,
            chunk_in,
            pending: Vec::with_capacity(chunk_in * 2),
            scratch,
            skip,
        })
    }

    /// Input samples the next output waits for at most (less than one chunk is held).
    pub fn chunk_in(&self) -> usize {
        self.chunk_in
    }

    /// The filter's delay, in output samples: of each chunk, this much of its end comes
    /// out only with the next chunk.
    pub fn delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Resamples `input`, appending whatever output is ready to `out`. What does not
    /// fill a chunk yet stays for the next call.
    pub fn process(&mut self, input: impl IntoIterator<Item = i16>, out: &mut Vec<i16>) {
        self.pending
            .extend(input.into_iter().map(|s| f32::from(s) / 32_768.0));
        let mut used = 0;
        while self.pending.len() - used >= self.chunk_in {
            let chunk = &self.pending[used..used + self.chunk_in];
            let frames_out = self.scratch.len();
            let (Ok(input), Ok(mut output)) = (
                InterleavedSlice::new(chunk, 1, self.chunk_in),
                InterleavedSlice::new_mut(&mut self.scratch, 1, frames_out),
            ) else {
                break;
            };
            // Sizes are the resampler's own, so this cannot fail; if it did, the chunk
            // is skipped (20 ms of silence) rather than the call.
            let produced = match self.inner.process_into_buffer(&input, &mut output, None) {
                Ok((_, produced)) => produced,
                Err(_) => 0,
            };
            used += self.chunk_in;
            let skip = self.skip.min(produced);
            self.skip -= skip;
            out.extend(self.scratch[skip..produced].iter().map(|&s| to_i16(s)));
        }
        self.pending.drain(..used);
    }

    /// Pushes out what is held back (less than a chunk), padded with silence to a
    /// whole chunk: the end of a reply must not wait for the next one to be heard.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let held = self.pending.len();
        if held > 0 {
            self.process(std::iter::repeat_n(0, self.chunk_in - held), out);
        }
    }

    /// Forgets what is held back (an interrupted reply's last milliseconds).
    pub fn discard(&mut self) {
        self.pending.clear();
    }
}

/// A sample in [-1, 1) back to PCM16, rounded half away from zero. Not `f32::round`:
/// without SSE4.1 in the target that is a call into libm per sample, which showed as
/// a tenth of the resampler's time; a float-to-int cast is one instruction and
/// saturates, so out-of-range values clamp as well.
#[inline]
fn to_i16(s: f32) -> i16 {
    let scaled = s * 32_768.0;
    (scaled + 0.5f32.copysign(scaled)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{goertzel_dbfs, sine};

    /// Runs `input` through in 20 ms frames, as a call would, dropping the first 100 ms
    /// of output (the filter settling).
    fn stream(from: u32, to: u32, input: &[i16]) -> Vec<i16> {
        let mut r = StreamResampler::new(from, to, 20).expect("resampler");
        let frame = from as usize / 50;
        let mut out = Vec::new();
        for chunk in input.chunks(frame) {
            r.process(chunk.iter().copied(), &mut out);
        }
        out.split_off(to as usize / 10)
    }

    #[test]
    fn a_tone_above_the_telephone_band_is_attenuated_by_at_least_60_db() {
        // 5 kHz at 24 kHz: above 8 kHz's Nyquist (4 kHz). Without a filter it would fold
        // to 3 kHz.
        let loud = sine(5_000.0, 24_000, 0.9, 24_000);
        let out = stream(24_000, 8_000, &loud);
        let input_db = goertzel_dbfs(&loud, 24_000, 5_000.0);
        let alias_db = goertzel_dbfs(&out, 8_000, 3_000.0);
        assert!(
            input_db - alias_db >= 60.0,
            "alias at {alias_db:.1} dBFS from a {input_db:.1} dBFS tone"
        );
        // And 11 kHz, which would fold to 3 kHz as well, the last octave a 24 kHz voice has.
        let high = sine(11_000.0, 24_000, 0.9, 24_000);
        let out = stream(24_000, 8_000, &high);
        let alias_db = goertzel_dbfs(&out, 8_000, 3_000.0);
        assert!(input_db - alias_db >= 60.0, "alias at {alias_db:.1} dBFS");
    }

    #[test]
    fn an_in_band_tone_keeps_its_frequency_and_level_going_down() {
        let tone = sine(1_000.0, 24_000, 0.5, 24_000);
        let out = stream(24_000, 8_000, &tone);
        assert!(
            out.len() >= 7_000,
            "about a second of output: {}",
            out.len()
        );
        let at_1k = goertzel_dbfs(&out, 8_000, 1_000.0);
        let input_db = goertzel_dbfs(&tone, 24_000, 1_000.0);
        assert!((at_1k - input_db).abs() < 1.0, "{at_1k} vs {input_db}");
        for other in [500.0, 1_500.0, 2_000.0, 3_000.0] {
            let db = goertzel_dbfs(&out, 8_000, other);
            assert!(at_1k - db > 50.0, "{other} Hz at {db} dBFS");
        }
    }

    #[test]
    fn going_up_keeps_the_tone_and_leaves_no_image() {
        // 1 kHz at 8 kHz, up to 16 kHz: the image a zero-stuffer leaves is at 7 kHz.
        let tone = sine(1_000.0, 8_000, 0.9, 8_000);
        let out = stream(8_000, 16_000, &tone);
        let at_1k = goertzel_dbfs(&out, 16_000, 1_000.0);
        let image = goertzel_dbfs(&out, 16_000, 7_000.0);
        assert!(
            (at_1k - goertzel_dbfs(&tone, 8_000, 1_000.0)).abs() < 1.0,
            "{at_1k}"
        );
        assert!(at_1k - image >= 60.0, "image at {image} dBFS");
    }

    #[test]
    fn a_tone_just_above_the_band_does_not_fold_into_it_and_the_band_stays_flat() {
        // 4.6 kHz folds to 3.4 kHz, the top of the telephone band: the hardest case.
        let edge = sine(4_600.0, 24_000, 0.9, 24_000);
        let out = stream(24_000, 8_000, &edge);
        let alias_db = goertzel_dbfs(&out, 8_000, 3_400.0);
        assert!(
            goertzel_dbfs(&edge, 24_000, 4_600.0) - alias_db >= 60.0,
            "alias at {alias_db:.1} dBFS"
        );
        for (from, to) in [(24_000, 8_000), (8_000, 16_000)] {
            for hz in [300.0, 3_000.0, 3_400.0] {
                let tone = sine(hz, from, 0.5, from as usize);
                let out = stream(from, to, &tone);
                let loss = goertzel_dbfs(&tone, from, hz) - goertzel_dbfs(&out, to, hz);
                assert!(loss < 0.5, "{hz} Hz {from} → {to}: {loss:.2} dB lower");
            }
        }
    }

    #[test]
    fn a_sound_comes_out_with_the_frame_it_came_in_unless_in_its_last_milliseconds() {
        for (from, to) in [(8_000u32, 16_000u32), (24_000, 8_000)] {
            let mut r = StreamResampler::new(from, to, 20).expect("resampler");
            let frame = from as usize / 50;
            let mut out = Vec::new();
            for _ in 0..10 {
                r.process(std::iter::repeat_n(0, frame), &mut out);
            }
            // A click 15 ms into a 20 ms frame.
            let mut click = vec![0i16; frame];
            click[frame * 3 / 4] = 20_000;
            out.clear();
            r.process(click, &mut out);
            let peak = out.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            assert!(
                peak > 2_000,
                "{from} → {to}: the click waited for the next frame"
            );
            let delay_ms = r.delay() as f64 * 1000.0 / f64::from(to);
            assert!(delay_ms <= 3.0, "{from} → {to}: {delay_ms} ms");
        }
    }

    #[test]
    fn samples_round_to_the_nearest_and_clamp_at_the_ends() {
        for (s, want) in [
            (0.0, 0),
            (0.4 / 32_768.0, 0),
            (0.6 / 32_768.0, 1),
            (-0.6 / 32_768.0, -1),
            (1_000.5 / 32_768.0, 1_001),
            (-1_000.5 / 32_768.0, -1_001),
            (0.999_99, 32_767),
            (1.5, 32_767),
            (-1.0, -32_768),
            (-1.5, -32_768),
        ] {
            assert_eq!(to_i16(s), want, "{s}");
        }
    }

    #[test]
    fn frames_of_any_size_make_one_continuous_stream() {
        let tone = sine(440.0, 24_000, 0.5, 24_000);
        let mut whole = StreamResampler::new(24_000, 8_000, 20).expect("resampler");
        let mut a = Vec::new();
        whole.process(tone.iter().copied(), &mut a);
        let mut pieces = StreamResampler::new(24_000, 8_000, 20).expect("resampler");
        let mut b = Vec::new();
        for piece in tone.chunks(77) {
            pieces.process(piece.iter().copied(), &mut b);
        }
        assert_eq!(a, b, "state carries over between calls");
        assert_eq!(
            a.len(),
            8_000 - StreamResampler::new(24_000, 8_000, 20).map_or(0, |r| r.skip)
        );
    }
}
