//! Telephone audio as Twilio carries it: G.711 µ-law at 8 kHz mono. Encoding and
//! decoding, keypad (DTMF) tones, test tones, frame energy for a simple voice-activity
//! check, linear resampling, and WAV files in and out. Pure functions; no I/O except in [`wav`].

pub mod dtmf;
pub mod mulaw;
pub mod resample;
pub mod signal;
pub mod wav;

pub use mulaw::{SILENCE, decode, decode_frame, encode, encode_frame};
pub use resample::{ResampleError, StreamResampler};
pub use signal::{
    DBFS_FLOOR, frame_dbfs, goertzel_dbfs, pcm_dbfs, resample_linear, sine, tone_mulaw,
};
pub use wav::{WavError, mulaw_wav_bytes, read_wav, read_wav_bytes, wav_bytes, write_wav};

/// Twilio Media Streams and the G.711 telephone network: 8000 samples per second.
pub const SAMPLE_RATE: u32 = 8_000;

/// Samples (µ-law bytes) per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: usize = 8;
