//! CPU per call-second of the work a call's audio costs the node before any socket:
//! Gemini's two resamplers with their base64 and JSON (`AudioBridge`), and the
//! pipeline's local VAD (`LocalVad`), each for a caller who talks all the time, one who
//! is silent (digital silence, as from a phone that suppresses it) and one on a line
//! with a faint hum. Many calls' state is interleaved, frame by frame, as the node
//! interleaves them, so each call's state is as cold in the cache as it is there.
//! The load bench (`load.rs`) measures all of a call; this says which part is the
//! audio itself.
//!
//! ```text
//! cargo bench -p hotline-stream-node --bench audio_path            # 250 calls, 10 s
//! cargo bench -p hotline-stream-node --bench audio_path -- 500 20  # calls, seconds
//! ```

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hotline_audio::{encode, sine};
use hotline_stream_node::gemini::AudioBridge;
use hotline_stream_node::pipeline::vad::LocalVad;

/// 20 ms of µ-law at 8 kHz.
const FRAME: usize = 160;

/// A voice-like sound: a 150 Hz fundamental with falling harmonics, as µ-law.
fn voice(secs: usize) -> Vec<u8> {
    let n = 8_000 * secs;
    let parts: Vec<Vec<i16>> = [(150.0, 0.06), (300.0, 0.03), (450.0, 0.02), (900.0, 0.01)]
        .iter()
        .map(|&(hz, amp)| sine(hz, 8_000, amp, n))
        .collect();
    (0..n)
        .map(|i| encode(parts.iter().map(|p| p[i]).sum()))
        .collect()
}

fn per_call_second(start: Instant, calls: usize, secs: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / (calls * secs) as f64
}

fn vad(name: &str, audio: &[u8], calls: usize, secs: usize) {
    let mut vads: Vec<LocalVad> = (0..calls).map(|_| LocalVad::new().expect("vad")).collect();
    let start = Instant::now();
    let mut changes = 0usize;
    for frame in audio.chunks(FRAME) {
        for v in &mut vads {
            changes += usize::from(v.push(frame).is_some());
        }
    }
    let judged: u64 = vads.iter().map(LocalVad::predicted).sum();
    println!(
        "pipeline VAD, caller {name:<10} {:>7.1} µs per call-second ({:.0} % of frames to earshot; {changes} changes)",
        per_call_second(start, calls, secs),
        judged as f64 * 100.0 / (calls * secs) as f64 / 62.5,
    );
}

fn gemini(calls: usize, secs: usize) {
    let caller: Vec<String> = voice(secs)
        .chunks(FRAME)
        .map(|f| BASE64.encode(f))
        .collect();
    // The model's 24 kHz PCM16 in 20 ms pieces, as base64.
    let model: Vec<String> = sine(440.0, 24_000, 0.3, 24_000 * secs)
        .chunks(480)
        .map(|c| BASE64.encode(c.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()))
        .collect();
    let mut bridges: Vec<AudioBridge> = (0..calls)
        .map(|_| AudioBridge::new().expect("bridge"))
        .collect();
    let start = Instant::now();
    let mut out = 0usize;
    for (up, down) in caller.iter().zip(&model) {
        for b in &mut bridges {
            out += b.caller_to_gemini(up).map_or(0, |s| s.len());
            out += b.gemini_to_caller(down, 24_000).map_or(0, |s| s.len());
        }
    }
    println!(
        "Gemini audio bridge, both ways    {:>7.1} µs per call-second ({} MiB out)",
        per_call_second(start, calls, secs),
        out >> 20
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(250);
    let secs = args.get(1).copied().unwrap_or(10);
    println!("{calls} calls' state interleaved, {secs} s of audio each, one thread");
    gemini(calls, secs);
    vad("talking", &voice(secs), calls, secs);
    vad("silent", &vec![0xFF; 8_000 * secs], calls, secs);
    vad(
        "on a hum",
        &hotline_audio::tone_mulaw(50.0, 0.0005, secs as u32 * 1000),
        calls,
        secs,
    );
}
