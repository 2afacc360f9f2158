//! `POST {base}/audio/transcriptions`: a recording in, its text out.

use std::fmt;

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::{LlmError, OpenAiRest};

/// One recording to transcribe. Its `Debug` shows sizes, never the audio or the prompt.
pub struct TranscriptionRequest<'a> {
    /// The file's bytes: flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm, at most
    /// 25 MB.
    pub audio: Vec<u8>,
    /// A name with the right extension (`call.mp3`): OpenAI tells the format by it.
    pub filename: &'a str,
    /// The file's MIME type, e.g. `audio/mpeg`.
    pub content_type: &'a str,
    /// `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`, `whisper-1`, …
    pub model: &'a str,
    /// A vocabulary or style hint (names, products).
    pub prompt: Option<&'a str>,
    /// ISO-639-1 (`en`, `de`), when known: better accuracy and latency.
    pub language: Option<&'a str>,
}

impl fmt::Debug for TranscriptionRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TranscriptionRequest")
            .field("audio_bytes", &self.audio.len())
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("model", &self.model)
            .field("prompt", &self.prompt.map(|_| "…"))
            .field("language", &self.language)
            .finish()
    }
}

/// What OpenAI heard. Its `Debug` shows the length, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Transcription {
    pub text: String,
}

impl fmt::Debug for Transcription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcription")
            .field("text_chars", &self.text.chars().count())
            .finish()
    }
}

impl OpenAiRest {
    /// Transcribes one recording (`response_format=json`).
    pub async fn transcribe(
        &self,
        req: TranscriptionRequest<'_>,
    ) -> Result<Transcription, LlmError> {
        let bytes = req.audio.len();
        let file = Part::bytes(req.audio)
            .file_name(req.filename.to_owned())
            .mime_str(req.content_type)
            .map_err(|_| {
                LlmError::Invalid(format!(
                    "content type {:?} is not a MIME type",
                    req.content_type
                ))
            })?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", req.model.to_owned())
            .text("response_format", "json");
        if let Some(prompt) = req.prompt {
            form = form.text("prompt", prompt.to_owned());
        }
        if let Some(language) = req.language {
            form = form.text("language", language.to_owned());
        }
        tracing::debug!(bytes, model = req.model, "transcribing");
        let body = self
            .send(self.post("audio/transcriptions").multipart(form))
            .await?;
        parse_transcription(&body)
    }
}

/// `{"text": "…", "usage": {…}}`: the text; anything else is [`LlmError::Invalid`].
fn parse_transcription(body: &[u8]) -> Result<Transcription, LlmError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::Invalid(format!("transcription is not JSON: {e}")))?;
    let text = json["text"]
        .as_str()
        .ok_or_else(|| LlmError::Invalid("transcription has no text".to_owned()))?;
    Ok(Transcription {
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_read_and_usage_ignored() {
        let body = br#"{"text":"Hello, I'd like to book.","usage":{"type":"tokens","input_tokens":14,"output_tokens":6,"total_tokens":20,"input_token_details":{"audio_tokens":14,"text_tokens":0}}}"#;
        let t = parse_transcription(body).expect("parsed");
        assert_eq!(t.text, "Hello, I'd like to book.");
        assert!(!format!("{t:?}").contains("book"), "Debug hides the text");
    }

    #[test]
    fn other_shapes_are_invalid() {
        for body in [&b"Hello there"[..], b"{}", br#"{"text":null}"#] {
            let err = parse_transcription(body).expect_err("invalid");
            assert!(matches!(err, LlmError::Invalid(_)), "{err:?}");
            assert!(!err.to_string().contains("Hello"), "{err}");
        }
    }

    #[test]
    fn debug_shows_sizes_only() {
        let req = TranscriptionRequest {
            audio: vec![7; 1234],
            filename: "call.mp3",
            content_type: "audio/mpeg",
            model: "gpt-4o-transcribe",
            prompt: Some("Acme Dental, Dr. Nguyen"),
            language: Some("en"),
        };
        let debug = format!("{req:?}");
        assert!(debug.contains("1234"), "{debug}");
        assert!(!debug.contains("Nguyen"), "{debug}");
    }
}
