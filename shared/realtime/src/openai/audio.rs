//! Base64 audio as it travels inside events, borrowed from the frame where possible.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Base64-encoded audio in the session's format (with `audio/pcmu`, G.711 µ-law at 8 kHz:
/// byte-compatible with a Twilio media payload, so it is forwarded without decoding).
///
/// Events parsed with [`ServerEvent::parse`](super::ServerEvent::parse) borrow the
/// base64 text from the frame; [`Audio::into_owned`] detaches it. `Debug` prints the
/// length, never the audio.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Audio<'a>(Cow<'a, str>);

impl<'a> Audio<'a> {
    /// Wraps base64 text as is; nothing is checked or copied.
    pub fn from_base64(base64: impl Into<Cow<'a, str>>) -> Self {
        Self(base64.into())
    }

    /// Encodes raw audio bytes.
    pub fn encode(bytes: &[u8]) -> Audio<'static> {
        Audio(Cow::Owned(STANDARD.encode(bytes)))
    }

    /// The base64 text, ready to forward.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    /// The raw audio bytes.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.0.as_bytes())
    }

    /// Length of the base64 text in bytes.
    pub fn base64_len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no audio at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the text still points into the frame it was parsed from (no copy made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Cow::Borrowed(_))
    }

    /// The base64 text itself, still borrowed from the frame when it was.
    pub fn into_base64(self) -> Cow<'a, str> {
        self.0
    }

    /// The same audio, owning its text.
    pub fn into_owned(self) -> Audio<'static> {
        Audio(Cow::Owned(self.0.into_owned()))
    }
}

impl<'a> From<&'a str> for Audio<'a> {
    fn from(base64: &'a str) -> Self {
        Self::from_base64(base64)
    }
}

impl From<String> for Audio<'static> {
    fn from(base64: String) -> Self {
        Self::from_base64(base64)
    }
}

impl fmt::Debug for Audio<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audio")
            .field("base64_len", &self.0.len())
            .finish()
    }
}

impl Serialize for Audio<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Always copies, like `Cow`'s own impl, so `Audio<'static>` can sit inside owned types.
/// Hot event fields borrow instead, through `audio::borrowed`.
impl<'de> Deserialize<'de> for Audio<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Audio(Cow::Owned(s)))
    }
}

/// `deserialize_with` for `Audio<'a>` fields marked `#[serde(borrow)]`: borrows the
/// base64 text from the input when it has no escapes (base64 never needs any).
pub(crate) fn borrowed<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Audio<'a>, D::Error> {
    struct AudioVisitor;

    impl<'de> Visitor<'de> for AudioVisitor {
        type Value = Audio<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("base64 audio text")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Audio(Cow::Borrowed(v)))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Audio(Cow::Owned(v.to_owned())))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Audio(Cow::Owned(v)))
        }
    }

    d.deserialize_str(AudioVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_length_not_the_audio() {
        let audio = Audio::from_base64("c2VjcmV0IHZvaWNl");
        assert_eq!(format!("{audio:?}"), "Audio { base64_len: 16 }");
    }

    #[test]
    fn encode_and_decode_round_trip() {
        let audio = Audio::encode(&[0xff, 0x7f, 0x00]);
        assert_eq!(audio.as_base64(), "/38A");
        assert_eq!(audio.decode().ok(), Some(vec![0xff, 0x7f, 0x00]));
    }
}
