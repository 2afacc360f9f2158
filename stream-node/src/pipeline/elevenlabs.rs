//! ElevenLabs text-to-speech over HTTP streaming
//! (`POST {base}/v1/text-to-speech/{voice}/stream?output_format=ulaw_8000`,
//! `protocols/elevenlabs.md` §4): one request per sentence, the way the notes
//! recommend when text arrives a sentence at a time; the µ-law 8 kHz answer goes to
//! Twilio as it is. Barge-in drops the response (closes the request).

use serde_json::{Value, json};

use super::deepgram::encode;

/// The request's URL for a voice.
pub fn stream_url(base_url: &str, voice: &str) -> String {
    format!(
        "{}/v1/text-to-speech/{}/stream?output_format=ulaw_8000",
        base_url.trim_end_matches('/'),
        encode(voice)
    )
}

/// The body: the sentence, the model, and the sentence before it for continuity of
/// prosody. No `voice_settings`: the voice's own apply (and nulls there are refused).
pub fn body(text: &str, model: &str, previous_text: Option<&str>) -> Value {
    let mut body = json!({"text": text, "model_id": model});
    if let Some(previous) = previous_text.filter(|p| !p.is_empty()) {
        body["previous_text"] = Value::String(previous.to_owned());
    }
    body
}

/// A WAV header some formats come with; `ulaw_8000` should have none, but if one comes
/// it must not reach the caller as a click.
pub const WAV_HEADER: usize = 44;

/// Cuts streamed text into sentences, so the first one is spoken while the model is
/// still writing the rest.
#[derive(Debug, Default)]
pub struct Sentences {
    text: String,
}

/// A cut needs at least this many characters: "Dr." or "1." alone is not a sentence.
const MIN_SENTENCE: usize = 8;

impl Sentences {
    /// Adds text; returns the sentences it completed.
    pub fn push(&mut self, delta: &str, out: &mut Vec<String>) {
        self.text.push_str(delta);
        loop {
            let mut cut = None;
            let mut chars = self.text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                let end = i + c.len_utf8();
                let boundary = match c {
                    '\n' => true,
                    '.' | '!' | '?' | ';' => chars.peek().is_some_and(|(_, n)| n.is_whitespace()),
                    _ => false,
                };
                if boundary
                    && !(c == '.' && abbreviation(&self.text[..i]))
                    && self.text[..end].trim().chars().count() >= MIN_SENTENCE
                {
                    cut = Some(end);
                    break;
                }
            }
            let Some(end) = cut else {
                return;
            };
            let sentence = self.text[..end].trim().to_owned();
            self.text.drain(..end);
            if !sentence.is_empty() {
                out.push(sentence);
            }
        }
    }

    /// What is left at the end of the text.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.text);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_owned())
    }
}

/// Titles and the like whose full stop ends no sentence.
const ABBREVIATIONS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "st", "mt", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx",
];

/// Whether the word before a full stop is an abbreviation (or a single letter, an
/// initial).
fn abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default()
        .trim_start_matches(|c: char| !c.is_alphanumeric());
    word.chars().count() == 1 || ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(pieces: &[&str]) -> Vec<String> {
        let mut s = Sentences::default();
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, &mut out);
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let mut s = Sentences::default();
        let mut out = Vec::new();
        s.push("Sure, Dr. Okafor is in ", &mut out);
        assert!(out.is_empty());
        s.push("on Tuesday. Would ", &mut out);
        assert_eq!(out, ["Sure, Dr. Okafor is in on Tuesday."]);
        assert_eq!(
            cut(&["Hi. ", "It costs $1.50 today! Anything else?"]),
            ["Hi. It costs $1.50 today!", "Anything else?"]
        );
        assert_eq!(cut(&["  "]), Vec::<String>::new());
        assert_eq!(cut(&["Line one\nLine two"]), ["Line one", "Line two"]);
    }

    #[test]
    fn the_request_asks_for_mulaw_at_8_khz() {
        assert_eq!(
            stream_url("https://api.elevenlabs.io/", "21m00Tcm4TlvDq8ikWAM"),
            "https://api.elevenlabs.io/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=ulaw_8000"
        );
        assert_eq!(
            stream_url("http://x", "a/b"),
            "http://x/v1/text-to-speech/a%2Fb/stream?output_format=ulaw_8000"
        );
        assert_eq!(
            body("Hello.", "eleven_flash_v2_5", Some("Hi.")),
            json!({"text": "Hello.", "model_id": "eleven_flash_v2_5", "previous_text": "Hi."})
        );
        assert_eq!(
            body("Hello.", "m", None),
            json!({"text": "Hello.", "model_id": "m"})
        );
    }
}
