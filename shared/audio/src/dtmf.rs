//! In-band DTMF: the dual tones a keypad plays, µ-law at 8 kHz, so an agent can press
//! keys on a phone menu through the media stream it already has (no `<Play digits>`,
//! which would end `<Connect><Stream>`).
//!
//! Frequencies and timing follow ITU-T Q.23/Q.24: each key is the sum of one low
//! (row) and one high (column) tone; receivers accept tones of 40 ms or more separated
//! by 40 ms or more, so the defaults (80 ms on, 80 ms off) leave margin on both sides
//! after a lossy mobile leg.

use thiserror::Error;

use crate::SAMPLES_PER_MS;
use crate::mulaw::encode;

/// Row (low group) frequencies, Hz.
pub const LOW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
pub const HIGH_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad, row by row; column order matches [`HIGH_HZ`].
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// A pause written as `w` in a digit string, as Twilio's `sendDigits` spells it.
pub const PAUSE_MS: u32 = 500;

/// Longest digit string accepted: a menu path, an extension and a PIN fit with room;
/// anything longer is a model gone astray, not a caller's need.
pub const MAX_KEYS: usize = 64;

/// How long each tone and each gap between tones lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTiming {
    pub tone_ms: u32,
    pub gap_ms: u32,
}

impl Default for DtmfTiming {
    fn default() -> Self {
        Self {
            tone_ms: 80,
            gap_ms: 80,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DtmfError {
    #[error("no keys to press")]
    Empty,
    #[error("{0:?} is not a key (0-9, *, #, A-D, or w for a pause)")]
    NotAKey(char),
    #[error("more than {MAX_KEYS} keys")]
    TooLong,
    #[error("tones must last 40 to 1000 ms and gaps 40 to 1000 ms")]
    Timing,
}

/// The (low, high) frequencies of `key`, or `None` when it is not a DTMF key.
pub fn frequencies(key: char) -> Option<(f64, f64)> {
    let key = key.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(row, keys)| {
        keys.iter()
            .position(|k| *k == key)
            .map(|col| (LOW_HZ[row], HIGH_HZ[col]))
    })
}

/// The keys in `digits` played one after another, µ-law at 8 kHz: each tone followed by
/// a gap of silence, `w` a half-second pause. Checked whole before any audio is made,
/// so a bad key never plays half a sequence.
pub fn dtmf_mulaw(digits: &str, timing: DtmfTiming) -> Result<Vec<u8>, DtmfError> {
    if !(40..=1000).contains(&timing.tone_ms) || !(40..=1000).contains(&timing.gap_ms) {
        return Err(DtmfError::Timing);
    }
    let keys: Vec<char> = digits.chars().filter(|c| !c.is_whitespace()).collect();
    if keys.is_empty() {
        return Err(DtmfError::Empty);
    }
    if keys.len() > MAX_KEYS {
        return Err(DtmfError::TooLong);
    }
    if let Some(bad) = keys
        .iter()
        .find(|k| !matches!(k, 'w' | 'W') && frequencies(**k).is_none())
    {
        return Err(DtmfError::NotAKey(*bad));
    }
    let ms = |ms: u32| ms as usize * SAMPLES_PER_MS;
    let mut out = Vec::with_capacity(keys.len() * ms(timing.tone_ms + timing.gap_ms));
    for key in keys {
        match frequencies(key) {
            Some((low, high)) => {
                push_pair(&mut out, low, high, ms(timing.tone_ms));
                out.resize(out.len() + ms(timing.gap_ms), crate::SILENCE);
            }
            None => out.resize(out.len() + ms(PAUSE_MS), crate::SILENCE),
        }
    }
    Ok(out)
}

/// Two sines summed. Each at about -9 dBFS (the pair peaks near -3 dBFS, clear of
/// clipping), the high group 2 dB above the low one as telephone sets send it, so the
/// line's high-frequency roll-off evens the twist instead of widening it.
fn push_pair(out: &mut Vec<u8>, low: f64, high: f64, samples: usize) {
    let low_peak = 0.316 * f64::from(i16::MAX) * 10f64.powf(-2.0 / 20.0);
    let high_peak = 0.354 * f64::from(i16::MAX);
    let rate = f64::from(crate::SAMPLE_RATE);
    let (wl, wh) = (
        std::f64::consts::TAU * low / rate,
        std::f64::consts::TAU * high / rate,
    );
    out.extend((0..samples).map(|n| {
        let t = n as f64;
        let value = low_peak * (wl * t).sin() + high_peak * (wh * t).sin();
        encode(value.round() as i16)
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_key_before_making_audio() {
        let timing = DtmfTiming::default();
        assert_eq!(dtmf_mulaw("12x", timing), Err(DtmfError::NotAKey('x')));
        assert_eq!(dtmf_mulaw("  ", timing), Err(DtmfError::Empty));
        assert_eq!(
            dtmf_mulaw(&"1".repeat(MAX_KEYS + 1), timing),
            Err(DtmfError::TooLong)
        );
        let short = DtmfTiming {
            tone_ms: 10,
            gap_ms: 80,
        };
        assert_eq!(dtmf_mulaw("1", short), Err(DtmfError::Timing));
    }

    #[test]
    fn lengths_follow_the_timing_and_pauses() {
        let timing = DtmfTiming {
            tone_ms: 100,
            gap_ms: 50,
        };
        let audio = dtmf_mulaw("1w#", timing).expect("valid");
        assert_eq!(audio.len(), (150 + 500 + 150) * SAMPLES_PER_MS);
        assert_eq!(frequencies('d'), Some((941.0, 1633.0)));
        assert_eq!(frequencies('5'), Some((770.0, 1336.0)));
    }
}
