//! OpenAI text-to-speech (`POST {OPENAI_BASE_URL}/audio/speech`, the `openai` SDK's
//! `SpeechCreateParams`): one request per sentence, as for ElevenLabs, answered with
//! raw PCM (16-bit little-endian, mono, 24 kHz: `response_format: "pcm"`, the format
//! without a container, so it streams chunk by chunk). The node brings it down to
//! µ-law 8 kHz with the same stateful anti-aliased resampler the Gemini bridge uses.

use serde_json::{Value, json};

use hotline_audio::StreamResampler;

/// The rate of `response_format: "pcm"`.
pub const PCM_RATE: u32 = 24_000;

/// The request's URL: `OPENAI_BASE_URL` ends in `/v1`, as for chat completions.
pub fn speech_url(base_url: &str) -> String {
    format!("{}/audio/speech", base_url.trim_end_matches('/'))
}

/// The body: the sentence, the model and the voice, raw PCM back.
pub fn body(text: &str, model: &str, voice: &str) -> Value {
    json!({"model": model, "input": text, "voice": voice, "response_format": "pcm"})
}

/// PCM16 at 24 kHz in, in chunks of any length (a sample may be split between two),
/// µ-law 8 kHz out.
pub struct PcmToMulaw {
    down: StreamResampler,
    /// The first byte of a sample split between chunks.
    odd: Option<u8>,
    pcm: Vec<i16>,
    out: Vec<i16>,
}

impl std::fmt::Debug for PcmToMulaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmToMulaw").finish_non_exhaustive()
    }
}

impl PcmToMulaw {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            down: StreamResampler::new(PCM_RATE, hotline_audio::SAMPLE_RATE, 20)
                .map_err(|e| e.to_string())?,
            odd: None,
            pcm: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Converts a chunk, appending the µ-law that is ready to `mulaw`.
    pub fn push(&mut self, bytes: &[u8], mulaw: &mut Vec<u8>) {
        self.pcm.clear();
        let mut bytes = bytes;
        if let Some(first) = self.odd.take()
            && let Some((&second, rest)) = bytes.split_first()
        {
            self.pcm.push(i16::from_le_bytes([first, second]));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        self.pcm
            .extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.odd = pairs.remainder().first().copied();
        self.out.clear();
        self.down.process(self.pcm.iter().copied(), &mut self.out);
        mulaw.extend(self.out.iter().map(|&s| hotline_audio::encode(s)));
    }

    /// The sentence is over: what the filter held back, so its end is heard now.
    pub fn finish(&mut self, mulaw: &mut Vec<u8>) {
        self.odd = None;
        self.out.clear();
        self.down.flush(&mut self.out);
        mulaw.extend(self.out.iter().map(|&s| hotline_audio::encode(s)));
    }

    /// The sentence was cut (barge-in): what is held back is never played.
    pub fn discard(&mut self) {
        self.odd = None;
        self.down.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_audio::{goertzel_dbfs, sine};

    #[test]
    fn the_request_is_the_sdks_speech_create_params_asking_for_pcm() {
        assert_eq!(
            speech_url("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/audio/speech"
        );
        assert_eq!(
            body("Hello.", "gpt-4o-mini-tts", "coral"),
            json!({"model": "gpt-4o-mini-tts", "input": "Hello.", "voice": "coral",
                "response_format": "pcm"})
        );
    }

    /// A second of `tone` through the converter in pieces of odd length; the µ-law
    /// decoded, the filter's first 100 ms left out.
    fn convert(tone: &[i16]) -> Vec<i16> {
        let bytes: Vec<u8> = tone.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut convert = PcmToMulaw::new().expect("converter");
        let mut mulaw = Vec::new();
        for piece in bytes.chunks(777) {
            convert.push(piece, &mut mulaw);
        }
        convert.finish(&mut mulaw);
        assert!(
            (7_900..=8_400).contains(&mulaw.len()),
            "a second at 8 kHz: {}",
            mulaw.len()
        );
        mulaw[800..]
            .iter()
            .map(|&b| hotline_audio::decode(b))
            .collect()
    }

    #[test]
    fn pcm_at_24_khz_in_odd_chunks_becomes_the_same_tone_at_8_khz_without_alias() {
        let clean = sine(1_000.0, PCM_RATE, 0.4, 24_000);
        // And 5 kHz, above 8 kHz's Nyquist: unfiltered it would fold to 3 kHz at the
        // tone's own level.
        let with_high: Vec<i16> = clean
            .iter()
            .zip(sine(5_000.0, PCM_RATE, 0.4, 24_000))
            .map(|(a, b)| a.saturating_add(b))
            .collect();
        let clean = convert(&clean);
        let mixed = convert(&with_high);
        let at_1k = goertzel_dbfs(&mixed, 8_000, 1_000.0);
        assert!(at_1k > -15.0, "the tone at {at_1k:.1} dBFS");
        // µ-law's own noise sets the floor at 3 kHz; the 5 kHz tone adds nothing to it.
        let floor = goertzel_dbfs(&clean, 8_000, 3_000.0);
        let alias = goertzel_dbfs(&mixed, 8_000, 3_000.0);
        assert!(
            alias - floor < 3.0,
            "3 kHz at {alias:.1} dBFS with the 5 kHz tone, {floor:.1} without"
        );
        assert!(
            at_1k - alias >= 35.0,
            "alias at {alias:.1} dBFS vs {at_1k:.1}"
        );
    }
}
