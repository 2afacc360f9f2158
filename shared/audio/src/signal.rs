//! Signals for tests and simple decisions: test tones, the energy of a frame, and
//! linear resampling.

use crate::SAMPLES_PER_MS;
use crate::mulaw::{decode, encode};

/// What [`frame_dbfs`] reports for digital silence or an empty frame, instead of minus
/// infinity: far below any line noise, and still an ordinary number to compare and log.
pub const DBFS_FLOOR: f32 = -100.0;

/// A sine tone of `freq_hz` at 8 kHz, µ-law encoded, `duration_ms` long (8 bytes per
/// millisecond). `amplitude` is a fraction of full scale, clamped to 0..=1; a full-scale
/// tone measures about -3 dBFS with [`frame_dbfs`].
pub fn tone_mulaw(freq_hz: f32, amplitude: f32, duration_ms: u32) -> Vec<u8> {
    let amplitude = if amplitude.is_nan() {
        0.0
    } else {
        f64::from(amplitude.clamp(0.0, 1.0))
    };
    let peak = amplitude * f64::from(i16::MAX);
    let step = std::f64::consts::TAU * f64::from(freq_hz) / f64::from(crate::SAMPLE_RATE);
    let samples = usize::try_from(duration_ms).map_or(0, |ms| ms * SAMPLES_PER_MS);
    (0..samples)
        .map(|n| {
            // n < 2^32 * 8: exact in an f64.
            let value = (peak * (step * n as f64).sin()).round();
            encode(value as i16)
        })
        .collect()
}

/// The RMS level of a µ-law frame in dB relative to full scale (a full-scale square wave
/// is 0 dBFS, a full-scale sine about -3). Silence and empty frames give [`DBFS_FLOOR`].
/// Enough for an energy voice-activity check: speech on a phone line sits roughly
/// between -40 and -10 dBFS, line noise below -50.
pub fn frame_dbfs(frame: &[u8]) -> f32 {
    dbfs(frame.iter().map(|&b| decode(b)))
}

/// [`frame_dbfs`] of PCM16 samples.
pub fn pcm_dbfs(samples: &[i16]) -> f32 {
    dbfs(samples.iter().copied())
}

fn dbfs(samples: impl ExactSizeIterator<Item = i16>) -> f32 {
    let n = samples.len();
    if n == 0 {
        return DBFS_FLOOR;
    }
    let sum_squares: f64 = samples
        .map(|s| {
            let s = f64::from(s);
            s * s
        })
        .sum();
    let rms = (sum_squares / n as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return DBFS_FLOOR;
    }
    let db = 20.0 * rms.log10();
    (db as f32).max(DBFS_FLOOR)
}

/// Resamples by linear interpolation between neighbouring samples. The output holds
/// `len * to_hz / from_hz` samples, rounded. There is no anti-aliasing filter: good for
/// speech and test fixtures going down to 8 kHz, not for music. A zero rate gives an
/// empty output.
pub fn resample_linear(samples: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == 0 || to_hz == 0 || samples.is_empty() {
        return Vec::new();
    }
    if from_hz == to_hz {
        return samples.to_vec();
    }
    let (from, to) = (u64::from(from_hz), u64::from(to_hz));
    let len = samples.len() as u64;
    let out_len = ((len * to + from / 2) / from).max(1);
    let last = samples.len() - 1;
    (0..out_len)
        .map(|i| {
            // Position in the input, as a whole index and a fraction, kept exact in
            // integers until the final blend.
            let num = i * from;
            let index = usize::try_from(num / to).map_or(last, |ix| ix.min(last));
            let frac = (num % to) as f64 / to as f64;
            let a = f64::from(samples[index]);
            let b = f64::from(samples[(index + 1).min(last)]);
            (a + (b - a) * frac).round() as i16
        })
        .collect()
}

/// `samples` of a sine of `freq_hz` at `rate_hz`, `amplitude` a fraction of full scale
/// (clamped to 0..=1).
pub fn sine(freq_hz: f64, rate_hz: u32, amplitude: f64, samples: usize) -> Vec<i16> {
    let peak = amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX);
    let step = std::f64::consts::TAU * freq_hz / f64::from(rate_hz);
    (0..samples)
        .map(|n| (peak * (step * n as f64).sin()).round() as i16)
        .collect()
}

/// The level of one frequency in `samples` (at `rate_hz`), in dB relative to full scale
/// on [`frame_dbfs`]'s scale (a full-scale sine at that frequency is about -3 dBFS):
/// the Goertzel algorithm over a Hann window, so a strong tone elsewhere does not leak
/// into the measurement. What tests of resampling and of the audio path measure with.
pub fn goertzel_dbfs(samples: &[i16], rate_hz: u32, freq_hz: f64) -> f32 {
    let n = samples.len();
    if n < 2 || rate_hz == 0 {
        return DBFS_FLOOR;
    }
    let w = std::f64::consts::TAU * freq_hz / f64::from(rate_hz);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    let last = (n - 1) as f64;
    for (i, &x) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / last).cos();
        let s0 = f64::from(x) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    // The window's coherent gain is 1/2: the tone's peak is 4|X|/N, its RMS that / √2.
    let peak = 4.0 * power.sqrt() / n as f64;
    let rms = peak / std::f64::consts::SQRT_2 / 32_768.0;
    if rms <= 0.0 {
        return DBFS_FLOOR;
    }
    ((20.0 * rms.log10()) as f32).max(DBFS_FLOOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SILENCE;

    #[test]
    fn a_tone_is_much_louder_than_silence() {
        let tone = tone_mulaw(440.0, 0.5, 20);
        assert_eq!(tone.len(), 160);
        let silence = vec![SILENCE; 160];
        let tone_db = frame_dbfs(&tone);
        assert!(
            (tone_db - -9.03).abs() < 0.5,
            "half-scale sine at {tone_db} dBFS"
        );
        assert_eq!(frame_dbfs(&silence), DBFS_FLOOR);
        assert!(tone_db - frame_dbfs(&silence) > 60.0);
    }

    #[test]
    fn a_full_scale_tone_is_about_minus_three_dbfs() {
        let db = frame_dbfs(&tone_mulaw(1000.0, 1.0, 100));
        assert!((db - -3.0).abs() < 0.5, "full-scale sine at {db} dBFS");
        let pcm = sine(1000.0, 8_000, 1.0, 800);
        assert!((pcm_dbfs(&pcm) - -3.0).abs() < 0.1, "{}", pcm_dbfs(&pcm));
        // One scale for µ-law frames and PCM: a thousandth of full scale is -60 dBFS.
        assert!(
            (pcm_dbfs(&[33, -33]) - -59.9).abs() < 0.1,
            "{}",
            pcm_dbfs(&[33, -33])
        );
    }

    #[test]
    fn amplitude_is_clamped_and_zero_is_silence() {
        assert!(tone_mulaw(440.0, 0.0, 10).iter().all(|&b| b == SILENCE));
        assert!(
            tone_mulaw(440.0, f32::NAN, 10)
                .iter()
                .all(|&b| b == SILENCE)
        );
        assert_eq!(tone_mulaw(440.0, 7.0, 10), tone_mulaw(440.0, 1.0, 10));
    }

    #[test]
    fn an_empty_frame_is_at_the_floor() {
        assert_eq!(frame_dbfs(&[]), DBFS_FLOOR);
        assert_eq!(pcm_dbfs(&[]), DBFS_FLOOR);
    }

    #[test]
    fn quieter_tones_measure_lower() {
        let loud = frame_dbfs(&tone_mulaw(440.0, 0.5, 20));
        let quiet = frame_dbfs(&tone_mulaw(440.0, 0.05, 20));
        assert!((loud - quiet - 20.0).abs() < 1.0, "{loud} vs {quiet}");
    }

    #[test]
    fn goertzel_measures_a_tone_where_it_is_and_nothing_elsewhere() {
        let tone = sine(1_000.0, 8_000, 1.0, 8_000);
        let at = goertzel_dbfs(&tone, 8_000, 1_000.0);
        assert!((at - -3.0).abs() < 0.2, "{at}");
        assert!(goertzel_dbfs(&tone, 8_000, 2_500.0) < -90.0);
        let half = sine(1_000.0, 8_000, 0.5, 8_000);
        assert!((at - goertzel_dbfs(&half, 8_000, 1_000.0) - 6.0).abs() < 0.2);
    }

    #[test]
    fn resampling_halves_and_interpolates() {
        let input: Vec<i16> = (0..16_000).map(|n| (n % 100) as i16).collect();
        let out = resample_linear(&input, 16_000, 8_000);
        assert_eq!(out.len(), 8_000);
        assert_eq!(&out[..3], &[0, 2, 4]);

        let up = resample_linear(&[0, 100], 8_000, 16_000);
        assert_eq!(up, vec![0, 50, 100, 100]);
    }

    #[test]
    fn resampling_odd_rates_rounds_the_length() {
        let input = vec![0_i16; 44_100];
        assert_eq!(resample_linear(&input, 44_100, 8_000).len(), 8_000);
        assert_eq!(resample_linear(&input[..441], 44_100, 8_000).len(), 80);
        assert_eq!(resample_linear(&[1, 2, 3], 8_000, 8_000), vec![1, 2, 3]);
        assert!(resample_linear(&[1, 2, 3], 0, 8_000).is_empty());
    }
}
