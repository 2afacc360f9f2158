//! ElevenLabs realtime speech-to-text (Scribe, `/v1/speech-to-text/realtime`,
//! `protocols/elevenlabs.md` §8): the socket's URL for a Twilio stream (µ-law 8 kHz as
//! it comes, no resampling), the chunk message carrying Twilio's base64 payload as it
//! is, the server messages by their `message_type`, and the caller's turns from them.
//!
//! ElevenLabs commits a segment by its own voice activity detection
//! (`commit_strategy=vad`): a `committed_transcript` ends the caller's turn; a
//! `partial_transcript` with words says the caller is speaking (barge-in). It sends
//! no speech-start event of its own: the node's VAD stands in.

use hotline_core::model::SttSpec;
use serde::Deserialize;

use super::deepgram::{encode, ws_base};

/// Silence that commits a segment (the SDK allows 0.3–3.0 s): about Deepgram's
/// endpointing plus a little, as Scribe has no separate utterance-end fallback.
pub const VAD_SILENCE_SECS: &str = "0.5";
/// The sample rate every chunk declares.
pub const SAMPLE_RATE: u32 = 8000;

/// Where the socket is. The key goes in `xi-api-key`, never here. The language is
/// ISO-639: a BCP-47 tag's region is dropped (`en-US` → `en`), and `multi` (or
/// nothing) leaves it to detection.
pub fn realtime_url(base_url: &str, spec: &SttSpec) -> Result<String, String> {
    let ws = ws_base(base_url, "ELEVENLABS_BASE_URL")?;
    let mut url = format!(
        "{ws}/v1/speech-to-text/realtime?model_id={}&audio_format=ulaw_8000\
         &commit_strategy=vad&vad_silence_threshold_secs={VAD_SILENCE_SECS}",
        encode(&spec.model)
    );
    let language = spec.language.split(['-', '_']).next().unwrap_or_default();
    if !language.is_empty() && language != "multi" {
        url.push_str("&language_code=");
        url.push_str(&encode(language));
    }
    Ok(url)
}

/// One chunk of the caller's audio: Twilio's base64 µ-law payload as it is.
pub fn audio_chunk(payload: &str) -> String {
    // The payload is base64 (checked by the caller's decode): nothing to escape.
    format!(
        r#"{{"message_type":"input_audio_chunk","audio_base_64":"{payload}","commit":false,"sample_rate":{SAMPLE_RATE}}}"#
    )
}

/// What keeps an idle session open: 100 ms of µ-law silence, as there is no keep-alive
/// message (pipecat sends silent audio the same way).
pub fn keep_alive() -> String {
    use base64::Engine as _;
    let silence = [hotline_audio::SILENCE; 800];
    audio_chunk(&base64::engine::general_purpose::STANDARD.encode(silence))
}

/// A server message, by its `message_type`; anything else is ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub enum ServerMessage {
    SessionStarted {},
    PartialTranscript {
        #[serde(default)]
        text: String,
    },
    CommittedTranscript {
        #[serde(default)]
        text: String,
    },
    Warning {},
    Error {},
    AuthError {},
    QuotaExceeded {},
    CommitThrottled {},
    UnacceptedTerms {},
    RateLimited {},
    QueueOverflow {},
    ResourceExhausted {},
    SessionTimeLimitExceeded {},
    InputError {},
    InvalidRequest {},
    ChunkSizeExceeded {},
    InsufficientAudioActivity {},
    TranscriberError {},
    #[serde(other)]
    Other,
}

impl ServerMessage {
    /// The error's kind, for the log (its text may quote what it was sent).
    pub fn error_kind(&self) -> Option<&'static str> {
        Some(match self {
            Self::Error {} => "error",
            Self::AuthError {} => "auth_error",
            Self::QuotaExceeded {} => "quota_exceeded",
            Self::CommitThrottled {} => "commit_throttled",
            Self::UnacceptedTerms {} => "unaccepted_terms",
            Self::RateLimited {} => "rate_limited",
            Self::QueueOverflow {} => "queue_overflow",
            Self::ResourceExhausted {} => "resource_exhausted",
            Self::SessionTimeLimitExceeded {} => "session_time_limit_exceeded",
            Self::InputError {} => "input_error",
            Self::InvalidRequest {} => "invalid_request",
            Self::ChunkSizeExceeded {} => "chunk_size_exceeded",
            Self::InsufficientAudioActivity {} => "insufficient_audio_activity",
            Self::TranscriberError {} => "transcriber_error",
            _ => return None,
        })
    }
}

/// The caller's turns: words in a partial mean speech; a commit with words ends the
/// turn; an empty commit (a cough) ends nothing.
#[derive(Debug, Default)]
pub struct Turns {
    /// A partial had words and no commit came yet.
    partial: bool,
}

impl Turns {
    pub fn pending(&self) -> bool {
        self.partial
    }

    pub fn on(&mut self, message: ServerMessage, out: &mut Vec<super::deepgram::Heard>) {
        use super::deepgram::Heard;
        match message {
            ServerMessage::PartialTranscript { text } if !text.trim().is_empty() => {
                self.partial = true;
                out.push(Heard::Speech);
            }
            ServerMessage::CommittedTranscript { text } => {
                self.partial = false;
                let text = text.trim();
                if !text.is_empty() {
                    out.push(Heard::Utterance(text.to_owned()));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::deepgram::Heard;
    use super::*;
    use hotline_core::model::SttVendor;

    fn heard(turns: &mut Turns, json: &str) -> Vec<Heard> {
        let mut out = Vec::new();
        turns.on(serde_json::from_str(json).expect("parses"), &mut out);
        out
    }

    #[test]
    fn the_url_asks_for_mulaw_at_8_khz_committed_by_vad() {
        let spec = SttSpec::of(SttVendor::Elevenlabs);
        assert_eq!(
            realtime_url("https://api.elevenlabs.io/", &spec).expect("url"),
            "wss://api.elevenlabs.io/v1/speech-to-text/realtime?model_id=scribe_v2_realtime\
             &audio_format=ulaw_8000&commit_strategy=vad&vad_silence_threshold_secs=0.5\
             &language_code=en"
        );
        let spec = SttSpec {
            language: "pt-BR".into(),
            ..SttSpec::of(SttVendor::Elevenlabs)
        };
        let url = realtime_url("http://127.0.0.1:9", &spec).expect("url");
        assert!(url.starts_with("ws://127.0.0.1:9/v1/speech-to-text/realtime?"));
        assert!(url.ends_with("&language_code=pt"), "{url}");
        let spec = SttSpec {
            language: "multi".into(),
            ..SttSpec::of(SttVendor::Elevenlabs)
        };
        let url = realtime_url("http://x", &spec).expect("url");
        assert!(!url.contains("language_code"), "{url}");
        assert!(realtime_url("ftp://x", &spec).is_err());
    }

    #[test]
    fn a_chunk_is_the_sdks_message_with_twilios_payload() {
        let chunk: serde_json::Value = serde_json::from_str(&audio_chunk("//8A")).expect("json");
        assert_eq!(
            chunk,
            serde_json::json!({"message_type": "input_audio_chunk", "audio_base_64": "//8A",
                "commit": false, "sample_rate": 8000})
        );
        let idle: serde_json::Value = serde_json::from_str(&keep_alive()).expect("json");
        assert_eq!(idle["audio_base_64"].as_str().map(str::len), Some(1068));
    }

    #[test]
    fn partials_are_speech_and_a_commit_ends_the_turn() {
        let mut turns = Turns::default();
        let started = r#"{"message_type":"session_started","session_id":"s1","config":{"sample_rate":8000,"audio_format":"ulaw_8000","commit_strategy":"vad","model_id":"scribe_v2_realtime"}}"#;
        assert!(heard(&mut turns, started).is_empty());
        assert!(
            heard(
                &mut turns,
                r#"{"message_type":"partial_transcript","text":""}"#
            )
            .is_empty()
        );
        assert_eq!(
            heard(
                &mut turns,
                r#"{"message_type":"partial_transcript","text":"I'd like"}"#
            ),
            [Heard::Speech]
        );
        assert!(turns.pending());
        assert_eq!(
            heard(
                &mut turns,
                r#"{"message_type":"committed_transcript","text":" I'd like to book a cleaning. "}"#
            ),
            [Heard::Utterance("I'd like to book a cleaning.".into())]
        );
        assert!(!turns.pending());
        assert!(
            heard(
                &mut turns,
                r#"{"message_type":"committed_transcript","text":""}"#
            )
            .is_empty()
        );
        assert!(
            heard(
                &mut turns,
                r#"{"message_type":"diarized_transcript","x":1}"#
            )
            .is_empty()
        );
        let quota: ServerMessage =
            serde_json::from_str(r#"{"message_type":"quota_exceeded","error":"no credits"}"#)
                .expect("parses");
        assert_eq!(quota.error_kind(), Some("quota_exceeded"));
    }
}
