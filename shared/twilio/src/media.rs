//! Twilio Media Streams: the JSON text frames of a bidirectional `<Connect><Stream>`.
//!
//! Inbound (Twilio → us): [`parse_inbound`] reads `connected`, `start`, `media`, `mark`,
//! `dtmf` and `stop`; any other `event` becomes [`Inbound::Unknown`] and never an error.
//! It is one pass over the frame with no intermediate tree, and a `media` frame borrows
//! its payload and stream SID from the text, so the per-frame path allocates nothing.
//! Twilio sends `sequenceNumber`, `chunk` and `timestamp` as strings of digits; numbers
//! are accepted too.
//!
//! Outbound (us → Twilio): [`media_json`], [`mark_json`] and [`clear_json`] write the
//! frames directly, with one allocation sized up front. [`Outbound`] is the same as a value.
//!
//! The other direction of each (`Inbound::to_json`, [`parse_outbound`]) is for the phone
//! simulator and tests. Audio payloads print their length in `Debug`, never their bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hotline_core::{AccountSid, CallSid, ParseIdError, StreamSid};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// A frame that is not a well-formed Media Streams message: malformed JSON, a missing
/// `event` or required field, or a field of the wrong type. Its message says what kind
/// of fault and where, never the frame's content: frames carry caller audio, and
/// serde's own messages can quote values.
#[derive(Debug, thiserror::Error)]
#[error("invalid media stream message ({:?} error at line {}, column {})", .0.classify(), .0.line(), .0.column())]
pub struct MediaError(#[from] serde_json::Error);

// ---------------------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------------------

/// One message from Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// First frame; no `streamSid` yet.
    Connected(Connected),
    /// Exactly once, right after `connected`: who the stream belongs to.
    Start(Start),
    /// Caller audio, about 50 per second.
    Media(Media<'a>),
    /// Echo of a mark we sent: its audio played, or was discarded by a `clear`.
    Mark(Mark<'a>),
    /// A key the caller pressed.
    Dtmf(Dtmf<'a>),
    /// The stream stopped or the call ended; the socket closes next.
    Stop(Stop),
    /// An `event` this library does not know; to be ignored.
    Unknown(UnknownEvent),
}

/// `connected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connected {
    /// `"Call"`.
    pub protocol: Option<String>,
    /// Protocol version, e.g. `"1.0.0"`.
    pub version: Option<String>,
}

/// `start`. The SIDs are kept as sent; the `parse_*` methods check and type them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub sequence_number: Option<u64>,
    /// `start.streamSid` (also the top-level `streamSid`): required in every reply.
    pub stream_sid: String,
    /// The (sub)account that owns the call.
    pub account_sid: String,
    pub call_sid: String,
    /// `inbound` and/or `outbound`.
    pub tracks: Vec<Track>,
    /// The `<Parameter>`s of the `<Stream>`, name → value.
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

impl Start {
    /// The stream SID as a checked [`StreamSid`].
    pub fn parse_stream_sid(&self) -> Result<StreamSid, ParseIdError> {
        StreamSid::parse(&self.stream_sid)
    }

    /// The call SID as a checked [`CallSid`].
    pub fn parse_call_sid(&self) -> Result<CallSid, ParseIdError> {
        CallSid::parse(&self.call_sid)
    }

    /// The account SID as a checked [`AccountSid`].
    pub fn parse_account_sid(&self) -> Result<AccountSid, ParseIdError> {
        AccountSid::parse(&self.account_sid)
    }
}

/// `start.mediaFormat`: always µ-law, 8000 Hz, mono per Twilio's docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFormat {
    /// `"audio/x-mulaw"`.
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u16,
}

impl MediaFormat {
    /// Whether this is the G.711 µ-law 8 kHz mono audio the bridge forwards untouched.
    pub fn is_mulaw_8k_mono(&self) -> bool {
        self.encoding == "audio/x-mulaw" && self.sample_rate == 8000 && self.channels == 1
    }
}

/// `media`: one chunk of caller audio, borrowed from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media<'a> {
    pub sequence_number: Option<u64>,
    pub stream_sid: Cow<'a, str>,
    pub track: Track,
    /// Per-track counter from 1.
    pub chunk: u64,
    /// Ms since the stream started; use it, not arrival time, for timing.
    pub timestamp: u64,
    pub payload: Payload<'a>,
}

/// `mark`: echo of a mark we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark<'a> {
    pub sequence_number: Option<u64>,
    pub stream_sid: Cow<'a, str>,
    /// The name we chose.
    pub name: Cow<'a, str>,
}

/// `dtmf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtmf<'a> {
    pub sequence_number: Option<u64>,
    pub stream_sid: Cow<'a, str>,
    /// Always `inbound_track` on the wire, read as [`Track::Inbound`].
    pub track: Track,
    /// `0`–`9`, `*` or `#`.
    pub digit: Cow<'a, str>,
}

/// `stop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub sequence_number: Option<u64>,
    pub stream_sid: String,
    pub account_sid: String,
    pub call_sid: String,
}

/// A message whose `event` this library does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    /// The `event` name, for logging.
    pub event: String,
    pub sequence_number: Option<u64>,
    pub stream_sid: Option<String>,
}

/// A media track. `media` says `inbound` / `outbound`, `dtmf` says `inbound_track`;
/// both spellings read the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Track {
    /// The caller.
    Inbound,
    /// What the caller hears (unidirectional `both_tracks` streams only).
    Outbound,
    /// A track name this library does not know, as sent.
    Other(String),
}

impl Track {
    fn media_name(&self) -> &str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Other(name) => name,
        }
    }

    fn dtmf_name(&self) -> &str {
        match self {
            Self::Inbound => "inbound_track",
            Self::Outbound => "outbound_track",
            Self::Other(name) => name,
        }
    }
}

impl<'de> Deserialize<'de> for Track {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TrackVisitor;

        impl Visitor<'_> for TrackVisitor {
            type Value = Track;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a track name")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Track, E> {
                Ok(match v {
                    "inbound" | "inbound_track" => Track::Inbound,
                    "outbound" | "outbound_track" => Track::Outbound,
                    other => Track::Other(other.to_owned()),
                })
            }
        }

        d.deserialize_str(TrackVisitor)
    }
}

/// Base64 µ-law audio, 8 kHz mono, no header: byte-compatible with OpenAI's `audio/pcmu`,
/// so it is forwarded without decoding. `Debug` prints the length, never the audio.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Payload<'a>(Cow<'a, str>);

impl<'a> Payload<'a> {
    /// Wraps base64 text as is.
    pub fn from_base64(base64: impl Into<Cow<'a, str>>) -> Self {
        Self(base64.into())
    }

    /// The base64 text, ready to forward.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    /// The raw µ-law bytes (8 per millisecond).
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.0.as_bytes())
    }

    /// Length of the base64 text (216 for a 20 ms frame).
    pub fn base64_len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text still points into the frame it was parsed from (no copy made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Cow::Borrowed(_))
    }

    /// The same payload, owning its text.
    pub fn into_owned(self) -> Payload<'static> {
        Payload(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("base64_len", &self.0.len())
            .finish()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Payload<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text.deserialize(d).map(Payload)
    }
}

impl<'a> Inbound<'a> {
    /// The `event` name as sent.
    pub fn event(&self) -> &str {
        match self {
            Self::Connected(_) => "connected",
            Self::Start(_) => "start",
            Self::Media(_) => "media",
            Self::Mark(_) => "mark",
            Self::Dtmf(_) => "dtmf",
            Self::Stop(_) => "stop",
            Self::Unknown(u) => &u.event,
        }
    }

    /// The stream SID; every message after `connected` carries one.
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected(_) => None,
            Self::Start(s) => Some(&s.stream_sid),
            Self::Media(m) => Some(&m.stream_sid),
            Self::Mark(m) => Some(&m.stream_sid),
            Self::Dtmf(d) => Some(&d.stream_sid),
            Self::Stop(s) => Some(&s.stream_sid),
            Self::Unknown(u) => u.stream_sid.as_deref(),
        }
    }

    /// `sequenceNumber`: 1 on `start`, then one more per message; none on `connected`.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Connected(_) => None,
            Self::Start(s) => s.sequence_number,
            Self::Media(m) => m.sequence_number,
            Self::Mark(m) => m.sequence_number,
            Self::Dtmf(d) => d.sequence_number,
            Self::Stop(s) => s.sequence_number,
            Self::Unknown(u) => u.sequence_number,
        }
    }

    /// The same message, owning all its text (to send it to another task).
    pub fn into_owned(self) -> Inbound<'static> {
        fn own(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        match self {
            Self::Connected(c) => Inbound::Connected(c),
            Self::Start(s) => Inbound::Start(s),
            Self::Media(m) => Inbound::Media(Media {
                sequence_number: m.sequence_number,
                stream_sid: own(m.stream_sid),
                track: m.track,
                chunk: m.chunk,
                timestamp: m.timestamp,
                payload: m.payload.into_owned(),
            }),
            Self::Mark(m) => Inbound::Mark(Mark {
                sequence_number: m.sequence_number,
                stream_sid: own(m.stream_sid),
                name: own(m.name),
            }),
            Self::Dtmf(d) => Inbound::Dtmf(Dtmf {
                sequence_number: d.sequence_number,
                stream_sid: own(d.stream_sid),
                track: d.track,
                digit: own(d.digit),
            }),
            Self::Stop(s) => Inbound::Stop(s),
            Self::Unknown(u) => Inbound::Unknown(u),
        }
    }

    /// The frame as Twilio writes it (numbers as strings), for the phone simulator.
    pub fn to_json(&self) -> String {
        let mut message = serde_json::Map::new();
        message.insert("event".to_owned(), Value::from(self.event()));
        if let Some(n) = self.sequence_number() {
            message.insert("sequenceNumber".to_owned(), Value::from(n.to_string()));
        }
        if let Some(sid) = self.stream_sid() {
            message.insert("streamSid".to_owned(), Value::from(sid));
        }
        let body = match self {
            Self::Connected(c) => {
                if let Some(p) = &c.protocol {
                    message.insert("protocol".to_owned(), Value::from(p.as_str()));
                }
                if let Some(v) = &c.version {
                    message.insert("version".to_owned(), Value::from(v.as_str()));
                }
                None
            }
            Self::Start(s) => Some((
                "start",
                serde_json::json!({
                    "accountSid": s.account_sid,
                    "streamSid": s.stream_sid,
                    "callSid": s.call_sid,
                    "tracks": s.tracks.iter().map(Track::media_name).collect::<Vec<_>>(),
                    "mediaFormat": {
                        "encoding": s.media_format.encoding,
                        "sampleRate": s.media_format.sample_rate,
                        "channels": s.media_format.channels,
                    },
                    "customParameters": s.custom_parameters,
                }),
            )),
            Self::Media(m) => Some((
                "media",
                serde_json::json!({
                    "track": m.track.media_name(),
                    "chunk": m.chunk.to_string(),
                    "timestamp": m.timestamp.to_string(),
                    "payload": m.payload.as_base64(),
                }),
            )),
            Self::Mark(m) => Some(("mark", serde_json::json!({ "name": m.name }))),
            Self::Dtmf(d) => Some((
                "dtmf",
                serde_json::json!({ "track": d.track.dtmf_name(), "digit": d.digit }),
            )),
            Self::Stop(s) => Some((
                "stop",
                serde_json::json!({ "accountSid": s.account_sid, "callSid": s.call_sid }),
            )),
            Self::Unknown(_) => None,
        };
        if let Some((key, value)) = body {
            message.insert(key.to_owned(), value);
        }
        Value::Object(message).to_string()
    }
}

/// Parses one text frame from Twilio. Unknown `event`s give [`Inbound::Unknown`];
/// malformed JSON, a missing `event`, or a known event with a missing or mistyped
/// required field give an error.
pub fn parse_inbound(text: &str) -> Result<Inbound<'_>, MediaError> {
    Ok(serde_json::from_str(text)?)
}

impl<'de: 'a, 'a> Deserialize<'de> for Inbound<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(InboundVisitor)
    }
}

/// Top-level keys; anything else is skipped.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum Key {
    #[serde(rename = "event")]
    Event,
    #[serde(rename = "sequenceNumber")]
    SequenceNumber,
    #[serde(rename = "streamSid")]
    StreamSid,
    #[serde(rename = "protocol")]
    Protocol,
    #[serde(rename = "version")]
    Version,
    #[serde(rename = "start")]
    Start,
    #[serde(rename = "media")]
    Media,
    #[serde(rename = "mark")]
    Mark,
    #[serde(rename = "dtmf")]
    Dtmf,
    #[serde(rename = "stop")]
    Stop,
    #[serde(other)]
    Other,
}

/// A per-event body object. Twilio writes `event` first, so the body of the named event
/// is read straight into its type and other bodies are skipped; a body seen before
/// `event` is kept as a JSON value and read once the event is known.
enum Body<T> {
    Absent,
    Read(T),
    Early(Value),
}

impl<'de, T: Deserialize<'de>> Body<T> {
    fn read<A: MapAccess<'de>>(
        map: &mut A,
        event: Option<&str>,
        this_event: &str,
    ) -> Result<Self, A::Error> {
        match event {
            Some(e) if e == this_event => map.next_value().map(Body::Read),
            Some(_) => map.next_value::<IgnoredAny>().map(|_| Body::Absent),
            None => map.next_value().map(Body::Early),
        }
    }

    fn take<E: de::Error>(self, field: &'static str) -> Result<T, E> {
        match self {
            Body::Read(body) => Ok(body),
            Body::Early(value) => T::deserialize(value).map_err(E::custom),
            Body::Absent => Err(E::missing_field(field)),
        }
    }
}

struct InboundVisitor;

impl<'de> Visitor<'de> for InboundVisitor {
    type Value = Inbound<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Twilio media stream message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event: Option<Cow<'de, str>> = None;
        let mut sequence_number = None;
        let mut stream_sid: Option<Cow<'de, str>> = None;
        let mut protocol = None;
        let mut version = None;
        let mut start = Body::<StartBody>::Absent;
        let mut media = Body::<MediaBody<'de>>::Absent;
        let mut mark = Body::<MarkBody<'de>>::Absent;
        let mut dtmf = Body::<DtmfBody<'de>>::Absent;
        let mut stop = Body::<StopBody>::Absent;

        while let Some(key) = map.next_key::<Key>()? {
            let ev = event.as_deref();
            match key {
                Key::Event => event = Some(map.next_value_seed(Text)?),
                Key::SequenceNumber => sequence_number = Some(map.next_value::<Number>()?.0),
                Key::StreamSid => stream_sid = Some(map.next_value_seed(Text)?),
                Key::Protocol => protocol = Some(map.next_value::<String>()?),
                Key::Version => version = Some(map.next_value::<String>()?),
                Key::Start => start = Body::read(&mut map, ev, "start")?,
                Key::Media => media = Body::read(&mut map, ev, "media")?,
                Key::Mark => mark = Body::read(&mut map, ev, "mark")?,
                Key::Dtmf => dtmf = Body::read(&mut map, ev, "dtmf")?,
                Key::Stop => stop = Body::read(&mut map, ev, "stop")?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }

        let event = event.ok_or_else(|| de::Error::missing_field("event"))?;
        let sid =
            |sid: Option<Cow<'de, str>>| sid.ok_or_else(|| de::Error::missing_field("streamSid"));
        Ok(match &*event {
            "connected" => Inbound::Connected(Connected { protocol, version }),
            "start" => {
                let body = start.take::<A::Error>("start")?;
                let stream_sid = match (body.stream_sid, stream_sid) {
                    (Some(inner), Some(outer)) if inner != outer => {
                        return Err(de::Error::custom("start.streamSid and streamSid differ"));
                    }
                    (Some(inner), _) => inner,
                    (None, outer) => sid(outer)?.into_owned(),
                };
                Inbound::Start(Start {
                    sequence_number,
                    stream_sid,
                    account_sid: body.account_sid,
                    call_sid: body.call_sid,
                    tracks: body.tracks,
                    custom_parameters: body.custom_parameters,
                    media_format: body.media_format.checked()?,
                })
            }
            "media" => {
                let body = media.take::<A::Error>("media")?;
                Inbound::Media(Media {
                    sequence_number,
                    stream_sid: sid(stream_sid)?,
                    track: body.track,
                    chunk: body.chunk.0,
                    timestamp: body.timestamp.0,
                    payload: body.payload,
                })
            }
            "mark" => Inbound::Mark(Mark {
                sequence_number,
                stream_sid: sid(stream_sid)?,
                name: mark.take::<A::Error>("mark")?.name,
            }),
            "dtmf" => {
                let body = dtmf.take::<A::Error>("dtmf")?;
                Inbound::Dtmf(Dtmf {
                    sequence_number,
                    stream_sid: sid(stream_sid)?,
                    track: body.track,
                    digit: body.digit,
                })
            }
            "stop" => {
                let body = stop.take::<A::Error>("stop")?;
                Inbound::Stop(Stop {
                    sequence_number,
                    stream_sid: sid(stream_sid)?.into_owned(),
                    account_sid: body.account_sid,
                    call_sid: body.call_sid,
                })
            }
            other => Inbound::Unknown(UnknownEvent {
                event: other.to_owned(),
                sequence_number,
                stream_sid: stream_sid.map(Cow::into_owned),
            }),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    account_sid: String,
    #[serde(default)]
    stream_sid: Option<String>,
    call_sid: String,
    #[serde(default)]
    tracks: Vec<Track>,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
    media_format: MediaFormatBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormatBody {
    encoding: String,
    sample_rate: Number,
    channels: Number,
}

impl MediaFormatBody {
    fn checked<E: de::Error>(self) -> Result<MediaFormat, E> {
        Ok(MediaFormat {
            encoding: self.encoding,
            sample_rate: u32::try_from(self.sample_rate.0)
                .map_err(|_| E::custom("sampleRate out of range"))?,
            channels: u16::try_from(self.channels.0)
                .map_err(|_| E::custom("channels out of range"))?,
        })
    }
}

#[derive(Deserialize)]
struct MediaBody<'a> {
    track: Track,
    chunk: Number,
    timestamp: Number,
    #[serde(borrow)]
    payload: Payload<'a>,
}

#[derive(Deserialize)]
struct MarkBody<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct DtmfBody<'a> {
    #[serde(default = "inbound")]
    track: Track,
    #[serde(borrow)]
    digit: Cow<'a, str>,
}

fn inbound() -> Track {
    Track::Inbound
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopBody {
    account_sid: String,
    call_sid: String,
}

/// A non-negative integer sent as a JSON string of digits (Twilio's way) or a number.
struct Number(u64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NumberVisitor;

        impl Visitor<'_> for NumberVisitor {
            type Value = Number;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer, as a number or a string of digits")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                u64::try_from(v)
                    .map(Number)
                    .map_err(|_| E::custom("negative integer"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("not a string of digits"));
                }
                v.parse()
                    .map(Number)
                    .map_err(|_| E::custom("integer too large"))
            }
        }

        d.deserialize_any(NumberVisitor)
    }
}

/// A string read without copying when the input allows it.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

// ---------------------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------------------

const MEDIA_HEAD: &str = r#"{"event":"media","streamSid":"#;
const MEDIA_MID: &str = r#","media":{"payload":"#;
const MARK_HEAD: &str = r#"{"event":"mark","streamSid":"#;
const MARK_MID: &str = r#","mark":{"name":"#;
const CLEAR_HEAD: &str = r#"{"event":"clear","streamSid":"#;

/// `{"event":"media","streamSid":…,"media":{"payload":…}}`: audio for the caller, any
/// length, base64 µ-law 8 kHz mono without header (e.g. an OpenAI `audio/pcmu` delta).
pub fn media_json(stream_sid: &str, payload_base64: &str) -> String {
    let mut out = String::with_capacity(
        MEDIA_HEAD.len() + MEDIA_MID.len() + 6 + stream_sid.len() + payload_base64.len(),
    );
    out.push_str(MEDIA_HEAD);
    push_json_str(&mut out, stream_sid);
    out.push_str(MEDIA_MID);
    push_json_str(&mut out, payload_base64);
    out.push_str("}}");
    out
}

/// [`media_json`] from raw µ-law bytes, base64-encoded straight into the frame.
pub fn media_json_from_audio(stream_sid: &str, mulaw: &[u8]) -> String {
    let encoded_len = mulaw.len().div_ceil(3) * 4;
    let mut out = String::with_capacity(
        MEDIA_HEAD.len() + MEDIA_MID.len() + 6 + stream_sid.len() + encoded_len,
    );
    out.push_str(MEDIA_HEAD);
    push_json_str(&mut out, stream_sid);
    out.push_str(MEDIA_MID);
    out.push('"');
    STANDARD.encode_string(mulaw, &mut out);
    out.push_str("\"}}");
    out
}

/// `{"event":"mark","streamSid":…,"mark":{"name":…}}`: Twilio echoes `name` once the audio
/// sent before it has played (or was cleared).
pub fn mark_json(stream_sid: &str, name: &str) -> String {
    let mut out =
        String::with_capacity(MARK_HEAD.len() + MARK_MID.len() + 6 + stream_sid.len() + name.len());
    out.push_str(MARK_HEAD);
    push_json_str(&mut out, stream_sid);
    out.push_str(MARK_MID);
    push_json_str(&mut out, name);
    out.push_str("}}");
    out
}

/// `{"event":"clear","streamSid":…}`: drop Twilio's buffered audio (barge-in); pending
/// marks are echoed back.
pub fn clear_json(stream_sid: &str) -> String {
    let mut out = String::with_capacity(CLEAR_HEAD.len() + 3 + stream_sid.len());
    out.push_str(CLEAR_HEAD);
    push_json_str(&mut out, stream_sid);
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal; text needing no escapes is copied in one go.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    // No early exit: a branch-free pass over a 216-byte payload vectorizes.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let b = u32::from(c);
                    out.push_str("\\u00");
                    out.push(char::from(HEX[(b >> 4) as usize]));
                    out.push(char::from(HEX[(b & 0xf) as usize]));
                }
                c => out.push(c),
            }
        }
    } else {
        out.push_str(s);
    }
    out.push('"');
}

/// A message to Twilio as a value (e.g. an action of the per-call state machine).
#[derive(Clone, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// Audio for the caller (base64 µ-law).
    Media {
        stream_sid: Cow<'a, str>,
        payload: Payload<'a>,
    },
    /// A named marker after the audio sent so far.
    Mark {
        stream_sid: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    /// Drop buffered audio.
    Clear { stream_sid: Cow<'a, str> },
}

impl Outbound<'_> {
    /// The JSON text frame, exactly as [`media_json`] / [`mark_json`] / [`clear_json`].
    pub fn to_json(&self) -> String {
        match self {
            Self::Media {
                stream_sid,
                payload,
            } => media_json(stream_sid, payload.as_base64()),
            Self::Mark { stream_sid, name } => mark_json(stream_sid, name),
            Self::Clear { stream_sid } => clear_json(stream_sid),
        }
    }

    /// The stream the message is for.
    pub fn stream_sid(&self) -> &str {
        match self {
            Self::Media { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Clear { stream_sid } => stream_sid,
        }
    }
}

impl fmt::Debug for Outbound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Media {
                stream_sid,
                payload,
            } => f
                .debug_struct("Media")
                .field("stream_sid", stream_sid)
                .field("payload", payload)
                .finish(),
            Self::Mark { stream_sid, name } => f
                .debug_struct("Mark")
                .field("stream_sid", stream_sid)
                .field("name", name)
                .finish(),
            Self::Clear { stream_sid } => f
                .debug_struct("Clear")
                .field("stream_sid", stream_sid)
                .finish(),
        }
    }
}

/// Parses a message we send (for the phone simulator and tests). Unlike inbound parsing,
/// an unknown `event` is an error: Twilio accepts only these three.
pub fn parse_outbound(text: &str) -> Result<Outbound<'_>, MediaError> {
    #[derive(Deserialize)]
    struct Wire<'a> {
        #[serde(borrow)]
        event: Cow<'a, str>,
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        #[serde(default, borrow)]
        media: Option<MediaOut<'a>>,
        #[serde(default, borrow)]
        mark: Option<MarkBody<'a>>,
    }

    #[derive(Deserialize)]
    struct MediaOut<'a> {
        #[serde(borrow)]
        payload: Payload<'a>,
    }

    let wire: Wire<'_> = serde_json::from_str(text)?;
    let missing = |field| MediaError(de::Error::missing_field(field));
    Ok(match &*wire.event {
        "media" => Outbound::Media {
            stream_sid: wire.stream_sid,
            payload: wire.media.ok_or_else(|| missing("media"))?.payload,
        },
        "mark" => Outbound::Mark {
            stream_sid: wire.stream_sid,
            name: wire.mark.ok_or_else(|| missing("mark"))?.name,
        },
        "clear" => Outbound::Clear {
            stream_sid: wire.stream_sid,
        },
        _ => return Err(MediaError(de::Error::custom("unknown outbound event"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_only_when_needed() {
        let mut out = String::new();
        push_json_str(&mut out, "plain/base64+==");
        assert_eq!(out, r#""plain/base64+==""#);
        out.clear();
        push_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn media_from_audio_encodes_into_the_frame() {
        assert_eq!(
            media_json_from_audio("MZ1", &[0xff, 0xff, 0xfe]),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"///+"}}"#
        );
    }
}
