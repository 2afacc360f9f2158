//! Recording media for the simulated Twilio: the fakes don't mix or encode call audio,
//! but what they serve as `.mp3` is a real MP3 stream a player or a transcriber accepts.

use std::time::Duration;

/// MPEG-1 Layer III, 32 kbit/s, 32 kHz, mono, no CRC: a frame is 144 bytes and 36 ms.
const FRAME_HEADER: [u8; 4] = [0xFF, 0xFB, 0x18, 0xC0];
const FRAME_BYTES: usize = 144;
const FRAME_MS: u64 = 36;

/// `duration` of silence as MP3: frames whose side information is all zero, which
/// decoders play as silence.
pub fn silent_mp3(duration: Duration) -> Vec<u8> {
    let frames = (duration.as_millis() as u64).div_ceil(FRAME_MS).max(1) as usize;
    let mut out = Vec::with_capacity(frames * FRAME_BYTES);
    for _ in 0..frames {
        out.extend_from_slice(&FRAME_HEADER);
        out.resize(out.len() + FRAME_BYTES - FRAME_HEADER.len(), 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_mpeg_header_rules() {
        let mp3 = silent_mp3(Duration::from_secs(1));
        assert_eq!(mp3.len(), 28 * FRAME_BYTES);
        // Sync word, MPEG-1, Layer III, no CRC.
        assert_eq!(mp3[0], 0xFF);
        assert_eq!(mp3[1] & 0xFE, 0xFA);
        // Bitrate index 1 (32 kbit/s) and sampling index 2 (32 kHz): 144 * 32000 / 32000.
        assert_eq!(mp3[2] >> 4, 1);
        assert_eq!((mp3[2] >> 2) & 0b11, 2);
        // Channel mode 3: single channel.
        assert_eq!(mp3[3] >> 6, 3);
        assert!(mp3.chunks(FRAME_BYTES).all(|f| f[..4] == FRAME_HEADER));
    }
}
