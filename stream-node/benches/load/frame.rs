//! The bench's wire frames: 20 ms µ-law payloads that carry their own identity, and the
//! few JSON messages the generator writes or reads on every frame, formatted and scanned
//! by hand so the generator stays cheap enough to drive hundreds of calls on one core.
//!
//! A payload is 160 bytes of µ-law (any byte is valid µ-law). Its first 12 bytes are the
//! frame id: call index, sequence number and send time (µs on the generator's clock),
//! little-endian `u32`s. 12 bytes are exactly 16 base64 characters, so the id is encoded
//! on its own and the other 148 bytes (silence) are a fixed, pre-encoded tail.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// One frame: 20 ms of µ-law at 8 kHz.
pub const FRAME_BYTES: usize = 160;
pub const FRAME_MS: u64 = 20;
const HEAD_BYTES: usize = 12;
const HEAD_CHARS: usize = 16;
/// µ-law silence.
const SILENCE: u8 = 0xFF;

/// The response and item every fake AI session speaks in: one endless response.
pub const RESPONSE_ID: &str = "resp_bench";
pub const ITEM_ID: &str = "item_bench";

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Fixes the generator's clock origin; call once before anything is timed.
pub fn start_clock() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since [`start_clock`], wrapping after 71 minutes (far beyond any run).
pub fn now_us() -> u32 {
    at_us(Instant::now())
}

pub fn at_us(t: Instant) -> u32 {
    let epoch = start_clock();
    // Truncation is the point: a 32-bit clock fits the frame id.
    #[allow(clippy::cast_possible_truncation)]
    let us = t.saturating_duration_since(epoch).as_micros() as u32;
    us
}

/// Who sent a frame and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameId {
    pub call: u32,
    pub seq: u32,
    pub sent_us: u32,
}

/// The base64 of the 148 silent bytes after the id.
pub fn silent_tail() -> String {
    BASE64.encode([SILENCE; FRAME_BYTES - HEAD_BYTES])
}

/// The base64 of 148 bytes of a voice (a µ-law tone), for the caller's speech in turns
/// mode: anything after the id that is not silence is speech to the fake AI's VAD.
pub fn speech_tail() -> String {
    let tone: Vec<u8> = (0..FRAME_BYTES - HEAD_BYTES)
        .map(|i| [0x1E, 0x0F, 0x1E, 0x9E, 0x8F, 0x9E][i % 6])
        .collect();
    BASE64.encode(tone)
}

/// The base64 of the 136 silent bytes after an id and its [`Extra`].
pub fn silent_short_tail() -> String {
    BASE64.encode([SILENCE; FRAME_BYTES - 2 * HEAD_BYTES])
}

/// Three more words carried after the id (the first frame of an agent turn): they
/// replace the first 12 bytes of the tail, which are otherwise silence (or speech).
pub type Extra = [u32; 3];

/// The 12 bytes after the id, as base64, when they are silence.
const SILENT_HEAD: &str = "////////////////";

/// Appends a payload whose 12 bytes after the id carry `extra`, then `short_tail`
/// (see [`silent_short_tail`]).
pub fn push_payload_extra(out: &mut String, id: FrameId, extra: Extra, short_tail: &str) {
    let mut head = [0u8; 2 * HEAD_BYTES];
    for (i, word) in [id.call, id.seq, id.sent_us]
        .into_iter()
        .chain(extra)
        .enumerate()
    {
        head[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    BASE64.encode_string(head, out);
    out.push_str(short_tail);
}

/// Whether the 12 bytes after the id are silence (a silent frame; not speech, no extra).
pub fn silent_after_id(payload: &str) -> bool {
    payload.get(HEAD_CHARS..2 * HEAD_CHARS) == Some(SILENT_HEAD)
}

/// The extra words after the id, if the payload carries any.
pub fn read_extra(payload: &str) -> Option<Extra> {
    if silent_after_id(payload) {
        return None;
    }
    let chars = payload.get(HEAD_CHARS..2 * HEAD_CHARS)?;
    let mut buf = [0u8; HEAD_BYTES];
    if BASE64.decode_slice(chars, &mut buf).ok()? != HEAD_BYTES {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    Some([word(0), word(4), word(8)])
}

/// Appends the frame's base64 payload: the id, then the pre-encoded tail.
pub fn push_payload(out: &mut String, id: FrameId, tail: &str) {
    let mut head = [0u8; HEAD_BYTES];
    head[0..4].copy_from_slice(&id.call.to_le_bytes());
    head[4..8].copy_from_slice(&id.seq.to_le_bytes());
    head[8..12].copy_from_slice(&id.sent_us.to_le_bytes());
    BASE64.encode_string(head, out);
    out.push_str(tail);
}

/// Reads the id from the start of a base64 payload.
pub fn read_id(payload: &str) -> Option<FrameId> {
    let head = payload.get(..HEAD_CHARS)?;
    let mut buf = [0u8; HEAD_BYTES];
    let n = BASE64.decode_slice(head, &mut buf).ok()?;
    if n != HEAD_BYTES {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    Some(FrameId {
        call: word(0),
        seq: word(4),
        sent_us: word(8),
    })
}

/// The string value following `key` (which ends with the opening quote), for values
/// that hold no escapes: base64, mark names, event types.
pub fn str_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    Some(&rest[..rest.find('"')?])
}

/// Twilio's `media` frame for one chunk of caller audio.
pub fn twilio_media(
    sequence_number: u64,
    stream_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    id: FrameId,
    tail: &str,
) -> String {
    twilio_media_with(sequence_number, stream_sid, chunk, timestamp_ms, |out| {
        push_payload(out, id, tail);
    })
}

/// Twilio's `media` frame whose base64 payload `payload` writes.
pub fn twilio_media_with(
    sequence_number: u64,
    stream_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    payload: impl FnOnce(&mut String),
) -> String {
    let mut out = String::with_capacity(400);
    let _ = write!(
        out,
        r#"{{"event":"media","sequenceNumber":"{sequence_number}","streamSid":"{stream_sid}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp_ms}","payload":""#
    );
    payload(&mut out);
    out.push_str("\"}}");
    out
}

/// Twilio's echo of a mark.
pub fn twilio_mark(sequence_number: u64, stream_sid: &str, name: &str) -> String {
    let mut out = String::with_capacity(100 + name.len());
    let _ = write!(
        out,
        r#"{{"event":"mark","sequenceNumber":"{sequence_number}","streamSid":"{stream_sid}","mark":{{"name":"{name}"}}}}"#
    );
    out
}

/// One chunk of the AI's voice.
pub fn audio_delta(event_seq: u32, id: FrameId, tail: &str) -> String {
    let mut out = delta_head(event_seq, RESPONSE_ID, ITEM_ID);
    push_payload(&mut out, id, tail);
    out.push_str("\"}");
    out
}

/// The start of an audio delta of `response`'s `item`, up to its payload.
pub fn delta_head(event_seq: u32, response: &str, item: &str) -> String {
    let mut out = String::with_capacity(400);
    let _ = write!(
        out,
        r#"{{"type":"response.output_audio.delta","event_id":"event_d{event_seq}","response_id":"{response}","item_id":"{item}","output_index":0,"content_index":0,"delta":""#
    );
    out
}

pub fn session_event(kind: &str, model: &str) -> String {
    format!(
        r#"{{"type":"{kind}","event_id":"event_s","session":{{"type":"realtime","object":"realtime.session","id":"sess_bench","model":"{model}","output_modalities":["audio"]}}}}"#
    )
}

pub fn response_created() -> String {
    format!(
        r#"{{"type":"response.created","event_id":"event_r","response":{{"id":"{RESPONSE_ID}","object":"realtime.response","status":"in_progress","output":[]}}}}"#
    )
}

/// Checks the hand-written frames against the project's own parsers, so a format drift
/// fails the bench at once instead of skewing it.
pub fn self_check() -> anyhow::Result<()> {
    use anyhow::{bail, ensure};
    use hotline_realtime::openai::ServerEvent;
    use hotline_twilio::media::{Inbound, parse_inbound};

    let tail = silent_tail();
    let id = FrameId {
        call: 799,
        seq: 123_456,
        sent_us: u32::MAX - 3,
    };
    let mut p = String::new();
    push_payload(&mut p, id, &tail);
    ensure!(read_id(&p) == Some(id), "frame id does not round-trip");
    ensure!(read_extra(&p).is_none(), "a silent frame carries no extra");
    let mut spoken = String::new();
    push_payload(&mut spoken, id, &speech_tail());
    ensure!(
        !silent_after_id(&spoken) && BASE64.decode(&spoken)?.len() == FRAME_BYTES,
        "speech is not 160 bytes of sound"
    );
    let extra = [7, u32::MAX, 0];
    let mut marked = String::new();
    push_payload_extra(&mut marked, id, extra, &silent_short_tail());
    ensure!(
        read_id(&marked) == Some(id)
            && read_extra(&marked) == Some(extra)
            && BASE64.decode(&marked)?.len() == FRAME_BYTES,
        "a frame's extra does not round-trip"
    );
    ensure!(
        BASE64.decode(&p)?.len() == FRAME_BYTES,
        "payload is not {FRAME_BYTES} bytes"
    );
    let sid = "MZ0123456789abcdef0123456789abcdef";
    match parse_inbound(&twilio_media(2, sid, 1, 0, id, &tail))? {
        Inbound::Media(m) if read_id(m.payload.as_base64()) == Some(id) => {}
        other => bail!("media frame parsed as {other:?}"),
    }
    match parse_inbound(&twilio_mark(3, sid, "m7"))? {
        Inbound::Mark(m) if m.name == "m7" => {}
        other => bail!("mark echo parsed as {other:?}"),
    }
    let delta = audio_delta(1, id, &tail);
    match ServerEvent::parse(&delta)? {
        ServerEvent::ResponseOutputAudioDelta(d)
            if read_id(d.delta.as_base64()) == Some(id) && d.item_id == ITEM_ID => {}
        other => bail!("audio delta parsed as {other:?}"),
    }
    ensure!(
        matches!(
            ServerEvent::parse(&session_event("session.updated", "m"))?,
            ServerEvent::SessionUpdated(_)
        ),
        "session.updated does not parse"
    );
    ensure!(
        matches!(
            ServerEvent::parse(&response_created())?,
            ServerEvent::ResponseCreated(_)
        ),
        "response.created does not parse"
    );
    Ok(())
}
