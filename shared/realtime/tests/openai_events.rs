//! OpenAI Realtime GA events against the shapes in the protocol notes
//! (`openai-realtime.md`, copied into `tests/fixtures/openai/*.json`), plus the parser's
//! behaviour on unknown, malformed and hostile input.

use crate::common::{assert_subset, fixtures, json};
use hotline_realtime::openai::{
    Audio, AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, ContentPart,
    FunctionTool, InputAudioBufferAppend, Item, MaxOutputTokens, Modality, NoiseReduction,
    NoiseReductionKind, ResponseConfig, ResponseStatus, Role, ServerEvent, ServerVad, Session,
    Tool, ToolChoice, ToolChoiceMode, Transcription, TranscriptionUsage, TurnDetection, Voice,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = crate::common::fixture_dir("").join(name);
    std::fs::read_to_string(path).expect("read fixture")
}

fn to_value(event: &ClientEvent<'_>) -> Value {
    json(&event.to_json().expect("client events serialize"))
}

/// The GA `session.update` of the notes, §2.
fn notes_session() -> Session {
    Session {
        model: Some("gpt-realtime".to_owned()),
        output_modalities: Some(vec![Modality::Audio]),
        instructions: Some("You are …".to_owned()),
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                format: Some(AudioFormat::Pcmu),
                noise_reduction: Some(Some(NoiseReduction {
                    kind: Some(NoiseReductionKind::NearField),
                })),
                transcription: Some(Some(Transcription {
                    model: Some("gpt-4o-transcribe".to_owned()),
                    language: Some("en".to_owned()),
                    prompt: None,
                })),
                turn_detection: Some(Some(TurnDetection::ServerVad(ServerVad {
                    threshold: Some(0.5),
                    prefix_padding_ms: Some(300),
                    silence_duration_ms: Some(500),
                    create_response: Some(true),
                    interrupt_response: Some(true),
                    idle_timeout_ms: None,
                }))),
            }),
            output: Some(AudioOutput {
                format: Some(AudioFormat::Pcmu),
                voice: Some(Voice::from("marin")),
                speed: Some(1.0),
            }),
        }),
        tools: Some(vec![Tool::Function(FunctionTool {
            name: "transfer_call".to_owned(),
            description: Some("…".to_owned()),
            parameters: Some(serde_json::json!({
                "type": "object",
                "properties": { "reason": { "type": "string" } },
                "required": ["reason"]
            })),
        })]),
        tool_choice: Some(ToolChoice::Mode(ToolChoiceMode::Auto)),
        max_output_tokens: Some(MaxOutputTokens::Inf),
        ..Session::realtime()
    }
}

// ---- client events serialize to the documented shapes ----

#[test]
fn session_update_serializes_to_the_ga_shape_of_the_notes() {
    let event = ClientEvent::session_update(notes_session());
    assert_eq!(
        to_value(&event),
        json(&fixture("client_session_update.json"))
    );
}

#[test]
fn session_update_can_switch_features_off_with_null() {
    let session = Session {
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                turn_detection: Some(None),
                noise_reduction: Some(None),
                ..AudioInput::default()
            }),
            output: None,
        }),
        ..Session::realtime()
    };
    assert_eq!(
        to_value(&ClientEvent::session_update(session)),
        serde_json::json!({
            "type": "session.update",
            "session": { "type": "realtime", "audio": { "input": {
                "noise_reduction": null, "turn_detection": null } } }
        })
    );
}

#[test]
fn conversation_items_serialize_to_the_documented_shapes() {
    let cases = [
        (
            Item::user_text("Greet the caller."),
            "client_conversation_item_create_user.json",
        ),
        (
            Item::system_text("Caller is a VIP."),
            "client_conversation_item_create_system.json",
        ),
        (
            Item::function_call_output("call_abc", r#"{"ok":true}"#),
            "client_conversation_item_create_function_call_output.json",
        ),
    ];
    for (item, name) in cases {
        assert_eq!(
            to_value(&ClientEvent::item_create(item)),
            json(&fixture(name)),
            "{name}"
        );
    }
}

#[test]
fn response_create_serializes_bare_or_with_instructions() {
    assert_eq!(
        ClientEvent::response_create(None).to_json().ok().as_deref(),
        Some(fixture("client_response_create.json").trim())
    );
    let config = ResponseConfig {
        instructions: Some("Greet the caller and ask how you can help.".to_owned()),
        ..ResponseConfig::default()
    };
    assert_eq!(
        to_value(&ClientEvent::response_create(Some(config))),
        json(&fixture("client_response_create_instructions.json"))
    );
}

#[test]
fn audio_and_buffer_events_serialize_to_the_exact_documented_text() {
    let cases = [
        (
            ClientEvent::append("no+JhoaJjpzS"),
            "client_input_audio_buffer_append.json",
        ),
        (
            ClientEvent::truncate("item_CJrGhSqmKQcOvNAoJbZ7l", 1840),
            "client_conversation_item_truncate.json",
        ),
        (
            ClientEvent::InputAudioBufferCommit(Default::default()),
            "client_input_audio_buffer_commit.json",
        ),
        (
            ClientEvent::InputAudioBufferClear(Default::default()),
            "client_input_audio_buffer_clear.json",
        ),
        (
            ClientEvent::response_cancel(),
            "client_response_cancel.json",
        ),
    ];
    for (event, name) in cases {
        assert_eq!(
            event.to_json().ok().as_deref(),
            Some(fixture(name).trim()),
            "{name}"
        );
    }
}

#[test]
fn every_documented_client_example_parses_back_to_what_we_send() {
    for (name, text) in fixtures("", "client_") {
        let event = ClientEvent::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(event, ClientEvent::Unknown, "{name}");
        assert_eq!(event.event_type(), json(&text)["type"], "{name}");
        assert_eq!(to_value(&event), json(&text), "{name}");
    }
}

#[test]
fn an_unknown_client_event_has_no_wire_form() {
    assert!(ClientEvent::Unknown.to_json().is_err());
    assert_eq!(
        ClientEvent::parse(r#"{"type":"output_audio_buffer.clear"}"#).ok(),
        Some(ClientEvent::Unknown)
    );
}

// ---- server events parse ----

#[test]
fn every_documented_server_example_parses_to_its_own_variant() {
    let all = fixtures("", "server_");
    assert!(all.len() >= 20, "fixtures present");
    for (name, text) in all {
        let event = ServerEvent::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !matches!(event, ServerEvent::Unknown(_)),
            "{name} parsed as Unknown"
        );
        let source = json(&text);
        assert_eq!(event.event_type(), source["type"], "{name}");
        let ours = json(&event.to_json().expect("known events serialize"));
        assert_subset(&ours, &source, &name);
    }
}

#[test]
fn speech_started_gives_what_barge_in_needs() {
    let text = fixture("server_input_audio_buffer_speech_started.json");
    let Ok(ServerEvent::InputAudioBufferSpeechStarted(e)) = ServerEvent::parse(&text) else {
        panic!("speech_started");
    };
    assert_eq!((e.audio_start_ms, e.item_id.as_str()), (10240, "item_C9z2"));
}

#[test]
fn an_audio_delta_borrows_its_payload_from_the_frame() {
    let text = fixture("server_response_output_audio_delta.json");
    let Ok(ServerEvent::ResponseOutputAudioDelta(delta)) = ServerEvent::parse(&text) else {
        panic!("audio delta");
    };
    assert!(delta.delta.is_borrowed());
    assert_eq!(delta.item_id, "item_C9x3");
    assert_eq!(delta.response_id, "resp_C9x1");
    assert_eq!((delta.output_index, delta.content_index), (1, 0));
    assert_eq!(delta.delta.base64_len(), 216);
    assert_eq!(delta.delta.decode().map(|b| b.len()).ok(), Some(160));
    assert!(!format!("{delta:?}").contains(delta.delta.as_base64()));
}

#[test]
fn escaped_text_is_copied_and_still_right() {
    let text = r#"{"type":"response.output_audio.delta","item_id":"item_1","delta":"ab\/cd=="}"#;
    let Ok(ServerEvent::ResponseOutputAudioDelta(delta)) = ServerEvent::parse(text) else {
        panic!("audio delta");
    };
    assert!(!delta.delta.is_borrowed());
    assert_eq!(delta.delta.as_base64(), "ab/cd==");
}

#[test]
fn an_owned_event_outlives_its_frame() {
    let owned: ServerEvent<'static> = {
        let text = fixture("server_response_output_audio_delta.json");
        ServerEvent::parse(&text).expect("parses").into_owned()
    };
    let ServerEvent::ResponseOutputAudioDelta(delta) = owned else {
        panic!("audio delta");
    };
    assert_eq!(delta.delta.base64_len(), 216);
}

#[test]
fn function_call_arguments_done_names_the_tool_and_its_call() {
    let text = fixture("server_response_function_call_arguments_done.json");
    let Ok(ServerEvent::ResponseFunctionCallArgumentsDone(call)) = ServerEvent::parse(&text) else {
        panic!("function_call_arguments.done");
    };
    assert_eq!(call.name, "transfer_call");
    assert_eq!(call.call_id, "call_Kx81");
    assert_eq!(json(&call.arguments)["reason"], "billing");
}

#[test]
fn response_done_carries_status_output_and_usage() {
    let text = fixture("server_response_done.json");
    let Ok(ServerEvent::ResponseDone(done)) = ServerEvent::parse(&text) else {
        panic!("response.done");
    };
    let response = &done.response;
    assert_eq!(response.status, Some(ResponseStatus::Completed));
    let Some(Item::FunctionCall(call)) = response.output.first() else {
        panic!("function call first");
    };
    assert_eq!(call.call_id.as_deref(), Some("call_Kx81"));
    let Some(Item::Message(message)) = response.output.get(1) else {
        panic!("assistant message second");
    };
    assert_eq!(message.role, Role::Assistant);
    assert!(matches!(
        message.content.first(),
        Some(ContentPart::OutputAudio { transcript: Some(t), .. }) if t.starts_with("Let me")
    ));
    let usage = response.usage.as_ref().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(1000), Some(234), Some(1234))
    );
    let cached = usage
        .input_token_details
        .as_ref()
        .and_then(|d| d.cached_tokens);
    assert_eq!(cached, Some(320));
}

#[test]
fn a_cancelled_response_says_why() {
    let text = fixture("server_response_done_cancelled.json");
    let Ok(ServerEvent::ResponseDone(done)) = ServerEvent::parse(&text) else {
        panic!("response.done");
    };
    assert_eq!(done.response.status, Some(ResponseStatus::Cancelled));
    let details = done.response.status_details.as_ref().expect("details");
    assert_eq!(details.reason.as_deref(), Some("turn_detected"));
}

#[test]
fn the_error_event_keeps_every_documented_field() {
    let text = fixture("server_error.json");
    let Ok(ServerEvent::Error(e)) = ServerEvent::parse(&text) else {
        panic!("error");
    };
    assert_eq!(e.event_id, "event_890");
    assert_eq!(e.error.kind, "invalid_request_error");
    assert_eq!(e.error.code.as_deref(), Some("invalid_value"));
    assert_eq!(e.error.param.as_deref(), Some("session.audio.input.format"));
    assert_eq!(e.error.event_id.as_deref(), Some("evt_client_12"));
}

#[test]
fn input_transcription_usage_comes_in_tokens_or_seconds() {
    let tokens = fixture("server_conversation_item_input_audio_transcription_completed.json");
    let Ok(ServerEvent::InputAudioTranscriptionCompleted(done)) = ServerEvent::parse(&tokens)
    else {
        panic!("transcription completed");
    };
    assert_eq!(done.transcript, "I'd like to talk to billing.");
    assert!(matches!(
        done.usage,
        Some(TranscriptionUsage::Tokens {
            total_tokens: 38,
            ..
        })
    ));
    let seconds =
        fixture("server_conversation_item_input_audio_transcription_completed_duration.json");
    let Ok(ServerEvent::InputAudioTranscriptionCompleted(done)) = ServerEvent::parse(&seconds)
    else {
        panic!("transcription completed");
    };
    assert_eq!(
        done.usage,
        Some(TranscriptionUsage::Duration { seconds: 1.2 })
    );
}

#[test]
fn session_events_read_the_effective_config() {
    let text = fixture("server_session_updated.json");
    let Ok(ServerEvent::SessionUpdated(updated)) = ServerEvent::parse(&text) else {
        panic!("session.updated");
    };
    let input = updated
        .session
        .audio
        .as_ref()
        .and_then(|a| a.input.as_ref());
    assert_eq!(input.and_then(|i| i.format), Some(AudioFormat::Pcmu));
    let created = fixture("server_session_created.json");
    let Ok(ServerEvent::SessionCreated(created)) = ServerEvent::parse(&created) else {
        panic!("session.created");
    };
    let input = created
        .session
        .audio
        .as_ref()
        .and_then(|a| a.input.as_ref());
    assert_eq!(
        input.and_then(|i| i.format),
        Some(AudioFormat::Pcm { rate: Some(24000) })
    );
    // `null` in a server echo reads as "off", not as "absent".
    assert_eq!(input.and_then(|i| i.transcription.clone()), Some(None));
}

// ---- unknown, extra, missing, malformed ----

#[test]
fn an_unknown_type_parses_to_unknown_wherever_type_sits() {
    let first = r#"{"type":"output_audio_buffer.started","event_id":"e","response_id":"r"}"#;
    let last = r#"{"event_id":"e","nested":{"a":[1,{"b":null}]},"type":"brand.new.event"}"#;
    for (text, expected) in [
        (first, "output_audio_buffer.started"),
        (last, "brand.new.event"),
    ] {
        let event = ServerEvent::parse(text).expect("unknown types never fail");
        assert!(matches!(event, ServerEvent::Unknown(_)), "{text}");
        assert_eq!(event.event_type(), expected);
    }
}

#[test]
fn type_need_not_come_first() {
    let text = r#"{"event_id":"e1","audio_start_ms":5,"item_id":"item_2","type":"input_audio_buffer.speech_started"}"#;
    let Ok(ServerEvent::InputAudioBufferSpeechStarted(e)) = ServerEvent::parse(text) else {
        panic!("speech_started");
    };
    assert_eq!(
        (e.event_id.as_str(), e.audio_start_ms, e.item_id.as_str()),
        ("e1", 5, "item_2")
    );
}

#[test]
fn extra_fields_and_missing_optional_fields_do_not_break_parsing() {
    let extra = r#"{"type":"response.output_audio.delta","item_id":"i","delta":"AAAA",
        "brand_new":{"x":[1,2]},"output_index":0}"#;
    assert!(matches!(
        ServerEvent::parse(extra),
        Ok(ServerEvent::ResponseOutputAudioDelta(_))
    ));
    let sparse = r#"{"type":"response.done","response":{}}"#;
    assert!(matches!(
        ServerEvent::parse(sparse),
        Ok(ServerEvent::ResponseDone(_))
    ));
    let nulls =
        r#"{"type":"response.done","response":{"output":null,"usage":null,"status":"brand_new"}}"#;
    let Ok(ServerEvent::ResponseDone(done)) = ServerEvent::parse(nulls) else {
        panic!("response.done with nulls");
    };
    assert!(done.response.output.is_empty());
    assert_eq!(done.response.status, Some(ResponseStatus::Unknown));
    let mcp_item = r#"{"type":"conversation.item.added","item":{"type":"mcp_call","id":"x"}}"#;
    let Ok(ServerEvent::ConversationItemAdded(added)) = ServerEvent::parse(mcp_item) else {
        panic!("item added");
    };
    assert_eq!(added.item, Item::Unknown);
}

#[test]
fn malformed_frames_missing_fields_and_bad_types_are_errors() {
    let bad = [
        "",
        "not json",
        "{",
        "[]",
        "null",
        "42",
        "{}",
        r#"{"event_id":"e"}"#,
        r#"{"type":null}"#,
        r#"{"type":5}"#,
        r#"{"event_id":"e","type":7}"#,
        r#"{"type":"error"}"#,
        r#"{"type":"input_audio_buffer.speech_started","item_id":"i"}"#,
        r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":"soon","item_id":"i"}"#,
        r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":-1,"item_id":"i"}"#,
        r#"{"type":"response.output_audio.delta","item_id":"i"}"#,
        r#"{"type":"response.output_audio.delta","item_id":"i","delta":5}"#,
        r#"{"type":"response.function_call_arguments.done","call_id":"c","name":"n"}"#,
        r#"{"type":"response.done","response":{"output":[{"type":"message"}]}}"#,
        r#"{"type":"input_audio_buffer.committed","item_id":"i"} trailing"#,
    ];
    for text in bad {
        assert!(ServerEvent::parse(text).is_err(), "{text:?} should fail");
    }
}

#[test]
fn no_prefix_of_any_fixture_panics() {
    for (name, text) in fixtures("", "") {
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let prefix = &text[..end];
            // Either direction's parser: errors are fine, panics are not.
            let _ = ServerEvent::parse(prefix);
            let _ = ClientEvent::parse(prefix);
        }
        assert!(!name.is_empty());
    }
}

#[test]
fn audio_never_shows_in_debug_output() {
    let event = ClientEvent::append("c2VjcmV0IGNhbGxlciBhdWRpbw==");
    let debug = format!("{event:?}");
    assert!(debug.contains("base64_len: 28"), "{debug}");
    assert!(!debug.contains("c2VjcmV0"), "{debug}");
    let owned = Audio::from_base64(String::from("c2VjcmV0"));
    assert!(!format!("{owned:?}").contains("c2VjcmV0"));
}

#[test]
fn the_hand_written_append_frame_is_what_serde_writes() {
    let frame = Audio::encode(&[0xff; 160]);
    let cases = [
        (None, frame.as_base64()),
        (Some("evt_1"), frame.as_base64()),
        (Some("odd \"id\"\n"), "not\\base64\u{1}"),
        (None, ""),
    ];
    for (event_id, audio) in cases {
        let event = ClientEvent::InputAudioBufferAppend(InputAudioBufferAppend {
            event_id: event_id.map(str::to_owned),
            audio: Audio::from_base64(audio),
        });
        assert_eq!(
            event.to_json().ok(),
            serde_json::to_string(&event).ok(),
            "{event_id:?}"
        );
    }
}
