//! WAV files in and out, always as 8 kHz µ-law on our side.
//!
//! Reading takes either 8 kHz-style µ-law (format tag 7, what telephone tools and Twilio
//! produce) or 16-bit PCM at any rate, which is downmixed to mono, resampled to 8 kHz and
//! encoded. hound reads the PCM; it has no µ-law support, so tag 7 files are parsed here
//! (a RIFF chunk walk: `fmt `, then `data`). Writing produces 16-bit PCM, 8 kHz mono
//! through hound ([`write_wav`], [`wav_bytes`]), or a native µ-law file
//! ([`mulaw_wav_bytes`]) that keeps the bytes exactly.

use std::io::Cursor;
use std::path::Path;

use crate::SAMPLE_RATE;
use crate::mulaw::{decode, decode_frame, encode_frame};
use crate::signal::resample_linear;

/// Why a WAV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("WAV file I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed WAV: {0}")]
    Malformed(&'static str),
    #[error("unsupported WAV: {0}")]
    Unsupported(String),
    #[error("WAV: {0}")]
    Hound(#[from] hound::Error),
}

const TAG_PCM: u16 = 0x0001;
const TAG_MULAW: u16 = 0x0007;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Reads a WAV file into 8 kHz µ-law bytes. See the module docs for what is accepted.
pub fn read_wav(path: impl AsRef<Path>) -> Result<Vec<u8>, WavError> {
    let bytes = std::fs::read(path)?;
    read_wav_bytes(&bytes)
}

/// Reads an in-memory WAV file into 8 kHz µ-law bytes.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Vec<u8>, WavError> {
    let chunks = Chunks::parse(bytes)?;
    let fmt = chunks.fmt()?;
    match fmt.tag {
        TAG_MULAW => read_mulaw(&fmt, chunks.data()?),
        TAG_PCM => read_pcm16(bytes),
        other => Err(WavError::Unsupported(format!(
            "format tag {other:#06x}: expected 7 (µ-law) or 1 (PCM)"
        ))),
    }
}

/// Writes µ-law bytes as a 16-bit PCM, 8 kHz mono WAV file: plays anywhere.
pub fn write_wav(path: impl AsRef<Path>, mulaw: &[u8]) -> Result<(), WavError> {
    let mut writer = hound::WavWriter::create(path, pcm16_spec())?;
    for &byte in mulaw {
        writer.write_sample(decode(byte))?;
    }
    writer.finalize()?;
    Ok(())
}

/// The same file as [`write_wav`], in memory.
pub fn wav_bytes(mulaw: &[u8]) -> Result<Vec<u8>, WavError> {
    let mut out = Vec::with_capacity(44 + mulaw.len() * 2);
    {
        let mut writer = hound::WavWriter::new(Cursor::new(&mut out), pcm16_spec())?;
        for &byte in mulaw {
            writer.write_sample(decode(byte))?;
        }
        writer.finalize()?;
    }
    Ok(out)
}

/// A µ-law WAV file (format tag 7, 8 kHz mono, with the `fact` chunk non-PCM formats
/// carry) holding exactly these bytes.
pub fn mulaw_wav_bytes(mulaw: &[u8]) -> Vec<u8> {
    // Sizes in a RIFF header are 32-bit; longer input than that is not audio we make.
    let len = u32::try_from(mulaw.len()).unwrap_or(u32::MAX);
    let pad = len % 2;
    let riff_len = 4 + (8 + 18) + (8 + 4) + 8 + len + pad;
    let mut out = Vec::with_capacity(mulaw.len() + 58);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18_u32.to_le_bytes());
    out.extend_from_slice(&TAG_MULAW.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes()); // channels
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1_u16.to_le_bytes()); // block align
    out.extend_from_slice(&8_u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0_u16.to_le_bytes()); // cbSize
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4_u32.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&mulaw[..len as usize]);
    if pad == 1 {
        out.push(0);
    }
    out
}

fn pcm16_spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// The fields of a `fmt ` chunk that decide how to read the data.
struct Fmt {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    bits_per_sample: u16,
}

/// The top-level chunks of a RIFF/WAVE file, by id, in file order.
struct Chunks<'a>(Vec<([u8; 4], &'a [u8])>);

impl<'a> Chunks<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, WavError> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::Malformed("not a RIFF/WAVE file"));
        }
        let mut chunks = Vec::new();
        let mut rest = &bytes[12..];
        while rest.len() >= 8 {
            let id = [rest[0], rest[1], rest[2], rest[3]];
            let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let body = &rest[8..];
            // Streaming writers leave the size at 0 or u32::MAX for a last `data` chunk;
            // a truncated file has less than it claims. Take what is there.
            let len = usize::try_from(len).map_or(body.len(), |l| l.min(body.len()));
            chunks.push((id, &body[..len]));
            let next = (len + len % 2).min(body.len());
            rest = &body[next..];
        }
        Ok(Self(chunks))
    }

    fn get(&self, id: &[u8; 4]) -> Option<&'a [u8]> {
        self.0.iter().find(|(i, _)| i == id).map(|(_, body)| *body)
    }

    fn fmt(&self) -> Result<Fmt, WavError> {
        let b = self
            .get(b"fmt ")
            .ok_or(WavError::Malformed("no fmt chunk"))?;
        if b.len() < 16 {
            return Err(WavError::Malformed("fmt chunk shorter than 16 bytes"));
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let mut tag = u16_at(0);
        // WAVE_FORMAT_EXTENSIBLE: the real tag opens the SubFormat GUID at offset 24.
        if tag == TAG_EXTENSIBLE && b.len() >= 40 {
            tag = u16_at(24);
        }
        Ok(Fmt {
            tag,
            channels: u16_at(2),
            sample_rate: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            bits_per_sample: u16_at(14),
        })
    }

    fn data(&self) -> Result<&'a [u8], WavError> {
        self.get(b"data")
            .ok_or(WavError::Malformed("no data chunk"))
    }
}

fn read_mulaw(fmt: &Fmt, data: &[u8]) -> Result<Vec<u8>, WavError> {
    if fmt.channels != 1 || fmt.bits_per_sample != 8 {
        return Err(WavError::Unsupported(format!(
            "µ-law with {} channels of {} bits: expected mono, 8 bits",
            fmt.channels, fmt.bits_per_sample
        )));
    }
    if fmt.sample_rate == SAMPLE_RATE {
        return Ok(data.to_vec());
    }
    let linear = resample_linear(&decode_frame(data), fmt.sample_rate, SAMPLE_RATE);
    Ok(encode_frame(&linear))
}

fn read_pcm16(bytes: &[u8]) -> Result<Vec<u8>, WavError> {
    let reader = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(WavError::Unsupported(format!(
            "{}-bit {:?} PCM: expected 16-bit integer",
            spec.bits_per_sample, spec.sample_format
        )));
    }
    let channels = usize::from(spec.channels.max(1));
    let interleaved = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()?;
    let mono: Vec<i16> = if channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(channels)
            .map(|frame| {
                let sum: i32 = frame.iter().map(|&s| i32::from(s)).sum();
                // The mean of i16 values is an i16.
                (sum / channels as i32) as i16
            })
            .collect()
    };
    let resampled = resample_linear(&mono, spec.sample_rate, SAMPLE_RATE);
    Ok(encode_frame(&resampled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{frame_dbfs, tone_mulaw};

    fn pcm16_wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Vec::new();
        let mut writer =
            hound::WavWriter::new(Cursor::new(&mut out), spec).expect("start a wav in memory");
        for &s in samples {
            writer.write_sample(s).expect("write a sample");
        }
        writer.finalize().expect("finish the wav");
        out
    }

    fn without_negative_zero(mulaw: &[u8]) -> Vec<u8> {
        mulaw
            .iter()
            .map(|&b| if b == 0x7F { crate::SILENCE } else { b })
            .collect()
    }

    #[test]
    fn a_written_file_reads_back_byte_for_byte() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tone.wav");
        let tone = tone_mulaw(440.0, 0.5, 250);
        write_wav(&path, &tone).expect("write");
        let back = read_wav(&path).expect("read");
        // PCM16 holds every µ-law value exactly, so the codes come back unchanged
        // (but for 0x7F, the negative zero, which re-encodes as 0xFF).
        assert_eq!(back, without_negative_zero(&tone));
        let spec = hound::WavReader::open(&path).expect("open").spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8_000, 16)
        );
    }

    #[test]
    fn in_memory_wav_matches_the_file_and_reads_back() {
        let tone = tone_mulaw(1000.0, 0.25, 40);
        let bytes = wav_bytes(&tone).expect("encode");
        assert_eq!(
            read_wav_bytes(&bytes).expect("decode"),
            without_negative_zero(&tone)
        );
    }

    #[test]
    fn a_mulaw_wav_keeps_its_bytes() {
        let tone = tone_mulaw(440.0, 0.5, 125); // 1000 bytes
        let odd = &tone[..999];
        for payload in [&tone[..], odd] {
            let file = mulaw_wav_bytes(payload);
            assert_eq!(&file[20..22], &[7, 0], "format tag 7");
            assert_eq!(read_wav_bytes(&file).expect("read"), payload);
        }
    }

    #[test]
    fn a_mulaw_wav_at_another_rate_is_resampled() {
        let mut file = mulaw_wav_bytes(&tone_mulaw(440.0, 0.5, 125));
        file[24..28].copy_from_slice(&16_000_u32.to_le_bytes());
        file[28..32].copy_from_slice(&16_000_u32.to_le_bytes());
        assert_eq!(read_wav_bytes(&file).expect("read").len(), 500);
    }

    #[test]
    fn a_16_khz_pcm_file_is_resampled_to_8_khz() {
        // One second of a 16 kHz, 440 Hz tone at half scale.
        let samples: Vec<i16> = (0..16_000)
            .map(|n| {
                let t = f64::from(n) / 16_000.0;
                (16_000.0 * (std::f64::consts::TAU * 440.0 * t).sin()) as i16
            })
            .collect();
        let mulaw = read_wav_bytes(&pcm16_wav(16_000, 1, &samples)).expect("read");
        assert_eq!(mulaw.len(), 8_000);
        let db = frame_dbfs(&mulaw);
        assert!((db - -9.2).abs() < 1.0, "tone level survives at {db} dBFS");
    }

    #[test]
    fn stereo_pcm_is_downmixed() {
        let samples: Vec<i16> = (0..8_000).flat_map(|_| [1000_i16, 3000]).collect();
        let mulaw = read_wav_bytes(&pcm16_wav(8_000, 2, &samples)).expect("read");
        assert_eq!(mulaw.len(), 8_000);
        let level = decode(mulaw[100]);
        assert!(
            (level - 2000).abs() < 64,
            "mean of the channels, got {level}"
        );
    }

    #[test]
    fn other_formats_are_refused_with_a_reason() {
        assert!(matches!(
            read_wav_bytes(b"not a wav file at all"),
            Err(WavError::Malformed(_))
        ));
        let mut float = mulaw_wav_bytes(&[0xFF; 8]);
        float[20] = 3; // IEEE float
        assert!(matches!(
            read_wav_bytes(&float),
            Err(WavError::Unsupported(_))
        ));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 8,
            sample_format: hound::SampleFormat::Int,
        };
        let mut eight_bit = Vec::new();
        let mut writer = hound::WavWriter::new(Cursor::new(&mut eight_bit), spec).expect("wav");
        writer.write_sample(0_i8).expect("sample");
        writer.finalize().expect("finish");
        assert!(matches!(
            read_wav_bytes(&eight_bit),
            Err(WavError::Unsupported(_))
        ));
    }
}
