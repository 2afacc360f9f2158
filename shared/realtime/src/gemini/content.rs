//! What both directions carry: `Content` (a role and parts) and `Blob` (inline media).

use serde::{Deserialize, Serialize};

/// A turn of the conversation, or the system instruction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// `user` or `model`; none in a system instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Content {
    /// A text turn from `role`.
    pub fn text(role: Option<&str>, text: impl Into<String>) -> Self {
        Self {
            role: role.map(str::to_owned),
            parts: vec![Part {
                text: Some(text.into()),
                ..Part::default()
            }],
        }
    }
}

/// One part of a content: text, inline audio, or something hotline does not use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "inline_data"
    )]
    #[serde(alias = "inline_data")]
    pub inline_data: Option<Blob>,
    /// A thinking model's thought: never spoken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
}

/// Inline media: a MIME type and base64 bytes.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    /// Base64 (proto3 JSON `bytes`).
    pub data: String,
}

impl std::fmt::Debug for Blob {
    // Audio is the caller's voice or the agent's: its length is all a log may show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("mime_type", &self.mime_type)
            .field("base64_len", &self.data.len())
            .finish()
    }
}

impl Blob {
    /// The sample rate a `audio/pcm;rate=N` MIME type declares.
    pub fn pcm_rate(&self) -> Option<u32> {
        let mut parts = self.mime_type.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case("audio/pcm") {
            return None;
        }
        parts.find_map(|p| p.strip_prefix("rate=")?.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_comes_from_the_mime_type() {
        let blob = |m: &str| Blob {
            mime_type: m.into(),
            data: String::new(),
        };
        assert_eq!(blob("audio/pcm;rate=24000").pcm_rate(), Some(24_000));
        assert_eq!(blob("audio/pcm; rate=16000").pcm_rate(), Some(16_000));
        assert_eq!(blob("audio/pcm").pcm_rate(), None);
        assert_eq!(blob("image/jpeg;rate=1").pcm_rate(), None);
        assert!(
            !format!(
                "{:?}",
                Blob {
                    mime_type: "a".into(),
                    data: "SECRETAUDIO".into()
                }
            )
            .contains("SECRET")
        );
    }
}
