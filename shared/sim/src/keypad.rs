//! A keypad's ear: DTMF keys found in µ-law audio by a decoder written from the
//! standard, not from hotline's generator: Goertzel filters at the eight frequencies
//! over 20 ms blocks, a key reported when one row and one column tone stand clear of
//! the rest for two blocks. The simulated far end of a call uses it to hear the keys
//! an agent presses; the generator's own tests check against it.

use hotline_audio::decode;

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
const BLOCK: usize = 160;

fn goertzel_power(samples: &[f64], freq: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The strongest of `freqs` and whether it stands 6 dB clear of the others.
fn strongest(samples: &[f64], freqs: &[f64; 4]) -> (usize, f64, bool) {
    let powers: Vec<f64> = freqs.iter().map(|f| goertzel_power(samples, *f)).collect();
    let (best, power) = powers
        .iter()
        .copied()
        .enumerate()
        .fold((0, 0.0), |acc, (i, p)| if p > acc.1 { (i, p) } else { acc });
    let clear = powers
        .iter()
        .enumerate()
        .all(|(i, p)| i == best || *p * 4.0 < power);
    (best, power, clear)
}

/// The keys pressed in `mulaw` (8 kHz), in order; a key held across blocks counts once.
pub fn decode_keys(mulaw: &[u8]) -> String {
    let samples: Vec<f64> = mulaw.iter().map(|b| f64::from(decode(*b))).collect();
    let mut keys = String::new();
    let mut previous: Option<char> = None;
    let mut held = 0;
    let mut reported = false;
    for block in samples.chunks_exact(BLOCK) {
        let energy: f64 = block.iter().map(|x| x * x).sum();
        let (row, row_power, row_clear) = strongest(block, &ROWS);
        let (col, col_power, col_clear) = strongest(block, &COLS);
        // Both tones must carry most of the block's energy (Goertzel power of a sine of
        // amplitude a over N samples is about (a N / 2)^2; energy is a^2 N / 2).
        let tonal = (row_power + col_power) * 2.0 / BLOCK as f64 > 0.5 * energy;
        let key = (energy > 1e6 && row_clear && col_clear && tonal).then(|| KEYS[row][col]);
        if key.is_some() && key == previous {
            held += 1;
        } else {
            held = 1;
            reported = false;
        }
        if let Some(key) = key
            && held >= 2
            && !reported
        {
            keys.push(key);
            reported = true;
        }
        previous = key;
    }
    keys
}
