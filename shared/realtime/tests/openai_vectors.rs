//! Cross-checks against OpenAI's official Python library (`tests/vectors/generate.py`):
//! events built with its pydantic models (`tests/fixtures/openai/pydantic/`) must parse,
//! and the events we serialize (`tests/fixtures/openai/ours/`) must have passed its strict
//! validation (`ours/validation.json`).
//!
//! `REGENERATE=1 cargo test -p hotline-realtime --test main openai_vectors::` rewrites `ours/`;
//! then run the generator to refresh the validation results.

use std::collections::BTreeMap;

use crate::common::{assert_subset, dropped_fields, fixture_dir, fixtures, json};
use hotline_realtime::openai::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, ConversationItemCreate,
    ConversationItemDelete, ConversationItemRetrieve, FunctionTool, InputAudioBufferClear, Item,
    MaxOutputTokens, Modality, NoiseReduction, NoiseReductionKind, ResponseAudio, ResponseCancel,
    ResponseConfig, ServerEvent, ServerVad, Session, Tool, ToolChoice, ToolChoiceFunction,
    ToolChoiceMode, Transcription, TurnDetection, Voice,
};
use serde::Deserialize;
use serde_json::Value;

fn regenerating() -> bool {
    std::env::var_os("REGENERATE").is_some_and(|v| v == "1")
}

fn transfer_tool() -> Tool {
    Tool::Function(FunctionTool {
        name: "transfer_call".to_owned(),
        description: Some("Transfer the caller to a human.".to_owned()),
        parameters: Some(serde_json::json!({
            "type": "object",
            "properties": { "reason": { "type": "string" } },
            "required": ["reason"]
        })),
    })
}

/// The session hotline opens a phone call with.
fn phone_session() -> Session {
    Session {
        model: Some("gpt-realtime".to_owned()),
        instructions: Some("You are the front desk of a dental practice.".to_owned()),
        output_modalities: Some(vec![Modality::Audio]),
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                format: Some(AudioFormat::Pcmu),
                noise_reduction: Some(Some(NoiseReduction {
                    kind: Some(NoiseReductionKind::NearField),
                })),
                transcription: Some(Some(Transcription {
                    model: Some("gpt-4o-transcribe".to_owned()),
                    language: Some("en".to_owned()),
                    prompt: Some("Dental terms: crown, filling, hygienist.".to_owned()),
                })),
                turn_detection: Some(Some(TurnDetection::ServerVad(ServerVad {
                    threshold: Some(0.6),
                    prefix_padding_ms: Some(300),
                    silence_duration_ms: Some(500),
                    create_response: Some(true),
                    interrupt_response: Some(true),
                    idle_timeout_ms: Some(8000),
                }))),
            }),
            output: Some(AudioOutput {
                format: Some(AudioFormat::Pcmu),
                voice: Some(Voice::from("marin")),
                speed: Some(1.0),
            }),
        }),
        tools: Some(vec![transfer_tool()]),
        tool_choice: Some(ToolChoice::Mode(ToolChoiceMode::Auto)),
        max_output_tokens: Some(MaxOutputTokens::Limit(1024)),
        ..Session::realtime()
    }
}

/// Every client event shape hotline sends, named for its file under `ours/`.
fn our_client_events() -> Vec<(&'static str, ClientEvent<'static>)> {
    let frame = hotline_realtime::openai::Audio::encode(&[0xff; 160]);
    vec![
        (
            "session_update",
            ClientEvent::session_update(phone_session()),
        ),
        (
            "session_update_manual_turns",
            ClientEvent::session_update(Session {
                instructions: Some(String::new()),
                tools: Some(Vec::new()),
                audio: Some(AudioConfig {
                    input: Some(AudioInput {
                        turn_detection: Some(None),
                        noise_reduction: Some(None),
                        transcription: Some(None),
                        ..AudioInput::default()
                    }),
                    output: Some(AudioOutput {
                        voice: Some(Voice::Custom {
                            id: "voice_1234".to_owned(),
                        }),
                        ..AudioOutput::default()
                    }),
                }),
                ..Session::realtime()
            }),
        ),
        (
            "session_update_semantic_vad_pcm",
            ClientEvent::session_update(Session {
                output_modalities: Some(vec![Modality::Text]),
                audio: Some(AudioConfig {
                    input: Some(AudioInput {
                        format: Some(AudioFormat::Pcm { rate: Some(24000) }),
                        turn_detection: Some(Some(TurnDetection::SemanticVad(
                            hotline_realtime::openai::SemanticVad {
                                eagerness: Some("low".to_owned()),
                                create_response: Some(true),
                                interrupt_response: Some(false),
                            },
                        ))),
                        ..AudioInput::default()
                    }),
                    output: None,
                }),
                max_output_tokens: Some(MaxOutputTokens::Inf),
                tool_choice: Some(ToolChoice::Mode(ToolChoiceMode::None)),
                ..Session::realtime()
            }),
        ),
        ("input_audio_buffer_append", ClientEvent::append(frame)),
        (
            "input_audio_buffer_commit",
            ClientEvent::InputAudioBufferCommit(Default::default()),
        ),
        (
            "input_audio_buffer_clear",
            ClientEvent::InputAudioBufferClear(InputAudioBufferClear {
                event_id: Some("evt_client_7".to_owned()),
            }),
        ),
        (
            "conversation_item_create_user_text",
            ClientEvent::item_create(Item::user_text("Greet the caller.")),
        ),
        (
            "conversation_item_create_system_text",
            ClientEvent::ConversationItemCreate(ConversationItemCreate {
                event_id: None,
                previous_item_id: Some("root".to_owned()),
                item: Item::system_text("Caller is a VIP."),
            }),
        ),
        (
            "conversation_item_create_function_call_output",
            ClientEvent::item_create(Item::function_call_output("call_Kx81", r#"{"ok":true}"#)),
        ),
        (
            "conversation_item_truncate",
            ClientEvent::truncate("item_C9x3", 1840),
        ),
        (
            "conversation_item_delete",
            ClientEvent::ConversationItemDelete(ConversationItemDelete {
                event_id: None,
                item_id: "item_C9x3".to_owned(),
            }),
        ),
        (
            "conversation_item_retrieve",
            ClientEvent::ConversationItemRetrieve(ConversationItemRetrieve {
                event_id: None,
                item_id: "item_C9x3".to_owned(),
            }),
        ),
        ("response_create", ClientEvent::response_create(None)),
        (
            "response_create_config",
            ClientEvent::response_create(Some(ResponseConfig {
                instructions: Some("Greet the caller and ask how you can help.".to_owned()),
                output_modalities: Some(vec![Modality::Audio]),
                tools: Some(vec![transfer_tool()]),
                tool_choice: Some(ToolChoice::Function(ToolChoiceFunction {
                    name: "transfer_call".to_owned(),
                })),
                conversation: Some("none".to_owned()),
                input: Some(vec![Item::user_text("Summarize the call so far.")]),
                metadata: Some(BTreeMap::from([(
                    "purpose".to_owned(),
                    "summary".to_owned(),
                )])),
                max_output_tokens: Some(MaxOutputTokens::Limit(400)),
                audio: Some(ResponseAudio {
                    output: Some(AudioOutput {
                        format: Some(AudioFormat::Pcmu),
                        voice: Some(Voice::from("marin")),
                        speed: None,
                    }),
                }),
            })),
        ),
        (
            "response_cancel",
            ClientEvent::ResponseCancel(ResponseCancel {
                event_id: Some("evt_client_9".to_owned()),
                response_id: Some("resp_C9x1".to_owned()),
            }),
        ),
    ]
}

/// What goes under `ours/`: our client events, and the notes' server examples as we
/// re-serialize them after parsing (so pydantic checks our server field names too).
fn ours() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = our_client_events()
        .into_iter()
        .map(|(name, event)| {
            let text = event.to_json().expect("client events serialize");
            (format!("client_{name}.json"), text + "\n")
        })
        .collect();
    for (name, text) in fixtures("", "server_") {
        let event = ServerEvent::parse(&text).expect("notes example parses");
        let text = event.to_json().expect("known events serialize");
        files.push((name, text + "\n"));
    }
    files.sort();
    files
}

#[test]
fn the_events_we_serialize_are_the_ones_pydantic_validated() {
    let dir = fixture_dir("ours");
    let expected = ours();
    if regenerating() {
        for (stale, _) in fixtures("ours", "") {
            if stale != "validation.json" {
                std::fs::remove_file(dir.join(stale)).expect("remove stale");
            }
        }
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).expect("write ours");
        }
        return;
    }
    let committed: Vec<(String, String)> = fixtures("ours", "")
        .into_iter()
        .filter(|(name, _)| name != "validation.json")
        .collect();
    let stale = "tests/fixtures/openai/ours is stale: rerun with REGENERATE=1, then generate.py";
    let names = |files: &[(String, String)]| -> Vec<String> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(names(&committed), names(&expected), "{stale}");
    for ((name, committed), (_, expected)) in committed.iter().zip(&expected) {
        assert_eq!(committed, expected, "{name}: {stale}");
    }
}

#[derive(Deserialize)]
struct Validation {
    openai_version: String,
    results: Vec<ValidationResult>,
}

#[derive(Deserialize)]
struct ValidationResult {
    file: String,
    union: String,
    model: Option<String>,
    ok: bool,
    errors: Vec<String>,
    undeclared_fields: Vec<String>,
    dumps_back_identically: bool,
    validated: Value,
}

#[test]
fn openais_pydantic_models_accept_every_event_we_serialize() {
    if regenerating() {
        return; // validation.json is refreshed by generate.py after regeneration
    }
    let text = std::fs::read_to_string(fixture_dir("ours").join("validation.json"))
        .expect("read validation.json (run tests/vectors/generate.py)");
    let validation: Validation = serde_json::from_str(&text).expect("parse validation.json");
    assert!(!validation.openai_version.is_empty());
    let expected = ours();
    let validated: Vec<&str> = validation.results.iter().map(|r| r.file.as_str()).collect();
    let files: Vec<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(validated, files, "every file validated, no more");
    for (result, (name, text)) in validation.results.iter().zip(&expected) {
        assert!(
            result.ok && result.errors.is_empty(),
            "{name}: {:?}",
            result.errors
        );
        assert!(
            result.undeclared_fields.is_empty(),
            "{name}: fields OpenAI does not declare: {:?}",
            result.undeclared_fields
        );
        assert!(result.dumps_back_identically, "{name}: coerced by pydantic");
        assert_eq!(result.validated, json(text), "{name}: validated other text");
        let union = if name.starts_with("client_") {
            "RealtimeClientEvent"
        } else {
            "RealtimeServerEvent"
        };
        assert_eq!(result.union, union);
        assert!(result.model.is_some());
    }
}

#[test]
fn every_server_event_built_by_openais_library_parses() {
    let all = fixtures("pydantic", "server_");
    assert!(all.len() >= 30, "pydantic fixtures present");
    for (name, text) in all {
        let source = json(&text);
        let event = ServerEvent::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.event_type(), source["type"], "{name}");
        if name.starts_with("server_unhandled_") {
            assert!(matches!(event, ServerEvent::Unknown(_)), "{name}");
            continue;
        }
        assert!(!matches!(event, ServerEvent::Unknown(_)), "{name}");
        let ours = json(&event.to_json().expect("known events serialize"));
        assert_subset(&ours, &source, &name);
        assert_eq!(
            dropped_fields(&ours, &source, "$"),
            Vec::<String>::new(),
            "{name}: fields OpenAI sends that we drop"
        );
    }
}

#[test]
fn every_client_event_built_by_openais_library_round_trips() {
    let all = fixtures("pydantic", "client_");
    assert!(all.len() >= 10, "pydantic fixtures present");
    for (name, text) in all {
        let event = ClientEvent::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(event, ClientEvent::Unknown, "{name}");
        let ours = json(&event.to_json().expect("client events serialize"));
        assert_eq!(ours, json(&text), "{name}");
    }
}
