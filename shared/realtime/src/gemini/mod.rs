//! Google's Gemini Live API (`BidiGenerateContent` over WebSocket): the proto3 JSON of
//! `BidiGenerateContentClientMessage` and `…ServerMessage` (see
//! `protocols/gemini-live.md`), field names in lowerCamelCase as the `google-genai` Python
//! SDK sends and parses them. A client message has exactly one top-level key
//! ([`ClientMessage`], externally tagged); a server message has one key plus an optional
//! `usageMetadata` beside it ([`ServerMessage`], read through [`ServerMessage::event`]).
//! Unknown fields are ignored on input: Google adds fields often. No I/O happens here.

mod client;
mod content;
mod server;

pub use client::{
    ActivityDetection, AudioTranscriptionConfig, ClientContent, ClientMessage,
    ContextWindowCompression, FunctionDeclaration, FunctionResponse, GenerationConfig,
    PrebuiltVoiceConfig, RealtimeInput, RealtimeInputConfig, SessionResumptionConfig, Setup,
    SlidingWindow, SpeechConfig, Tool, ToolResponse, VoiceConfig,
};
pub use content::{Blob, Content, Part};
pub use server::{
    FunctionCall, GoAway, ServerContent, ServerEvent, ServerMessage, SessionResumptionUpdate,
    SetupComplete, ToolCall, ToolCallCancellation, Transcription, UsageMetadata,
};

/// `GEMINI_BASE_URL`'s default.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The API key header the Python SDK sends (a `key` query parameter works too, but a
/// header keeps the key out of every URL that might be logged).
pub const API_KEY_HEADER: &str = "x-goog-api-key";

/// The socket's path under the base URL.
pub const LIVE_PATH: &str =
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

/// Caller audio as Gemini takes it: 16-bit little-endian PCM, mono, 16 kHz.
pub const INPUT_RATE: u32 = 16_000;
pub const INPUT_MIME: &str = "audio/pcm;rate=16000";
/// What a native-audio model speaks: 16-bit little-endian PCM, mono, 24 kHz.
pub const OUTPUT_RATE: u32 = 24_000;

/// Why a base URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GEMINI_BASE_URL must be an http(s) or ws(s) URL, got {0:?}")]
pub struct UrlError(pub String);

/// The Live socket's URL: `https://…` → `wss://…{LIVE_PATH}`, `http://…` → `ws://…`.
pub fn live_url(base_url: &str) -> Result<String, UrlError> {
    let base = base_url.trim().trim_end_matches('/');
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| UrlError(base_url.to_owned()))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        _ => return Err(UrlError(base_url.to_owned())),
    };
    if rest.is_empty() || rest.contains(['?', '#']) {
        return Err(UrlError(base_url.to_owned()));
    }
    Ok(format!("{scheme}://{rest}{LIVE_PATH}"))
}

/// `models/{model}`, as `setup.model` must say, whether or not the agent wrote the prefix.
pub fn model_name(model: &str) -> String {
    if model.starts_with("models/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    }
}

/// A Gemini `Duration` (`"10s"`, `"1.5s"`) in milliseconds.
pub fn duration_ms(text: &str) -> Option<u64> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_url_follows_the_base_urls_scheme() {
        assert_eq!(
            live_url(DEFAULT_BASE_URL).as_deref(),
            Ok(
                "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
            )
        );
        assert_eq!(
            live_url("http://127.0.0.1:9/").as_deref(),
            Ok(
                "ws://127.0.0.1:9/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
            )
        );
        assert!(live_url("ftp://x").is_err());
        assert!(live_url("generativelanguage.googleapis.com").is_err());
        assert!(live_url("https://x/?key=1").is_err());
    }

    #[test]
    fn models_get_their_prefix_once() {
        assert_eq!(
            model_name("gemini-live-2.5-flash-preview"),
            "models/gemini-live-2.5-flash-preview"
        );
        assert_eq!(model_name("models/x"), "models/x");
    }

    #[test]
    fn durations_read_as_milliseconds() {
        assert_eq!(duration_ms("10s"), Some(10_000));
        assert_eq!(duration_ms("1.5s"), Some(1_500));
        assert_eq!(duration_ms("soon"), None);
        assert_eq!(duration_ms("-1s"), None);
    }
}
