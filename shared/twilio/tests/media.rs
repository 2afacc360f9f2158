//! Media Streams messages against the examples in the protocol notes
//! (`twilio-media-streams.md`, copied verbatim into `tests/fixtures/twilio/media/`), plus
//! the parser's behaviour on unknown, malformed and hostile frames.

use std::borrow::Cow;

use hotline_twilio::media::{
    Inbound, Outbound, Payload, Track, clear_json, mark_json, media_json, media_json_from_audio,
    parse_inbound, parse_outbound,
};
use serde_json::Value;

const STREAM_SID: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/twilio/media/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("read media fixture")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// A 20 ms frame as Twilio sends it: 160 µ-law bytes, 216 base64 characters.
fn realistic_frame() -> (String, String) {
    let payload = "/".repeat(212) + "/w==";
    let text = format!(
        r#"{{"event":"media","sequenceNumber":"12","media":{{"track":"inbound","chunk":"11","timestamp":"220","payload":"{payload}"}},"streamSid":"{STREAM_SID}"}}"#
    );
    (text, payload)
}

// ---- every documented inbound example parses, and writes back the same ----

#[test]
fn every_documented_inbound_example_parses_and_round_trips() {
    for name in [
        "connected.json",
        "start.json",
        "media.json",
        "dtmf.json",
        "mark.json",
        "stop.json",
    ] {
        let text = fixture(name);
        let message = parse_inbound(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!matches!(message, Inbound::Unknown(_)), "{name}");
        assert_eq!(message.event(), json(&text)["event"], "{name}");
        let written = message.to_json();
        assert_eq!(
            json(&written),
            json(&text),
            "{name}: to_json keeps every field"
        );
        assert_eq!(
            parse_inbound(&written).ok(),
            Some(message),
            "{name}: reparse"
        );
    }
}

#[test]
fn connected_has_protocol_and_version_but_no_stream() {
    let Ok(Inbound::Connected(c)) = parse_inbound(&fixture("connected.json")) else {
        panic!("connected");
    };
    assert_eq!(c.protocol.as_deref(), Some("Call"));
    assert_eq!(c.version.as_deref(), Some("1.0.0"));
    let message = Inbound::Connected(c);
    assert_eq!(
        (message.stream_sid(), message.sequence_number()),
        (None, None)
    );
}

#[test]
fn start_says_whose_stream_it_is() {
    let Ok(Inbound::Start(start)) = parse_inbound(&fixture("start.json")) else {
        panic!("start");
    };
    assert_eq!(start.sequence_number, Some(1));
    assert_eq!(start.stream_sid, "MZxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(start.account_sid, "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(start.call_sid, "CAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_eq!(start.tracks, vec![Track::Inbound]);
    assert_eq!(
        start.custom_parameters.get("callId").map(String::as_str),
        Some("c_01HZX...")
    );
    assert_eq!(
        start.custom_parameters.get("token").map(String::as_str),
        Some("3b9f...")
    );
    assert!(start.media_format.is_mulaw_8k_mono());
    // The notes' placeholders are not real SIDs: the typed accessors say so.
    assert!(start.parse_call_sid().is_err());
}

#[test]
fn start_sids_type_check_when_real() {
    let text = format!(
        r#"{{"event":"start","sequenceNumber":1,"start":{{"accountSid":"AC0123456789abcdef0123456789abcdef",
        "streamSid":"{STREAM_SID}","callSid":"CA0123456789abcdef0123456789abcdef","tracks":["inbound"],
        "mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":"1"}}}},
        "streamSid":"{STREAM_SID}"}}"#
    );
    let Ok(Inbound::Start(start)) = parse_inbound(&text) else {
        panic!("start");
    };
    assert_eq!(
        start
            .parse_stream_sid()
            .map(|s| s.to_string())
            .ok()
            .as_deref(),
        Some(STREAM_SID)
    );
    assert!(start.parse_call_sid().is_ok());
    assert!(start.parse_account_sid().is_ok());
    assert!(
        start.custom_parameters.is_empty(),
        "no <Parameter>s is fine"
    );
    assert!(
        start.media_format.is_mulaw_8k_mono(),
        "numbers as strings too"
    );
}

#[test]
fn media_numbers_arrive_as_strings() {
    let text = fixture("media.json");
    let Ok(Inbound::Media(media)) = parse_inbound(&text) else {
        panic!("media");
    };
    assert_eq!(media.sequence_number, Some(4));
    assert_eq!((media.chunk, media.timestamp), (2, 5));
    assert_eq!(media.track, Track::Inbound);
    assert_eq!(media.payload.as_base64(), "no+JhoaJjpzS...");
    assert_eq!(media.stream_sid, "MZxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

#[test]
fn media_numbers_may_also_be_numbers() {
    let text = r#"{"event":"media","sequenceNumber":4,"streamSid":"MZ1",
        "media":{"track":"outbound","chunk":2,"timestamp":18446744073709551615,"payload":""}}"#;
    let Ok(Inbound::Media(media)) = parse_inbound(text) else {
        panic!("media");
    };
    assert_eq!(
        (media.sequence_number, media.chunk, media.timestamp),
        (Some(4), 2, u64::MAX)
    );
    assert_eq!(media.track, Track::Outbound);
}

#[test]
fn a_media_frame_borrows_its_payload_and_sid() {
    let (text, payload) = realistic_frame();
    let Ok(Inbound::Media(media)) = parse_inbound(&text) else {
        panic!("media");
    };
    assert!(media.payload.is_borrowed());
    assert!(matches!(media.stream_sid, Cow::Borrowed(_)));
    assert_eq!(media.payload.as_base64(), payload);
    assert_eq!(media.payload.base64_len(), 216);
    assert_eq!(media.payload.decode().map(|b| b.len()).ok(), Some(160));
    assert_eq!((media.chunk, media.timestamp), (11, 220));
}

#[test]
fn an_escaped_payload_is_copied_and_still_right() {
    let text = r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"\/\/8="}}"#;
    let Ok(Inbound::Media(media)) = parse_inbound(text) else {
        panic!("media");
    };
    assert!(!media.payload.is_borrowed());
    assert_eq!(media.payload.decode().ok(), Some(vec![0xff, 0xff]));
}

#[test]
fn an_owned_message_outlives_its_frame() {
    let owned: Inbound<'static> = {
        let (text, _) = realistic_frame();
        parse_inbound(&text).expect("parses").into_owned()
    };
    assert_eq!(owned.stream_sid(), Some(STREAM_SID));
    assert_eq!(owned.sequence_number(), Some(12));
}

#[test]
fn dtmf_track_spelling_reads_as_inbound() {
    let text = fixture("dtmf.json");
    let Ok(Inbound::Dtmf(dtmf)) = parse_inbound(&text) else {
        panic!("dtmf");
    };
    assert_eq!(dtmf.track, Track::Inbound);
    assert_eq!(dtmf.digit, "1");
    assert_eq!(
        (dtmf.stream_sid.as_ref(), dtmf.sequence_number),
        ("MZ...", Some(5))
    );
}

#[test]
fn mark_echo_gives_back_our_name() {
    let text = fixture("mark.json");
    let Ok(Inbound::Mark(mark)) = parse_inbound(&text) else {
        panic!("mark");
    };
    assert_eq!(mark.name, "my label");
    assert_eq!(mark.sequence_number, Some(4));
}

#[test]
fn stop_names_account_and_call() {
    let Ok(Inbound::Stop(stop)) = parse_inbound(&fixture("stop.json")) else {
        panic!("stop");
    };
    assert_eq!(
        (
            stop.account_sid.as_str(),
            stop.call_sid.as_str(),
            stop.stream_sid.as_str()
        ),
        ("AC...", "CA...", "MZ...")
    );
    assert_eq!(stop.sequence_number, Some(5));
}

// ---- outbound ----

#[test]
fn outbound_messages_serialize_to_the_documented_shapes() {
    let media = media_json("MZ...", "<base64 µ-law 8 kHz mono>");
    assert_eq!(json(&media), json(&fixture("outbound_media.json")));
    let mark = mark_json("MZ...", "resp_123:item_456:1840");
    assert_eq!(json(&mark), json(&fixture("outbound_mark.json")));
    let clear = clear_json("MZ...");
    assert_eq!(json(&clear), json(&fixture("outbound_clear.json")));
}

#[test]
fn outbound_text_is_compact_and_in_documented_key_order() {
    assert_eq!(
        media_json("MZ1", "//8="),
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}"#
    );
    assert_eq!(
        mark_json("MZ1", "item_1:40"),
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"item_1:40"}}"#
    );
    assert_eq!(clear_json("MZ1"), r#"{"event":"clear","streamSid":"MZ1"}"#);
}

#[test]
fn outbound_values_write_the_same_text_and_parse_back() {
    let (_, payload) = realistic_frame();
    let messages = [
        Outbound::Media {
            stream_sid: STREAM_SID.into(),
            payload: Payload::from_base64(payload.as_str()),
        },
        Outbound::Mark {
            stream_sid: STREAM_SID.into(),
            name: "resp_1:item_2:\"quoted\"\n".into(),
        },
        Outbound::Clear {
            stream_sid: STREAM_SID.into(),
        },
    ];
    for message in messages {
        let text = message.to_json();
        assert_eq!(
            parse_outbound(&text).ok().as_ref(),
            Some(&message),
            "{text}"
        );
        assert_eq!(message.stream_sid(), STREAM_SID);
    }
    assert_eq!(
        media_json_from_audio(STREAM_SID, &[0xff; 160]),
        media_json(STREAM_SID, &payload)
    );
}

#[test]
fn outbound_parsing_refuses_what_twilio_would() {
    for text in [
        r#"{"event":"media","streamSid":"MZ1"}"#,
        r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#,
        r#"{"event":"clear"}"#,
        r#"{"event":"start","streamSid":"MZ1"}"#,
        "not json",
    ] {
        assert!(parse_outbound(text).is_err(), "{text}");
    }
}

#[test]
fn audio_never_shows_in_debug_output() {
    let (text, payload) = realistic_frame();
    let message = parse_inbound(&text).expect("parses");
    let debug = format!("{message:?}");
    assert!(debug.contains("base64_len: 216"), "{debug}");
    assert!(!debug.contains(&payload[..20]), "{debug}");
    let out = Outbound::Media {
        stream_sid: STREAM_SID.into(),
        payload: Payload::from_base64(payload.as_str()),
    };
    assert!(!format!("{out:?}").contains(&payload[..20]));
}

// ---- unknown, out of order, malformed ----

#[test]
fn unknown_events_parse_to_unknown_whatever_they_carry() {
    for (text, event) in [
        (
            r#"{"event":"brand_new","sequenceNumber":"9","streamSid":"MZ1","brand_new":{"x":[1]}}"#,
            "brand_new",
        ),
        (
            r#"{"event":"later","media":"not an object","start":42}"#,
            "later",
        ),
        (
            r#"{"media":"not an object","stop":[],"event":"early"}"#,
            "early",
        ),
    ] {
        let message = parse_inbound(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(matches!(message, Inbound::Unknown(_)), "{text}");
        assert_eq!(message.event(), event);
    }
    let Ok(Inbound::Unknown(u)) =
        parse_inbound(r#"{"event":"x","sequenceNumber":"9","streamSid":"MZ1"}"#)
    else {
        panic!("unknown");
    };
    assert_eq!(
        (u.sequence_number, u.stream_sid.as_deref()),
        (Some(9), Some("MZ1"))
    );
}

#[test]
fn event_need_not_come_first() {
    let text = r#"{"media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"AA=="},
        "streamSid":"MZ1","sequenceNumber":"4","event":"media"}"#;
    let Ok(Inbound::Media(media)) = parse_inbound(text) else {
        panic!("media");
    };
    assert_eq!(
        (media.chunk, media.timestamp, media.payload.as_base64()),
        (2, 5, "AA==")
    );
}

#[test]
fn extra_fields_are_ignored() {
    let text = r#"{"event":"stop","sequenceNumber":"5","streamSid":"MZ1","extra":{"a":1},
        "stop":{"accountSid":"AC1","callSid":"CA1","reason":"call ended"}}"#;
    assert!(matches!(parse_inbound(text), Ok(Inbound::Stop(_))));
    let unknown_track = r#"{"event":"media","streamSid":"MZ1",
        "media":{"track":"mixed","chunk":"1","timestamp":"0","payload":""}}"#;
    let Ok(Inbound::Media(media)) = parse_inbound(unknown_track) else {
        panic!("media");
    };
    assert_eq!(media.track, Track::Other("mixed".to_owned()));
}

#[test]
fn malformed_frames_missing_fields_and_bad_types_are_errors() {
    let media = |body: &str| format!(r#"{{"event":"media","streamSid":"MZ1","media":{body}}}"#);
    let bad = [
        String::new(),
        "not json".to_owned(),
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        "{}".to_owned(),
        r#"{"streamSid":"MZ1"}"#.to_owned(),
        r#"{"event":5}"#.to_owned(),
        r#"{"event":null}"#.to_owned(),
        r#"{"event":"media","streamSid":"MZ1"}"#.to_owned(),
        r#"{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":""}}"#
            .to_owned(),
        media(r#"{"track":"inbound","chunk":"1","timestamp":"0"}"#),
        media(r#"{"track":"inbound","chunk":"1","payload":""}"#),
        media(r#"{"track":"inbound","chunk":"one","timestamp":"0","payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":"-1","payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":-1,"payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":1.5,"payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":"","payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":"99999999999999999999","payload":""}"#),
        media(r#"{"track":"inbound","chunk":"1","timestamp":"0","payload":42}"#),
        media(r#"{"track":7,"chunk":"1","timestamp":"0","payload":""}"#),
        media(r#""a string""#),
        r#"{"event":"mark","streamSid":"MZ1","mark":{}}"#.to_owned(),
        r#"{"event":"mark","streamSid":"MZ1"}"#.to_owned(),
        r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track"}}"#.to_owned(),
        r#"{"event":"stop","streamSid":"MZ1","stop":{"accountSid":"AC1"}}"#.to_owned(),
        r#"{"event":"start","streamSid":"MZ1","start":{"accountSid":"AC1","callSid":"CA1"}}"#
            .to_owned(),
        r#"{"event":"start","start":{"accountSid":"AC1","callSid":"CA1","streamSid":"MZ1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":70000}}}"#
            .to_owned(),
        r#"{"event":"start","streamSid":"MZ2","start":{"accountSid":"AC1","callSid":"CA1","streamSid":"MZ1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#
            .to_owned(),
        r#"{"event":"start","streamSid":"MZ1","start":{"accountSid":"AC1","callSid":"CA1","customParameters":{"n":1},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#
            .to_owned(),
        r#"{"event":"connected","version":1}"#.to_owned(),
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}} trailing"#.to_owned(),
    ];
    for text in &bad {
        assert!(parse_inbound(text).is_err(), "{text:?} should fail");
    }
}

#[test]
fn no_prefix_of_any_fixture_panics() {
    let (frame, _) = realistic_frame();
    let mut texts: Vec<String> = [
        "connected.json",
        "start.json",
        "media.json",
        "dtmf.json",
        "mark.json",
        "stop.json",
        "outbound_media.json",
        "outbound_mark.json",
        "outbound_clear.json",
    ]
    .into_iter()
    .map(fixture)
    .collect();
    texts.push(frame);
    for text in &texts {
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = parse_inbound(&text[..end]);
            let _ = parse_outbound(&text[..end]);
        }
    }
}
