//! The Realtime simulator as a client sees it: a real WebSocket on a loopback port,
//! events parsed with hotline's own OpenAI types.

#[path = "gemini/sdk.rs"]
mod gemini_sdk;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hotline_realtime::openai::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, ContentPart, FunctionTool,
    Item, ResponseConfig, ResponseStatus, Role, ServerEvent, ServerVad, Session, Tool,
    Transcription, TurnDetection, Voice,
};
use hotline_sim::realtime::{
    Failure, Pace, RealtimeSim, Received, Script, SessionEnd, ToolCue, Trigger,
};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const MODEL: &str = "gpt-realtime";
const KEY: &str = "sk-test-key";
const WAIT: Duration = Duration::from_secs(10);
/// 8 kHz µ-law: 8 bytes per ms.
const BYTES_PER_MS: usize = 8;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn start(script: Script) -> RealtimeSim {
    RealtimeSim::start(script).await.expect("simulator starts")
}

async fn try_connect(sim: &RealtimeSim, key: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut request = sim.realtime_url(MODEL).into_client_request()?;
    if let Some(key) = key {
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).expect("header value");
        request.headers_mut().insert("authorization", bearer);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(ws)
}

/// A client that has read `session.created`.
async fn connect(sim: &RealtimeSim) -> Client {
    let ws = try_connect(sim, Some(KEY)).await.expect("upgrade accepted");
    let mut client = Client { ws };
    let created = client.next().await;
    assert_eq!(created.event_type(), "session.created");
    client
}

struct Client {
    ws: Ws,
}

impl Client {
    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("frame sent");
    }

    async fn send(&mut self, event: ClientEvent<'_>) {
        self.send_text(event.to_json().expect("event serializes"))
            .await;
    }

    /// The next server event; panics after [`WAIT`] or if the connection ends.
    async fn next(&mut self) -> ServerEvent<'static> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("an event within the wait")
                .expect("connection open")
                .expect("frame reads");
            if let Message::Text(text) = frame {
                return ServerEvent::parse(text.as_str())
                    .expect("server event parses")
                    .into_owned();
            }
        }
    }

    /// Events up to and including the first of `event_type`.
    async fn until(&mut self, event_type: &str) -> Vec<ServerEvent<'static>> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.event_type() == event_type;
            events.push(event);
            if done {
                return events;
            }
        }
    }

    /// µ-law audio in 20 ms appends, as Twilio frames it.
    async fn append(&mut self, audio: &[u8]) {
        for frame in audio.chunks(20 * BYTES_PER_MS) {
            self.send(ClientEvent::append(
                hotline_realtime::openai::Audio::encode(frame),
            ))
            .await;
        }
    }

    /// One caller utterance: `tone_ms` of speech, then `silence_ms` of silence.
    async fn speak(&mut self, tone_ms: u32, silence_ms: usize) {
        self.append(&tone(tone_ms)).await;
        self.append(&silence(silence_ms)).await;
    }

    /// µ-law both ways, transcription on, server VAD: what the bridge sends.
    async fn configure(&mut self) -> Session {
        self.send(ClientEvent::session_update(bridge_session()))
            .await;
        match self.until("session.updated").await.pop() {
            Some(ServerEvent::SessionUpdated(updated)) => updated.session,
            other => panic!("expected session.updated, got {other:?}"),
        }
    }
}

fn tone(ms: u32) -> Vec<u8> {
    hotline_audio::tone_mulaw(440.0, 0.3, ms)
}

fn silence(ms: usize) -> Vec<u8> {
    vec![hotline_audio::SILENCE; ms * BYTES_PER_MS]
}

fn bridge_session() -> Session {
    Session {
        model: Some(MODEL.to_owned()),
        instructions: Some("You answer the phone for Acme.".to_owned()),
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                format: Some(AudioFormat::Pcmu),
                transcription: Some(Some(Transcription {
                    model: Some("gpt-4o-mini-transcribe".to_owned()),
                    ..Transcription::default()
                })),
                turn_detection: Some(Some(TurnDetection::ServerVad(ServerVad {
                    create_response: Some(true),
                    interrupt_response: Some(true),
                    ..ServerVad::default()
                }))),
                ..AudioInput::default()
            }),
            output: Some(AudioOutput {
                format: Some(AudioFormat::Pcmu),
                voice: Some(Voice::from("marin")),
                ..AudioOutput::default()
            }),
        }),
        ..Session::realtime()
    }
}

fn script() -> Script {
    Script {
        api_key: Some(KEY.to_owned()),
        caller_transcripts: vec!["I'd like to book a table.".to_owned()],
        replies: vec!["Sure, for how many people?".to_owned()],
        ..Script::default()
    }
}

fn types<'a>(events: &'a [ServerEvent<'_>]) -> Vec<&'a str> {
    events.iter().map(ServerEvent::event_type).collect()
}

/// Ms of µ-law audio in the events' `response.output_audio.delta`s.
fn audio_ms(events: &[ServerEvent<'_>]) -> usize {
    events
        .iter()
        .map(|e| match e {
            ServerEvent::ResponseOutputAudioDelta(d) => {
                d.delta.decode().expect("delta is base64").len()
            }
            _ => 0,
        })
        .sum::<usize>()
        / BYTES_PER_MS
}

fn error_of<'a>(event: &'a ServerEvent<'_>) -> &'a hotline_realtime::openai::ErrorDetails {
    match event {
        ServerEvent::Error(e) => &e.error,
        other => panic!("expected error, got {other:?}"),
    }
}

fn response_status(event: &ServerEvent<'_>) -> (Option<ResponseStatus>, Option<String>) {
    match event {
        ServerEvent::ResponseDone(done) => (
            done.response.status,
            done.response
                .status_details
                .as_ref()
                .and_then(|d| d.reason.clone()),
        ),
        other => panic!("expected response.done, got {other:?}"),
    }
}

fn http_status(error: tungstenite::Error) -> (u16, String) {
    match error {
        tungstenite::Error::Http(response) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

// ---- connecting ----

#[tokio::test]
async fn session_created_comes_first_and_session_update_is_echoed_merged() {
    let sim = start(script()).await;
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.base_url().ends_with("/v1"));
    let ws = try_connect(&sim, Some(KEY))
        .await
        .expect("upgrade accepted");
    let mut client = Client { ws };

    let ServerEvent::SessionCreated(created) = client.next().await else {
        panic!("session.created first");
    };
    assert_eq!(created.session.model.as_deref(), Some(MODEL));
    let session = client.configure().await;
    assert_eq!(session.model.as_deref(), Some(MODEL));
    assert_eq!(
        session.instructions.as_deref(),
        Some("You answer the phone for Acme.")
    );
    let audio = session.audio.expect("audio config");
    let input = audio.input.expect("input config");
    assert_eq!(input.format, Some(AudioFormat::Pcmu));
    let Some(Some(TurnDetection::ServerVad(vad))) = input.turn_detection else {
        panic!("server VAD");
    };
    assert_eq!(vad.silence_duration_ms, Some(500), "defaults filled in");
    let output = audio.output.expect("output config");
    assert_eq!(output.voice, Some(Voice::from("marin")));
    assert_eq!(output.speed, Some(1.0), "kept from the defaults");

    let log = sim.session(0).expect("session logged");
    assert_eq!(log.model.as_deref(), Some(MODEL));
    assert!(log.bearer_ok);
    assert_eq!(log.openai_beta, None);
    assert_eq!(log.path, "/v1/realtime");
    assert_eq!(log.session_updates().len(), 1);
    assert!(log.is_live());
}

#[tokio::test]
async fn formats_other_than_pcmu_are_refused_with_an_error_event() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    let mut session = bridge_session();
    if let Some(input) = session.audio.as_mut().and_then(|a| a.input.as_mut()) {
        input.format = Some(AudioFormat::Pcm { rate: Some(24_000) });
    }
    let mut update = ClientEvent::session_update(session);
    if let ClientEvent::SessionUpdate(u) = &mut update {
        u.event_id = Some("evt_client_1".to_owned());
    }
    client.send(update).await;

    let event = client.next().await;
    let error = error_of(&event);
    assert_eq!(error.kind, "invalid_request_error");
    assert_eq!(error.code.as_deref(), Some("invalid_value"));
    assert_eq!(error.param.as_deref(), Some("session.audio.input.format"));
    assert_eq!(error.event_id.as_deref(), Some("evt_client_1"));
    // The session stays open and a good update still works.
    client.configure().await;
}

/// `session.update` of `session` carrying `event_id`.
fn update_with_id(session: Session, event_id: &str) -> ClientEvent<'static> {
    let mut update = ClientEvent::session_update(session);
    if let ClientEvent::SessionUpdate(u) = &mut update {
        u.event_id = Some(event_id.to_owned());
    }
    update
}

fn function(name: &str, parameters: serde_json::Value) -> Tool {
    Tool::Function(FunctionTool {
        name: name.to_owned(),
        description: Some("A tool.".to_owned()),
        parameters: Some(parameters),
    })
}

#[tokio::test]
async fn an_unknown_voice_is_refused_and_the_session_keeps_its_configuration() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    client.configure().await;
    let mut session = bridge_session();
    session.instructions = Some("Something else entirely.".to_owned());
    if let Some(output) = session.audio.as_mut().and_then(|a| a.output.as_mut()) {
        output.voice = Some(Voice::from("robot"));
    }
    client.send(update_with_id(session, "evt_voice")).await;

    let event = client.next().await;
    let error = error_of(&event);
    assert_eq!(error.kind, "invalid_request_error");
    assert_eq!(error.code.as_deref(), Some("invalid_value"));
    assert_eq!(error.param.as_deref(), Some("session.audio.output.voice"));
    assert_eq!(error.event_id.as_deref(), Some("evt_voice"));
    assert!(error.message.contains("'robot'"), "{}", error.message);
    // Nothing of the refused update was applied.
    let log = sim.session(0).expect("logged");
    let config = log.session.expect("configured");
    assert_eq!(
        config.instructions.as_deref(),
        Some("You answer the phone for Acme.")
    );
    let voice = config.audio.and_then(|a| a.output).and_then(|o| o.voice);
    assert_eq!(voice, Some(Voice::from("marin")));
    assert_eq!(log.errors.len(), 1);
}

#[tokio::test]
async fn function_tools_the_api_would_refuse_are_refused_by_index() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    let object = json!({"type": "object", "properties": {"id": {"type": "string"}}});
    let cases = [
        (
            vec![
                function("ok", object.clone()),
                function("lookup", json!({"type": "string"})),
            ],
            "invalid_function_parameters",
            "session.tools[1].parameters",
        ),
        (
            vec![function(
                "lookup",
                json!({"type": "object", "properties": []}),
            )],
            "invalid_function_parameters",
            "session.tools[0].parameters",
        ),
        (
            vec![function("look up", object.clone())],
            "invalid_value",
            "session.tools[0].name",
        ),
        (
            vec![
                function("lookup", object.clone()),
                function("lookup", object.clone()),
            ],
            "invalid_value",
            "session.tools[1].name",
        ),
    ];
    for (i, (tools, code, param)) in cases.into_iter().enumerate() {
        let mut session = bridge_session();
        session.tools = Some(tools);
        client
            .send(update_with_id(session, &format!("evt_{i}")))
            .await;
        let event = client.next().await;
        let error = error_of(&event);
        assert_eq!(error.code.as_deref(), Some(code), "case {i}");
        assert_eq!(error.param.as_deref(), Some(param), "case {i}");
        assert_eq!(error.event_id.as_deref(), Some(format!("evt_{i}").as_str()));
    }
    assert!(sim.session(0).expect("logged").session.is_none());
    // Good tools are taken.
    let mut session = bridge_session();
    session.tools = Some(vec![function("lookup", object)]);
    client.send(ClientEvent::session_update(session)).await;
    let events = client.until("session.updated").await;
    let Some(ServerEvent::SessionUpdated(updated)) = events.last() else {
        panic!("session.updated");
    };
    assert_eq!(updated.session.tools.as_ref().map(Vec::len), Some(1));
}

#[tokio::test]
async fn session_updated_echoes_a_long_prompt_whole() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    let prompt = "You answer the phone for Acme. ".repeat(100 * 1024 / 31);
    let mut session = bridge_session();
    session.instructions = Some(prompt.clone());
    client.send(ClientEvent::session_update(session)).await;
    let events = client.until("session.updated").await;
    let Some(ServerEvent::SessionUpdated(updated)) = events.last() else {
        panic!("session.updated");
    };
    assert!(prompt.len() >= 100 * 1000);
    assert_eq!(
        updated.session.instructions.as_deref(),
        Some(prompt.as_str())
    );
}

#[tokio::test]
async fn a_garbled_response_done_is_one_a_client_cannot_parse() {
    let sim = start(Script {
        garbled_response_done: vec![0],
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.send(ClientEvent::response_create(None)).await;
    let raw = loop {
        let frame = tokio::time::timeout(WAIT, client.ws.next())
            .await
            .expect("an event within the wait")
            .expect("connection open")
            .expect("frame reads");
        let Message::Text(text) = frame else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
        if value["type"] == "response.done" {
            break text.as_str().to_owned();
        }
    };
    assert!(ServerEvent::parse(&raw).is_err(), "{raw}");
    let value: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert!(
        value["response"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("resp_"))
    );
    assert_eq!(value["response"]["status"], "completed");
    // Only the scripted one: the next response.done parses.
    client.send(ClientEvent::response_create(None)).await;
    client.until("response.done").await;
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_with_401_before_the_upgrade() {
    let sim = start(script()).await;

    let (status, body) = http_status(try_connect(&sim, None).await.expect_err("no key"));
    assert_eq!(status, 401);
    assert!(body.contains("invalid_request_error"), "{body}");
    let (status, body) = http_status(
        try_connect(&sim, Some("sk-wrong"))
            .await
            .expect_err("bad key"),
    );
    assert_eq!(status, 401);
    assert!(body.contains("invalid_api_key"), "{body}");
    connect(&sim).await;

    let logs = sim.sessions();
    let seen: Vec<(u16, bool)> = logs.iter().map(|l| (l.status, l.bearer_ok)).collect();
    assert_eq!(seen, [(401, false), (401, false), (101, true)]);
    assert!(!logs[0].upgraded());
}

#[tokio::test]
async fn refuse_answers_every_upgrade_with_the_scripted_status() {
    let sim = start(Script {
        refuse: Some(503),
        ..script()
    })
    .await;
    for _ in 0..2 {
        let (status, body) = http_status(try_connect(&sim, Some(KEY)).await.expect_err("refused"));
        assert_eq!(status, 503);
        assert!(body.contains("server_error"), "{body}");
    }
    // The next sessions follow a new script.
    sim.set_script(script());
    connect(&sim).await;
    let statuses: Vec<u16> = sim.sessions().iter().map(|l| l.status).collect();
    assert_eq!(statuses, [503, 503, 101]);
}

// ---- a conversation turn ----

#[tokio::test]
async fn a_caller_utterance_gets_vad_events_a_transcript_and_a_spoken_reply() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    client.configure().await;

    // 500 ms of silence, 1 s of speech, then the 500 ms of silence that ends the turn.
    client.append(&silence(500)).await;
    client.speak(1000, 600).await;

    let mut events = client.until("response.done").await;
    let ServerEvent::InputAudioBufferSpeechStarted(started) = &events[0] else {
        panic!("speech_started first, got {:?}", types(&events));
    };
    assert_eq!(
        started.audio_start_ms,
        500 - 300,
        "onset minus prefix padding"
    );
    let ServerEvent::InputAudioBufferSpeechStopped(stopped) = &events[1] else {
        panic!("then speech_stopped, got {:?}", types(&events));
    };
    assert_eq!(stopped.audio_end_ms, 500 + 1000 + 500);
    assert_eq!(stopped.item_id, started.item_id);
    let user_item = started.item_id.clone();

    let kinds: Vec<&str> = types(&events)
        .into_iter()
        .filter(|t| !t.starts_with("conversation.item.input_audio_transcription"))
        .filter(|t| *t != "response.output_audio.delta")
        .filter(|t| *t != "response.output_audio_transcript.delta")
        .collect();
    assert_eq!(
        kinds,
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
    );
    let ServerEvent::ConversationItemAdded(added) = &events[3] else {
        panic!("user item added");
    };
    assert_eq!(added.item.id(), Some(user_item.as_str()));
    assert_eq!(audio_ms(&events), 2000, "reply_ms of µ-law");
    let transcript: String = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::ResponseOutputAudioTranscriptDelta(d) => Some(d.delta.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(transcript, "Sure, for how many people?");
    let last = events.pop().expect("response.done");
    assert_eq!(
        response_status(&last),
        (Some(ResponseStatus::Completed), None)
    );

    // The transcription arrives on its own, before or after the response.
    if !types(&events).contains(&"conversation.item.input_audio_transcription.completed") {
        events = client
            .until("conversation.item.input_audio_transcription.completed")
            .await;
    }
    let completed = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::InputAudioTranscriptionCompleted(c) => Some(c),
            _ => None,
        })
        .expect("transcription");
    assert_eq!(completed.item_id, user_item);
    assert_eq!(completed.transcript, "I'd like to book a table.");

    let log = sim.session(0).expect("logged");
    assert_eq!(log.appended_ms(), 500 + 1000 + 600);
    assert_eq!(log.appends as usize, (500 + 1000 + 600) / 20);
    assert_eq!(log.utterances.len(), 1);
    assert_eq!(log.utterances[0].audio_end_ms, 2000);
    assert_eq!(log.responses.len(), 1);
    assert_eq!(log.responses[0].trigger, Trigger::Vad);
    assert_eq!(log.responses[0].utterance, Some(0));
    assert_eq!(log.responses[0].audio_ms, 2000);
    assert_eq!(log.responses[0].status, ResponseStatus::Completed);
    assert!(log.errors.is_empty(), "{:?}", log.errors);
}

#[tokio::test]
async fn short_noises_are_not_speech_and_manual_turns_need_a_commit() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    let mut session = bridge_session();
    if let Some(input) = session.audio.as_mut().and_then(|a| a.input.as_mut()) {
        input.turn_detection = Some(None);
    }
    client.send(ClientEvent::session_update(session)).await;
    client.until("session.updated").await;

    // Without turn detection nothing happens on its own.
    client.speak(400, 600).await;
    client
        .send(ClientEvent::InputAudioBufferCommit(Default::default()))
        .await;
    let events = client.until("conversation.item.added").await;
    assert_eq!(
        types(&events),
        ["input_audio_buffer.committed", "conversation.item.added"]
    );
    // An empty buffer cannot be committed.
    client
        .send(ClientEvent::InputAudioBufferCommit(Default::default()))
        .await;
    let events = client.until("error").await;
    let error = error_of(events.last().expect("error"));
    assert_eq!(
        error.code.as_deref(),
        Some("input_audio_buffer_commit_empty")
    );

    // With the VAD back on, 40 ms of noise is not speech.
    client.configure().await;
    client.speak(40, 600).await;
    client
        .send(ClientEvent::InputAudioBufferClear(Default::default()))
        .await;
    let events = client.until("input_audio_buffer.cleared").await;
    assert!(
        !types(&events).contains(&"input_audio_buffer.speech_started"),
        "{:?}",
        types(&events)
    );
    let log = sim.session(0).expect("logged");
    assert_eq!(log.utterances.len(), 1);
    assert!(log.responses.is_empty());
}

// ---- barge-in and truncation ----

#[tokio::test]
async fn barge_in_cancels_the_response_and_truncate_is_acknowledged() {
    let sim = start(Script {
        pace: Pace::RealTime,
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.speak(300, 500).await;
    let events = client.until("response.output_audio.delta").await;
    let Some(ServerEvent::ResponseOutputAudioDelta(delta)) = events.last() else {
        panic!("audio delta");
    };
    let item_id = delta.item_id.to_string();

    // The caller talks over the reply.
    client.append(&tone(200)).await;
    let events = client.until("response.done").await;
    assert!(
        types(&events).contains(&"input_audio_buffer.speech_started"),
        "{:?}",
        types(&events)
    );
    let sent = audio_ms(&events) + 100;
    assert!(sent < 2000, "cut short, sent {sent} ms");
    assert_eq!(
        response_status(events.last().expect("response.done")),
        (
            Some(ResponseStatus::Cancelled),
            Some("turn_detected".to_owned())
        )
    );
    let Some(ServerEvent::ResponseOutputItemDone(item_done)) = events
        .iter()
        .find(|e| e.event_type() == "response.output_item.done")
    else {
        panic!("output item done");
    };
    assert_eq!(item_done.item.id(), Some(item_id.as_str()));

    client
        .send(ClientEvent::truncate(item_id.clone(), 80))
        .await;
    let events = client.until("conversation.item.truncated").await;
    let Some(ServerEvent::ConversationItemTruncated(truncated)) = events.last() else {
        panic!("truncated");
    };
    assert_eq!(
        (
            truncated.item_id.as_str(),
            truncated.content_index,
            truncated.audio_end_ms
        ),
        (item_id.as_str(), 0, 80)
    );

    let logged = sim
        .wait_for(|e| e.truncate().is_some(), WAIT)
        .await
        .expect("truncate logged");
    assert_eq!(logged.truncate(), Some((item_id.as_str(), 80)));
    assert_eq!(logged.audio_ms, 300 + 500 + 200);
    let log = sim.session(0).expect("logged");
    assert_eq!(log.truncates(), [(item_id.as_str(), 80)]);
    assert_eq!(log.responses[0].status, ResponseStatus::Cancelled);
    assert!(log.responses[0].audio_ms < 2000);
}

#[tokio::test]
async fn truncating_past_the_generated_audio_is_an_error() {
    let sim = start(Script {
        reply_ms: 1000,
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.speak(300, 500).await;
    let events = client.until("response.done").await;
    let Some(ServerEvent::ResponseDone(done)) = events.last() else {
        panic!("response.done");
    };
    let item_id = done.response.output[0].id().expect("item id").to_owned();

    client
        .send(ClientEvent::truncate(item_id.clone(), 1500))
        .await;
    let events = client.until("error").await;
    let error = error_of(events.last().expect("error"));
    assert_eq!(error.code.as_deref(), Some("invalid_value"));
    assert_eq!(error.param.as_deref(), Some("audio_end_ms"));

    client
        .send(ClientEvent::truncate(item_id.clone(), 1000))
        .await;
    client.until("conversation.item.truncated").await;
    client.send(ClientEvent::truncate("item_unknown", 10)).await;
    let events = client.until("error").await;
    assert_eq!(
        error_of(events.last().expect("error")).param.as_deref(),
        Some("item_id")
    );
    let log = sim.session(0).expect("logged");
    assert_eq!(
        log.truncates(),
        [
            (item_id.as_str(), 1500),
            (item_id.as_str(), 1000),
            ("item_unknown", 10)
        ]
    );
    assert_eq!(log.errors.len(), 2);
}

// ---- responses on request ----

#[tokio::test]
async fn a_greeting_follows_its_instructions_without_reading_them_out_and_a_second_response_is_refused_meanwhile()
 {
    let sim = start(Script {
        pace: Pace::RealTime,
        reply_ms: 600,
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    let greet = ResponseConfig {
        instructions: Some("Greet the caller".to_owned()),
        ..ResponseConfig::default()
    };
    client.send(ClientEvent::response_create(Some(greet))).await;
    client.until("response.output_audio.delta").await;
    client.send(ClientEvent::response_create(None)).await;
    let events = client.until("error").await;
    let error = error_of(events.last().expect("error"));
    assert_eq!(
        error.code.as_deref(),
        Some("conversation_already_has_active_response")
    );

    let events = client.until("response.output_audio_transcript.done").await;
    let Some(ServerEvent::ResponseOutputAudioTranscriptDone(done)) = events.last() else {
        panic!("transcript done");
    };
    assert_eq!(done.transcript, "Sure, for how many people?");
    let log = sim.session(0).expect("logged");
    assert_eq!(log.response_creates(), [Some("Greet the caller"), None]);
    assert_eq!(log.responses.len(), 1);
    assert_eq!(log.responses[0].trigger, Trigger::Client);
}

#[tokio::test]
async fn response_cancel_stops_the_reply() {
    let sim = start(Script {
        pace: Pace::RealTime,
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.send(ClientEvent::response_create(None)).await;
    client.until("response.output_audio.delta").await;
    client.send(ClientEvent::response_cancel()).await;
    let events = client.until("response.done").await;
    assert_eq!(
        response_status(events.last().expect("done")),
        (
            Some(ResponseStatus::Cancelled),
            Some("client_cancelled".to_owned())
        )
    );
    client.send(ClientEvent::response_cancel()).await;
    let events = client.until("error").await;
    assert_eq!(
        error_of(events.last().expect("error")).code.as_deref(),
        Some("response_cancel_not_active")
    );
}

// ---- tools ----

#[tokio::test]
async fn a_tool_cue_calls_the_function_and_the_next_reply_speaks_its_result() {
    let sim = start(Script {
        tool_calls: vec![ToolCue::new(0, "check_availability", r#"{"party":4}"#)],
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.speak(400, 500).await;

    let events = client.until("response.done").await;
    assert_eq!(audio_ms(&events), 0, "a function call instead of audio");
    let Some(ServerEvent::ResponseOutputItemAdded(added)) = events
        .iter()
        .find(|e| e.event_type() == "response.output_item.added")
    else {
        panic!("output item added");
    };
    assert!(matches!(&added.item, Item::FunctionCall(c) if c.name == "check_availability"));
    let Some(ServerEvent::ResponseFunctionCallArgumentsDone(call)) = events
        .iter()
        .find(|e| e.event_type() == "response.function_call_arguments.done")
    else {
        panic!("function_call_arguments.done in {:?}", types(&events));
    };
    assert_eq!(call.name, "check_availability");
    assert_eq!(call.arguments, r#"{"party":4}"#);
    assert!(call.call_id.starts_with("call_"));
    assert_eq!(
        response_status(events.last().expect("done")),
        (Some(ResponseStatus::Completed), None)
    );

    client
        .send(ClientEvent::item_create(Item::function_call_output(
            call.call_id.clone(),
            r#"{"free":true}"#,
        )))
        .await;
    let events = client.until("conversation.item.added").await;
    let Some(ServerEvent::ConversationItemAdded(added)) = events.last() else {
        panic!("item added");
    };
    assert!(matches!(&added.item, Item::FunctionCallOutput(o) if o.call_id == call.call_id));
    client.send(ClientEvent::response_create(None)).await;
    let events = client.until("response.done").await;
    assert_eq!(audio_ms(&events), 2000);
    let Some(ServerEvent::ResponseOutputAudioTranscriptDone(done)) = events
        .iter()
        .find(|e| e.event_type() == "response.output_audio_transcript.done")
    else {
        panic!("transcript done");
    };
    assert_eq!(
        done.transcript, "Sure, for how many people?",
        "tool output is read, not read out"
    );
    let log = sim.session(0).expect("logged");
    assert_eq!(
        log.responses.last().and_then(|r| r.tool_output.as_deref()),
        Some(r#"{"free":true}"#)
    );

    // An output for a call that never happened is refused.
    client
        .send(ClientEvent::item_create(Item::function_call_output(
            "call_nope",
            "{}",
        )))
        .await;
    let events = client.until("error").await;
    assert_eq!(
        error_of(events.last().expect("error")).param.as_deref(),
        Some("item.call_id")
    );

    let log = sim.session(0).expect("logged");
    assert_eq!(
        log.function_call_outputs()[0],
        (call.call_id.as_str(), r#"{"free":true}"#)
    );
    let function_call = log.responses[0].function_call.as_ref().expect("cue fired");
    assert_eq!(function_call.name, "check_availability");
    assert!(log.responses[1].function_call.is_none());
}

#[tokio::test]
async fn user_and_system_text_items_are_added_and_logged() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client
        .send(ClientEvent::item_create(Item::user_text(
            "The caller pressed 1.",
        )))
        .await;
    let events = client.until("conversation.item.done").await;
    let ServerEvent::ConversationItemAdded(added) = &events[0] else {
        panic!("item added first, got {:?}", types(&events));
    };
    let Item::Message(message) = &added.item else {
        panic!("a message");
    };
    assert_eq!(message.role, Role::User);
    assert!(
        message
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("item_"))
    );
    assert_eq!(
        message.content,
        [ContentPart::InputText {
            text: "The caller pressed 1.".to_owned()
        }]
    );
    let logged = sim
        .wait_for(|e| e.user_text().is_some(), WAIT)
        .await
        .expect("logged");
    assert_eq!(logged.user_text(), Some("The caller pressed 1."));
    assert_eq!(
        sim.session(0).expect("logged").user_texts(),
        ["The caller pressed 1."]
    );

    client
        .send(ClientEvent::item_create(Item::system_text(
            "The caller pressed 2.",
        )))
        .await;
    client.until("conversation.item.done").await;
    let log = sim.session(0).expect("logged");
    assert_eq!(log.system_texts(), ["The caller pressed 2."]);
    assert_eq!(
        log.user_texts(),
        ["The caller pressed 1."],
        "roles kept apart"
    );
}

// ---- failures ----

#[tokio::test]
async fn drop_after_audio_ms_ends_the_connection_without_a_close_frame() {
    let sim = start(Script {
        fail: Some(Failure::DropAfterAudioMs(200)),
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.append(&silence(300)).await;
    let ending = tokio::time::timeout(WAIT, async {
        loop {
            match client.ws.next().await {
                Some(Ok(Message::Close(frame))) => panic!("close frame {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    })
    .await
    .expect("the connection ends");
    drop(client);
    assert!(
        matches!(
            ending,
            Some(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            )) | Some(tungstenite::Error::Io(_))
        ),
        "{ending:?}"
    );
    let log = sim
        .wait_for_session(|l| l.end.is_some(), WAIT)
        .await
        .expect("session ended");
    assert_eq!(log.end, Some(SessionEnd::Dropped));
    assert!(log.appended_ms() >= 200);
}

#[tokio::test]
async fn close_after_audio_ms_sends_a_close_frame() {
    let sim = start(Script {
        fail: Some(Failure::CloseAfterAudioMs(100)),
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.append(&silence(200)).await;
    let frame = tokio::time::timeout(WAIT, async {
        let frame = loop {
            match client.ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        // Read on, so tungstenite completes the closing handshake.
        while let Some(Ok(_)) = client.ws.next().await {}
        frame
    })
    .await
    .expect("closed");
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal));
    let log = sim
        .wait_for_session(|l| l.end.is_some(), WAIT)
        .await
        .expect("session ended");
    assert_eq!(log.end, Some(SessionEnd::Closed));
}

#[tokio::test]
async fn an_error_event_on_cue_leaves_the_session_running() {
    let sim = start(Script {
        fail: Some(Failure::ErrorEventAfterAudioMs(
            100,
            "upstream_hiccup".to_owned(),
        )),
        ..script()
    })
    .await;
    let mut client = connect(&sim).await;
    client.configure().await;
    client.append(&silence(200)).await;
    let events = client.until("error").await;
    let error = error_of(events.last().expect("error"));
    assert_eq!(error.kind, "server_error");
    assert_eq!(error.code.as_deref(), Some("upstream_hiccup"));
    client.speak(300, 500).await;
    client.until("response.done").await;
    // Only once.
    assert_eq!(sim.session(0).expect("logged").errors.len(), 1);
}

#[tokio::test]
async fn the_client_closing_ends_the_session() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;
    client.ws.close(None).await.expect("close sent");
    let log = sim
        .wait_for_session(|l| l.end.is_some(), WAIT)
        .await
        .expect("session ended");
    assert_eq!(log.end, Some(SessionEnd::ClientClosed));
    assert_eq!(sim.live_sessions(), 0);
}

// ---- robustness ----

#[tokio::test]
async fn malformed_frames_get_error_events_and_the_session_goes_on() {
    let sim = start(script()).await;
    let mut client = connect(&sim).await;

    client.send_text("{not json".to_owned()).await;
    let event = client.next().await;
    let error = error_of(&event);
    assert_eq!(error.kind, "invalid_request_error");
    assert_eq!(error.code.as_deref(), Some("invalid_json"));

    client
        .send_text(json!({"type": "response.explode", "event_id": "e1"}).to_string())
        .await;
    let event = client.next().await;
    let error = error_of(&event);
    assert_eq!(error.param.as_deref(), Some("type"));
    assert_eq!(error.event_id.as_deref(), Some("e1"));

    client
        .send_text(json!({"type": "conversation.item.truncate", "item_id": "x"}).to_string())
        .await;
    let event = client.next().await;
    assert_eq!(
        error_of(&event).code.as_deref(),
        Some("missing_required_parameter")
    );

    client
        .send_text(json!({"type": "input_audio_buffer.append", "audio": "***"}).to_string())
        .await;
    let event = client.next().await;
    assert_eq!(error_of(&event).param.as_deref(), Some("audio"));

    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("sent");
    let event = client.next().await;
    assert_eq!(error_of(&event).kind, "invalid_request_error");

    client.configure().await;
    let log = sim.session(0).expect("logged");
    let kinds: Vec<&str> = log.events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        kinds,
        [
            "(malformed)",
            "(unknown)",
            "(malformed)",
            "(malformed)",
            "(binary)",
            "session.update"
        ]
    );
    assert!(matches!(
        &log.events[1].received,
        Received::Unknown { event_type: Some(t) } if t == "response.explode"
    ));
    assert_eq!(log.errors.len(), 5);
}

// ---- load ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_sessions_each_hold_a_conversation() {
    let sim = start(Script {
        reply_ms: 1000,
        ..script()
    })
    .await;
    let url = sim.realtime_url(MODEL);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let url = url.clone();
        calls.spawn(async move {
            let mut request = url.into_client_request().expect("request");
            let bearer = HeaderValue::from_str(&format!("Bearer {KEY}")).expect("header");
            request.headers_mut().insert("authorization", bearer);
            let (ws, _) = tokio_tungstenite::connect_async(request)
                .await
                .expect("upgrade");
            let mut client = Client { ws };
            client.until("session.created").await;
            client.configure().await;
            client.speak(300, 500).await;
            let events = client.until("response.done").await;
            let _ = client.ws.close(None).await;
            audio_ms(&events)
        });
    }
    let mut done = 0;
    while let Some(result) = calls.join_next().await {
        assert_eq!(result.expect("call task"), 1000);
        done += 1;
    }
    assert_eq!(done, 50);
    let logs = sim.sessions();
    assert_eq!(logs.len(), 50);
    assert!(logs.iter().all(|l| l.upgraded() && l.responses.len() == 1));
    let mut items: Vec<&str> = logs
        .iter()
        .map(|l| l.responses[0].item_id.as_str())
        .collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), 50, "ids are unique across sessions");
}
