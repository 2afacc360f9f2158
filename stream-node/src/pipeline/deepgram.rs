//! Deepgram live transcription (`/v1/listen`, Nova; `protocols/deepgram.md` §2): the
//! socket's URL for a Twilio stream (µ-law 8 kHz as it comes, no resampling), its
//! server messages, and the caller's turns built from them (§2.4).

use hotline_core::model::SttSpec;
use serde::Deserialize;

/// Silence that ends a segment with `speech_final`: the notes' conversational range.
pub const ENDPOINTING_MS: u32 = 300;
/// The fallback end of an utterance when noise keeps endpointing from firing.
pub const UTTERANCE_END_MS: u32 = 1000;

/// Where the socket is: `{base}/v1/listen` with a WebSocket scheme and the query a
/// Twilio stream needs. The key goes in `Authorization: Token …`, never here.
pub fn listen_url(base_url: &str, spec: &SttSpec) -> Result<String, String> {
    let ws = ws_base(base_url, "DEEPGRAM_BASE_URL")?;
    Ok(format!(
        "{ws}/v1/listen?model={}&language={}&encoding=mulaw&sample_rate=8000&channels=1\
         &interim_results=true&endpointing={ENDPOINTING_MS}&utterance_end_ms={UTTERANCE_END_MS}\
         &vad_events=true&smart_format=true",
        encode(&spec.model),
        encode(&spec.language)
    ))
}

/// A vendor's base URL (`{name}`) with a WebSocket scheme, no trailing slash.
pub(crate) fn ws_base(base_url: &str, name: &str) -> Result<String, String> {
    let base = base_url.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if let Some(rest) = base.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else if base.starts_with("wss://") || base.starts_with("ws://") {
        Ok(base.to_owned())
    } else {
        Err(format!("{name} must be http(s) or ws(s): {base}"))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A server message, by its `type`; anything else (and fields we do not read) is
/// ignored, as Deepgram adds both often.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Results(Results),
    UtteranceEnd {},
    SpeechStarted {},
    Metadata {},
    Error {
        #[serde(default)]
        description: Option<String>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub struct Results {
    pub channel: Channel,
    #[serde(default)]
    pub is_final: bool,
    #[serde(default)]
    pub speech_final: bool,
    #[serde(default)]
    pub from_finalize: bool,
}

#[derive(Debug, Deserialize)]
pub struct Channel {
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
pub struct Alternative {
    #[serde(default)]
    pub transcript: String,
}

/// What a message means for the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The caller is speaking (VAD onset or words): barge-in.
    Speech,
    /// The caller's turn ended with these words.
    Utterance(String),
}

/// Builds the caller's turns: final segments are kept until `speech_final`, a result
/// of our `Finalize`, or `UtteranceEnd` ends the turn; the buffer empties on each, so
/// an `UtteranceEnd` after a `speech_final` adds nothing.
#[derive(Debug, Default)]
pub struct Turns {
    finals: Vec<String>,
}

impl Turns {
    /// Whether words are waiting for the end of the turn.
    pub fn pending(&self) -> bool {
        !self.finals.is_empty()
    }

    pub fn on(&mut self, message: ServerMessage, out: &mut Vec<Heard>) {
        match message {
            ServerMessage::Results(r) => {
                let text = r
                    .channel
                    .alternatives
                    .first()
                    .map(|a| a.transcript.trim().to_owned())
                    .unwrap_or_default();
                if !text.is_empty() {
                    out.push(Heard::Speech);
                }
                if r.is_final {
                    if !text.is_empty() {
                        self.finals.push(text);
                    }
                    if r.speech_final || r.from_finalize {
                        self.end(out);
                    }
                }
            }
            ServerMessage::UtteranceEnd {} => self.end(out),
            ServerMessage::SpeechStarted {} => out.push(Heard::Speech),
            ServerMessage::Metadata {} | ServerMessage::Error { .. } | ServerMessage::Other => {}
        }
    }

    fn end(&mut self, out: &mut Vec<Heard>) {
        if self.finals.is_empty() {
            return;
        }
        out.push(Heard::Utterance(self.finals.join(" ")));
        self.finals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(turns: &mut Turns, json: &str) -> Vec<Heard> {
        let mut out = Vec::new();
        turns.on(serde_json::from_str(json).expect("parses"), &mut out);
        out
    }

    #[test]
    fn the_url_asks_for_mulaw_at_8_khz_with_endpointing() {
        let url = listen_url("https://api.deepgram.com/", &SttSpec::default()).expect("url");
        assert_eq!(
            url,
            "wss://api.deepgram.com/v1/listen?model=nova-3&language=en-US&encoding=mulaw\
             &sample_rate=8000&channels=1&interim_results=true&endpointing=300\
             &utterance_end_ms=1000&vad_events=true&smart_format=true"
        );
        let spec = SttSpec {
            language: "en US&x=1".into(),
            ..SttSpec::default()
        };
        let url = listen_url("http://127.0.0.1:9", &spec).expect("url");
        assert!(url.starts_with("ws://127.0.0.1:9/v1/listen?"), "{url}");
        assert!(url.contains("language=en%20US%26x%3D1&"), "{url}");
        assert!(listen_url("ftp://x", &spec).is_err());
    }

    /// The recorded µ-law result from Deepgram's SDK tests (protocols/deepgram.md §2.3).
    const RECORDED: &str = r#"{"channel": {"alternatives": [{"transcript": "Ensure domestic tranquility.", "confidence": 0.9897461,
      "words": [{"word": "ensure", "start": 6.251818, "end": 6.6427274, "confidence": 0.9897461, "punctuated_word": "Ensure"}]}]},
     "metadata": {"model_info": {"name": "general", "version": "2024-01-26.8851", "arch": "base"},
       "request_id": "4b21fb93-0ece-46c8-a7c8-05709d2119dc", "model_uuid": "1ed36bac-f71c-4f3f-a31f-02fd6525c489"},
     "type": "Results", "channel_index": [0, 1], "duration": 1.73, "start": 5.9,
     "is_final": true, "from_finalize": false, "speech_final": true}"#;

    #[test]
    fn finals_make_a_turn_at_speech_final_and_utterance_end_adds_nothing() {
        let mut turns = Turns::default();
        let interim = r#"{"type":"Results","channel":{"alternatives":[{"transcript":"I'd like"}]},"is_final":false,"speech_final":false}"#;
        assert_eq!(heard(&mut turns, interim), [Heard::Speech]);
        let part = r#"{"type":"Results","channel":{"alternatives":[{"transcript":"I'd like a"}]},"is_final":true,"speech_final":false}"#;
        assert_eq!(heard(&mut turns, part), [Heard::Speech]);
        assert!(turns.pending());
        assert_eq!(
            heard(&mut turns, RECORDED),
            [
                Heard::Speech,
                Heard::Utterance("I'd like a Ensure domestic tranquility.".into())
            ]
        );
        assert!(
            heard(
                &mut turns,
                r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":3.1}"#
            )
            .is_empty()
        );
    }

    #[test]
    fn utterance_end_closes_a_turn_endpointing_missed() {
        let mut turns = Turns::default();
        let part = r#"{"type":"Results","channel":{"alternatives":[{"transcript":"Hello"}]},"is_final":true}"#;
        heard(&mut turns, part);
        assert_eq!(
            heard(
                &mut turns,
                r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1.0}"#
            ),
            [Heard::Utterance("Hello".into())]
        );
    }

    #[test]
    fn silence_and_unknown_messages_are_nothing() {
        let mut turns = Turns::default();
        let empty = r#"{"type":"Results","channel":{"alternatives":[{"transcript":""}]},"is_final":true,"speech_final":true}"#;
        assert!(heard(&mut turns, empty).is_empty());
        assert!(
            heard(
                &mut turns,
                r#"{"type":"Metadata","request_id":"x","duration":1.0}"#
            )
            .is_empty()
        );
        assert!(heard(&mut turns, r#"{"type":"SomethingNew","x":1}"#).is_empty());
        assert_eq!(
            heard(
                &mut turns,
                r#"{"type":"SpeechStarted","channel":[0],"timestamp":9.54}"#
            ),
            [Heard::Speech]
        );
    }
}
