//! G.711 µ-law (ITU-T G.711, the North American and Japanese companding law), as
//! Twilio sends and expects it on a Media Stream.
//!
//! A µ-law byte is the ones' complement of `sign | exponent (3 bits) | mantissa (4 bits)`.
//! Encoding adds a bias of 132 to the magnitude so that every segment starts at a power
//! of two, takes the highest set bit as the exponent and the next four bits as the
//! mantissa. Decoding returns the middle of the quantization interval, so the round trip
//! error is at most half a step: 4 near zero, 512 in the loudest segment (plus the clip
//! above 32635).

/// The code for a zero sample: what silence sounds like on the wire.
pub const SILENCE: u8 = 0xFF;

/// Added to the magnitude before encoding (0x84).
const BIAS: i32 = 0x84;
/// Largest magnitude that still fits after the bias is added.
const CLIP: i32 = 32_635;

/// Every µ-law byte's linear value, computed at compile time.
const DECODE_TABLE: [i16; 256] = build_decode_table();

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0_i16; 256];
    let mut i = 0;
    while i < 256 {
        let u = !(i as u8);
        let exponent = (u >> 4) & 0x07;
        let mantissa = (u & 0x0F) as i32;
        let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
        table[i] = if u & 0x80 != 0 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        i += 1;
    }
    table
}

/// One µ-law byte to a 16-bit linear sample.
#[inline]
pub fn decode(byte: u8) -> i16 {
    DECODE_TABLE[usize::from(byte)]
}

/// One 16-bit linear sample to a µ-law byte. Magnitudes above 32635 are clipped.
#[inline]
pub fn encode(sample: i16) -> u8 {
    let sign: u8 = if sample < 0 { 0x80 } else { 0x00 };
    // Between BIAS (132) and CLIP + BIAS (32767): the highest set bit is bit 7 to 14.
    let biased = i32::from(sample).unsigned_abs().min(CLIP as u32) + BIAS as u32;
    let exponent = (31 - biased.leading_zeros()).saturating_sub(7);
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    // exponent <= 7 and mantissa <= 15: the code fits in seven bits.
    let code = ((exponent << 4) | mantissa) as u8;
    !(sign | code)
}

/// A µ-law frame to linear samples.
pub fn decode_frame(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().copied().map(decode).collect()
}

/// Linear samples to a µ-law frame.
pub fn encode_frame(samples: &[i16]) -> Vec<u8> {
    samples.iter().copied().map(encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_reference_values() {
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0x00), -32_124);
        assert_eq!(decode(0x80), 32_124);
        // First steps of the quietest segment, positive and negative.
        assert_eq!(decode(0xFE), 8);
        assert_eq!(decode(0x7E), -8);
        // Start of the second segment.
        assert_eq!(decode(0xEF), 132);
    }

    #[test]
    fn encodes_the_reference_values() {
        assert_eq!(encode(0), SILENCE);
        assert_eq!(encode(32_124), 0x80);
        assert_eq!(encode(-32_124), 0x00);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(encode(8), 0xFE);
        assert_eq!(encode(-8), 0x7E);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for byte in 0..=255_u8 {
            let expected = if byte == 0x7F { SILENCE } else { byte };
            assert_eq!(encode(decode(byte)), expected, "code {byte:#04x}");
        }
    }

    #[test]
    fn round_trip_error_is_at_most_half_a_step() {
        for sample in i16::MIN..=i16::MAX {
            let back = i32::from(decode(encode(sample)));
            let value = i32::from(sample);
            let error = (back - value).abs();
            let magnitude = value.abs().min(CLIP);
            // Half a step of the segment `magnitude` falls in: (magnitude + 132) / 32
            // rounded up to that segment's power of two, which this bound covers.
            let bound = (magnitude + BIAS) / 32 + 1;
            let clipped = value.abs() - magnitude;
            assert!(
                error <= bound + clipped,
                "sample {sample} came back as {back} (error {error}, bound {bound})"
            );
        }
    }

    #[test]
    fn decoding_is_monotonic_within_each_sign() {
        // 0x80..=0xFF are positive, loudest first; 0x00..=0x7F negative, loudest first.
        for byte in 0x80..0xFF_u8 {
            assert!(decode(byte) > decode(byte + 1));
        }
        for byte in 0x00..0x7F_u8 {
            assert!(decode(byte) < decode(byte + 1));
        }
    }

    #[test]
    fn frames_map_byte_for_byte() {
        let samples = [0_i16, 1000, -1000, 32_000];
        let frame = encode_frame(&samples);
        assert_eq!(frame.len(), samples.len());
        assert_eq!(decode_frame(&frame).len(), samples.len());
    }
}
