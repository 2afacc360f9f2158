//! The Gemini Live adapter: `setup` from an agent, the audio conversion both ways
//! (µ-law 8 kHz ⇄ PCM16 16/24 kHz, resampled with state per call), server messages to
//! [`ProviderEvent`]s, and session resumption: on `goAway` (or a close the session can
//! survive) a new socket is opened with the latest handle while the call goes on, and
//! swapped in once it is set up.
//!
//! Gemini has no response ids, speech events or truncation: a "response" here is a
//! model turn, numbered by this adapter (`g1`, `g2`, …), ended by `turnComplete`, an
//! interruption or a tool call (the model waits for the tool's answer, so the loop may
//! fill the silence). Its `interrupted` becomes [`ProviderEvent::Interrupted`], and the
//! rest of that turn's audio is dropped here.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use hotline_audio::StreamResampler;
use hotline_core::model::Agent;
use hotline_realtime::gemini::{
    API_KEY_HEADER, ActivityDetection, AudioTranscriptionConfig, Blob, ClientContent,
    ClientMessage, Content, ContextWindowCompression, FunctionDeclaration, FunctionResponse,
    GenerationConfig, INPUT_RATE, OUTPUT_RATE, PrebuiltVoiceConfig, RealtimeInputConfig,
    ServerContent, ServerEvent, ServerMessage, SessionResumptionConfig, Setup, SlidingWindow,
    SpeechConfig, Tool, ToolCall, ToolResponse, VoiceConfig, live_url, model_name,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, info, warn};

use crate::call::state::END_CALL;
use crate::openai::{ConnectError, ProviderSocket, open_socket};
use crate::provider::{
    AgentAudio, Capabilities, Frame, Incoming, ProviderCommand, ProviderEvent, ProviderGone,
    ProviderSession,
};

/// Where Gemini Live is and the key it takes.
#[derive(Debug, Clone)]
pub struct GeminiConfig {
    /// `GEMINI_BASE_URL`.
    pub base_url: String,
    /// `GEMINI_API_KEY`.
    pub api_key: SecretString,
}

/// Gemini Live: server VAD, but no speech events (only `interrupted`), no truncation
/// (the server keeps its own history), answers tool output by itself, transcripts of
/// both sides.
pub const CAPABILITIES: Capabilities = Capabilities {
    server_vad: true,
    speech_events: false,
    truncate: false,
    answers_tool_output: true,
    transcripts: true,
};

/// How long a (re)connection may take to reach `setupComplete`.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Caller audio held while a resumed session connects: 10 s of 20 ms frames, then the
/// oldest go.
const MAX_HELD_AUDIO: usize = 500;
/// Resumptions one call may make: a Live connection lasts about ten minutes, and a
/// call at most an hour, so more than this is a session that keeps failing.
const MAX_RESUMPTIONS: u32 = 20;

/// Notes are the call's own facts, not the caller's words: Gemini's turns are only
/// `user` or `model`, so they say so.
const NOTE_PREFIX: &str = "[Call event, not spoken by the caller] ";

/// The `setup` for an agent: native audio out in the agent's voice, its instructions
/// and tools plus the built-ins, transcripts both ways, server VAD that interrupts,
/// resumption handles and a sliding context window (calls outlast a Live session).
pub fn setup(agent: &Agent, handle: Option<String>) -> Setup {
    let mut declarations = vec![FunctionDeclaration {
        name: END_CALL.into(),
        description: Some(
            "End the phone call once the conversation is over and the caller has nothing \
             more to ask. Say nothing else after calling it; a goodbye is played."
                .into(),
        ),
        parameters: None,
    }];
    for (name, spec) in crate::provider::declared_tools(agent) {
        declarations.push(FunctionDeclaration {
            name: name.to_owned(),
            description: Some(spec.description.clone()),
            parameters: Some(schema(&spec.parameters)),
        });
    }
    Setup {
        model: model_name(&agent.model),
        generation_config: Some(GenerationConfig {
            response_modalities: vec!["AUDIO".into()],
            speech_config: Some(SpeechConfig {
                voice_config: Some(VoiceConfig {
                    prebuilt_voice_config: Some(PrebuiltVoiceConfig {
                        voice_name: agent.voice.clone(),
                    }),
                }),
                language_code: None,
            }),
            temperature: None,
        }),
        system_instruction: Some(Content::text(None, agent.instructions.clone())),
        tools: Some(vec![Tool {
            function_declarations: declarations,
        }]),
        realtime_input_config: Some(RealtimeInputConfig {
            automatic_activity_detection: Some(ActivityDetection {
                disabled: Some(false),
                ..ActivityDetection::default()
            }),
            activity_handling: Some("START_OF_ACTIVITY_INTERRUPTS".into()),
            turn_coverage: None,
        }),
        input_audio_transcription: Some(AudioTranscriptionConfig {}),
        output_audio_transcription: Some(AudioTranscriptionConfig {}),
        session_resumption: Some(SessionResumptionConfig { handle }),
        context_window_compression: Some(ContextWindowCompression {
            sliding_window: Some(SlidingWindow::default()),
            trigger_tokens: None,
        }),
    }
}

/// An agent's JSON Schema as Gemini's OpenAPI-subset `Schema`: upper-case types, a
/// nullable flag instead of `["string", "null"]`, and only the keywords it knows.
pub fn schema(json_schema: &Value) -> Value {
    const KEPT: &[&str] = &[
        "description",
        "enum",
        "format",
        "nullable",
        "required",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "title",
    ];
    let Value::Object(object) = json_schema else {
        return json!({"type": "OBJECT"});
    };
    let mut out = Map::new();
    match object.get("type") {
        Some(Value::String(t)) => {
            out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
        }
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            if let Some(t) = named.iter().find(|t| **t != "null") {
                out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
            }
            if named.contains(&"null") {
                out.insert("nullable".into(), Value::Bool(true));
            }
        }
        _ => {}
    }
    for (key, value) in object {
        match key.as_str() {
            "properties" => {
                if let Value::Object(props) = value {
                    let props = props.iter().map(|(k, v)| (k.clone(), schema(v))).collect();
                    out.insert(key.clone(), Value::Object(props));
                }
            }
            "items" => {
                out.insert(key.clone(), schema(value));
            }
            "anyOf" => {
                if let Value::Array(options) = value {
                    out.insert(key.clone(), options.iter().map(schema).collect());
                }
            }
            k if KEPT.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

type Reconnect = Pin<Box<dyn Future<Output = Result<ProviderSocket, String>> + Send>>;

/// Opens a Live socket, sends `setup` and waits for `setupComplete`.
async fn connect_and_setup(
    config: GeminiConfig,
    setup_json: String,
) -> Result<ProviderSocket, String> {
    let opening = async {
        let mut ws = connect(&config).await.map_err(|e| e.to_string())?;
        ws.send(Message::text(setup_json))
            .await
            .map_err(|e| format!("session setup: {e}"))?;
        loop {
            let bytes = match ws.next().await {
                Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                Some(Ok(Message::Binary(b))) => b.to_vec(),
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map_or_else(
                        || "provider closed during setup".into(),
                        |f| format!("provider closed during setup: {} {}", f.code, f.reason),
                    );
                    warn!(reason = %why, "Gemini refused the session");
                    return Err(why);
                }
                None => return Err("provider socket ended during setup".into()),
                Some(Err(e)) => return Err(format!("session setup: {e}")),
                Some(Ok(_)) => continue,
            };
            if let Ok(message) = ServerMessage::parse(&bytes)
                && matches!(message.event(), ServerEvent::SetupComplete(_))
            {
                return Ok(ws);
            }
        }
    };
    match tokio::time::timeout(SETUP_TIMEOUT, opening).await {
        Ok(result) => result,
        Err(_) => Err("provider setup timed out".into()),
    }
}

/// The WebSocket, the key in Google's header.
async fn connect(config: &GeminiConfig) -> Result<ProviderSocket, ConnectError> {
    let url = live_url(&config.base_url).map_err(|e| ConnectError::Url(e.to_string()))?;
    open_socket(url, API_KEY_HEADER, config.api_key.expose_secret()).await
}

/// The audio of one call both ways, with the resamplers' state.
pub struct AudioBridge {
    up: StreamResampler,
    down: StreamResampler,
    down_rate: u32,
    decoded: Vec<u8>,
    pcm: Vec<i16>,
    bytes: Vec<u8>,
    /// A byte of a PCM16 sample split across two chunks.
    odd: Option<u8>,
}

impl AudioBridge {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            up: StreamResampler::new(hotline_audio::SAMPLE_RATE, INPUT_RATE, 20)
                .map_err(|e| e.to_string())?,
            down: StreamResampler::new(OUTPUT_RATE, hotline_audio::SAMPLE_RATE, 20)
                .map_err(|e| e.to_string())?,
            down_rate: OUTPUT_RATE,
            decoded: Vec::new(),
            pcm: Vec::new(),
            bytes: Vec::new(),
            odd: None,
        })
    }

    /// A Twilio payload (base64 µ-law 8 kHz) as a `realtimeInput` message of PCM16 at
    /// 16 kHz, once the resampler has output.
    pub fn caller_to_gemini(&mut self, payload: &str) -> Option<String> {
        self.decoded.clear();
        BASE64.decode_vec(payload, &mut self.decoded).ok()?;
        self.pcm.clear();
        self.up.process(
            self.decoded.iter().map(|&b| hotline_audio::decode(b)),
            &mut self.pcm,
        );
        if self.pcm.is_empty() {
            return None;
        }
        self.bytes.clear();
        self.bytes
            .extend(self.pcm.iter().flat_map(|s| s.to_le_bytes()));
        const HEAD: &str =
            r#"{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":""#;
        let mut json = String::with_capacity(HEAD.len() + self.bytes.len().div_ceil(3) * 4 + 4);
        json.push_str(HEAD);
        BASE64.encode_string(&self.bytes, &mut json);
        json.push_str("\"}}}");
        Some(json)
    }

    /// Model audio (base64 PCM16 at `rate`) as base64 µ-law at 8 kHz for Twilio; `None`
    /// while the resampler waits for a whole chunk, or for data that is not base64.
    pub fn gemini_to_caller(&mut self, data: &str, rate: u32) -> Option<String> {
        self.decoded.clear();
        if BASE64.decode_vec(data, &mut self.decoded).is_err() {
            // Proto3 JSON `bytes` may also be URL-safe base64.
            self.decoded.clear();
            base64::engine::general_purpose::URL_SAFE
                .decode_vec(data, &mut self.decoded)
                .ok()?;
        }
        if rate != self.down_rate {
            // A model that speaks another rate (declared in its MIME type).
            self.down = StreamResampler::new(rate, hotline_audio::SAMPLE_RATE, 20).ok()?;
            self.down_rate = rate;
            self.odd = None;
        }
        let mut input = std::mem::take(&mut self.decoded);
        if let Some(byte) = self.odd.take() {
            input.insert(0, byte);
        }
        if input.len() % 2 == 1 {
            self.odd = input.pop();
        }
        self.pcm.clear();
        self.down.process(
            input
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            &mut self.pcm,
        );
        self.decoded = input;
        self.mulaw_base64()
    }

    /// The end of a reply: what the resampler held back, as µ-law.
    pub fn flush_to_caller(&mut self) -> Option<String> {
        self.pcm.clear();
        self.down.flush(&mut self.pcm);
        self.mulaw_base64()
    }

    /// An interrupted reply: its last milliseconds are not wanted.
    pub fn discard_to_caller(&mut self) {
        self.down.discard();
        self.odd = None;
    }

    fn mulaw_base64(&mut self) -> Option<String> {
        if self.pcm.is_empty() {
            return None;
        }
        self.bytes.clear();
        self.bytes
            .extend(self.pcm.iter().map(|&s| hotline_audio::encode(s)));
        Some(BASE64.encode(&self.bytes))
    }
}

/// A model turn in progress.
#[derive(Debug, Default)]
struct Turn {
    id: String,
    /// The caller spoke over it: the rest of its audio is dropped.
    interrupted: bool,
    transcript: String,
}

/// A Gemini Live session, surviving `goAway` by resumption.
pub struct GeminiSession {
    config: GeminiConfig,
    agent: Box<Agent>,
    ws: ProviderSocket,
    audio: AudioBridge,
    queue: VecDeque<Incoming<'static>>,
    turn: Option<Turn>,
    turns: u64,
    /// The caller's transcript pieces since the last flush.
    caller_text: String,
    caller_turns: u64,
    /// Function names by call id: a `toolResponse` must name the function.
    tool_names: HashMap<String, String>,
    /// System notes waiting for the next `CreateResponse` (a `clientContent` would
    /// interrupt a reply in progress, and the call state only asks between replies).
    notes: Vec<String>,
    /// The latest resumable handle.
    handle: Option<String>,
    reconnect: Option<Reconnect>,
    /// The old socket ended while the new one connects.
    old_gone: bool,
    /// Messages held while reconnecting.
    held: VecDeque<String>,
    resumptions: u32,
}

impl GeminiSession {
    /// Connects and sets the session up for `agent`.
    pub async fn open(config: GeminiConfig, agent: &Agent) -> Result<Self, String> {
        let audio = AudioBridge::new()?;
        let setup_json = ClientMessage::Setup(Box::new(setup(agent, None))).to_json();
        let ws = connect_and_setup(config.clone(), setup_json).await?;
        Ok(Self {
            config,
            agent: Box::new(agent.clone()),
            ws,
            audio,
            queue: VecDeque::new(),
            turn: None,
            turns: 0,
            caller_text: String::new(),
            caller_turns: 0,
            tool_names: HashMap::new(),
            notes: Vec::new(),
            handle: None,
            reconnect: None,
            old_gone: false,
            held: VecDeque::new(),
            resumptions: 0,
        })
    }

    /// Sends a message, or holds it while a resumed session is being set up.
    async fn transmit(&mut self, json: String, is_audio: bool) -> Result<(), WsError> {
        if self.reconnect.is_some() {
            if is_audio && self.held.len() >= MAX_HELD_AUDIO {
                self.held.pop_front();
            }
            self.held.push_back(json);
            return Ok(());
        }
        self.ws.send(Message::text(json)).await
    }

    /// Starts resuming with the latest handle; false when there is none to resume.
    fn resume(&mut self, why: &str) -> bool {
        if self.reconnect.is_some() {
            return true;
        }
        let Some(handle) = self.handle.clone() else {
            return false;
        };
        if self.resumptions >= MAX_RESUMPTIONS {
            warn!(
                resumptions = self.resumptions,
                "too many Gemini resumptions"
            );
            return false;
        }
        self.resumptions += 1;
        info!(
            reason = why,
            resumption = self.resumptions,
            "resuming the Gemini session"
        );
        let setup_json = ClientMessage::Setup(Box::new(setup(&self.agent, Some(handle)))).to_json();
        self.reconnect = Some(Box::pin(connect_and_setup(self.config.clone(), setup_json)));
        self.old_gone = false;
        true
    }

    /// The resumed socket is ready: swap it in, close the old one, send what was held.
    async fn swap(&mut self, ws: ProviderSocket) -> Result<(), ProviderGone> {
        let mut old = std::mem::replace(&mut self.ws, ws);
        self.reconnect = None;
        let _ = tokio::time::timeout(Duration::from_millis(500), old.close(None)).await;
        // A turn the old session never finished is over.
        self.end_turn(false);
        while let Some(json) = self.held.pop_front() {
            self.ws
                .feed(Message::text(json))
                .await
                .map_err(|e| ProviderGone(format!("send to resumed session: {e}")))?;
        }
        self.ws
            .flush()
            .await
            .map_err(|e| ProviderGone(format!("send to resumed session: {e}")))
    }

    fn start_turn(&mut self) -> String {
        if let Some(turn) = &self.turn {
            return turn.id.clone();
        }
        self.flush_caller();
        self.turns += 1;
        let id = format!("g{}", self.turns);
        self.turn = Some(Turn {
            id: id.clone(),
            ..Turn::default()
        });
        self.queue
            .push_back(Incoming::Event(ProviderEvent::ResponseStarted {
                response_id: id.clone(),
            }));
        id
    }

    /// Ends the turn in progress: the rest of its audio, its transcript, its end.
    fn end_turn(&mut self, completed: bool) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        if !turn.interrupted
            && let Some(payload) = self.audio.flush_to_caller()
        {
            self.queue.push_back(Incoming::Audio(AgentAudio {
                response_id: turn.id.clone().into(),
                item_id: turn.id.clone().into(),
                payload: payload.into(),
            }));
        }
        if !turn.transcript.trim().is_empty() {
            self.queue
                .push_back(Incoming::Event(ProviderEvent::AgentTranscript {
                    item_id: turn.id.clone(),
                    text: turn.transcript.trim().to_owned(),
                }));
        }
        self.flush_caller();
        let status = if completed && !turn.interrupted {
            "completed"
        } else {
            "cancelled"
        };
        self.queue
            .push_back(Incoming::Event(ProviderEvent::ResponseDone {
                response_id: turn.id,
                status: status.into(),
            }));
    }

    fn flush_caller(&mut self) {
        let text = self.caller_text.trim();
        if text.is_empty() {
            return;
        }
        self.caller_turns += 1;
        self.queue
            .push_back(Incoming::Event(ProviderEvent::CallerTranscript {
                item_id: format!("caller{}", self.caller_turns),
                text: text.to_owned(),
            }));
        self.caller_text.clear();
    }

    fn content(&mut self, content: ServerContent) {
        if let Some(t) = content.input_transcription.and_then(|t| t.text) {
            self.caller_text.push_str(&t);
        }
        if ServerContent::flag(content.interrupted) {
            if let Some(turn) = &mut self.turn
                && !turn.interrupted
            {
                turn.interrupted = true;
                self.audio.discard_to_caller();
                self.queue
                    .push_back(Incoming::Event(ProviderEvent::Interrupted));
            } else if self.turn.is_none() {
                // Nothing of ours was generating; the caller still spoke over what plays.
                self.queue
                    .push_back(Incoming::Event(ProviderEvent::Interrupted));
            }
        }
        let audio: Vec<&Blob> = content
            .model_turn
            .as_ref()
            .map(|t| {
                t.parts
                    .iter()
                    .filter(|p| p.thought != Some(true))
                    .filter_map(|p| p.inline_data.as_ref())
                    .filter(|b| b.mime_type.starts_with("audio/pcm"))
                    .collect()
            })
            .unwrap_or_default();
        if !audio.is_empty() {
            let id = self.start_turn();
            let interrupted = self.turn.as_ref().is_some_and(|t| t.interrupted);
            if !interrupted {
                for blob in audio {
                    let rate = blob.pcm_rate().unwrap_or(OUTPUT_RATE);
                    if let Some(payload) = self.audio.gemini_to_caller(&blob.data, rate) {
                        self.queue.push_back(Incoming::Audio(AgentAudio {
                            response_id: id.clone().into(),
                            item_id: id.clone().into(),
                            payload: payload.into(),
                        }));
                    }
                }
            }
        }
        if let Some(text) = content.output_transcription.and_then(|t| t.text) {
            self.start_turn();
            if let Some(turn) = &mut self.turn {
                turn.transcript.push_str(&text);
            }
        }
        if ServerContent::flag(content.generation_complete)
            && let Some(turn) = &self.turn
        {
            self.queue
                .push_back(Incoming::Event(ProviderEvent::AudioDone {
                    response_id: turn.id.clone(),
                }));
        }
        if ServerContent::flag(content.turn_complete) {
            self.end_turn(true);
        }
    }

    /// A tool call ends the model's turn: it waits for the answer, and the call may
    /// fill the wait.
    fn tool_call(&mut self, call: ToolCall) {
        self.start_turn();
        for f in call.function_calls {
            let call_id =
                f.id.unwrap_or_else(|| format!("call{}", self.tool_names.len() + 1));
            self.tool_names.insert(call_id.clone(), f.name.clone());
            let arguments = f.args.map_or_else(|| "{}".to_owned(), |a| a.to_string());
            self.queue
                .push_back(Incoming::Event(ProviderEvent::FunctionCall {
                    call_id,
                    name: f.name,
                    arguments,
                }));
        }
        self.end_turn(true);
    }

    fn message(&mut self, message: ServerMessage) {
        match message.event() {
            ServerEvent::Content(content) => self.content(content),
            ServerEvent::ToolCall(call) => self.tool_call(call),
            ServerEvent::ToolCallCancellation(c) => {
                debug!(calls = c.ids.len(), "Gemini cancelled tool calls");
            }
            ServerEvent::SessionResumptionUpdate(update) => {
                if update.resumable == Some(true)
                    && let Some(handle) = update.new_handle.filter(|h| !h.is_empty())
                {
                    self.handle = Some(handle);
                }
            }
            ServerEvent::GoAway(away) => {
                let left = away
                    .time_left
                    .as_deref()
                    .and_then(hotline_realtime::gemini::duration_ms);
                if !self.resume("goAway") {
                    warn!(time_left_ms = ?left, "Gemini is closing the session and gave no handle to resume it");
                }
            }
            ServerEvent::SetupComplete(_) => {}
            ServerEvent::Other => {}
        }
    }

    fn function_response(&mut self, call_id: String, output: &str) -> ClientMessage {
        let name = self.tool_names.remove(&call_id).unwrap_or_default();
        // `response` must be an object: a tool's other answers are wrapped.
        let response = match serde_json::from_str::<Value>(output) {
            Ok(Value::Object(o)) => Value::Object(o),
            Ok(other) => json!({ "output": other }),
            Err(_) => json!({ "output": output }),
        };
        ClientMessage::ToolResponse(ToolResponse {
            function_responses: vec![FunctionResponse {
                id: Some(call_id),
                name,
                response,
            }],
        })
    }
}

/// Close codes after which resuming cannot help: our message was refused.
fn resumable_close(code: CloseCode) -> bool {
    !matches!(
        code,
        CloseCode::Invalid | CloseCode::Policy | CloseCode::Size
    )
}

impl ProviderSession for GeminiSession {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn send_audio(&mut self, payload: &str) -> Result<(), WsError> {
        match self.audio.caller_to_gemini(payload) {
            Some(json) => self.transmit(json, true).await,
            None => Ok(()),
        }
    }

    async fn send(&mut self, command: ProviderCommand) -> Result<(), WsError> {
        let message = match command {
            // Gemini keeps its own account of an interrupted reply.
            ProviderCommand::Truncate { .. } => return Ok(()),
            ProviderCommand::SystemNote(text) => {
                self.notes.push(text);
                return Ok(());
            }
            ProviderCommand::FunctionOutput { call_id, output } => {
                self.function_response(call_id, &output)
            }
            ProviderCommand::CreateResponse { instructions } => {
                self.notes.extend(instructions);
                let text = if self.notes.is_empty() {
                    format!("{NOTE_PREFIX}Please go on.")
                } else {
                    let notes = std::mem::take(&mut self.notes);
                    format!("{NOTE_PREFIX}{}", notes.join("\n"))
                };
                ClientMessage::ClientContent(ClientContent {
                    turns: vec![Content::text(Some("user"), text)],
                    turn_complete: Some(true),
                })
            }
        };
        self.transmit(message.to_json(), false).await
    }

    async fn next_frame(&mut self) -> Result<Frame, ProviderGone> {
        loop {
            let msg = if let Some(reconnect) = self.reconnect.as_mut() {
                if self.old_gone {
                    let result = reconnect.await;
                    self.settle(result).await?;
                    continue;
                }
                tokio::select! {
                    result = reconnect => {
                        self.settle(result).await?;
                        continue;
                    }
                    msg = self.ws.next() => msg,
                }
            } else {
                self.ws.next().await
            };
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(Frame::Text(t)),
                Some(Ok(Message::Binary(b))) => return Ok(Frame::Binary(b)),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((CloseCode::Status, String::new()), |f| {
                        (f.code, f.reason.to_string())
                    });
                    if self.reconnect.is_some() {
                        self.old_gone = true;
                        continue;
                    }
                    if resumable_close(code) && self.resume("closed") {
                        self.old_gone = true;
                        continue;
                    }
                    return Err(ProviderGone(format!("provider closed: {code} {reason}")));
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) if self.reconnect.is_some() || self.resume("dropped") => {
                    self.old_gone = true;
                }
                None => return Err(ProviderGone("provider socket ended".into())),
                Some(Err(e)) => return Err(ProviderGone(e.to_string())),
            }
        }
    }

    fn read<'f>(&mut self, frame: &'f Frame) -> Incoming<'f> {
        let bytes: &[u8] = match frame {
            Frame::Text(t) => t.as_bytes(),
            Frame::Binary(b) => b,
        };
        match ServerMessage::parse(bytes) {
            Ok(message) => self.message(message),
            Err(e) => {
                debug!(kind = ?e.classify(), column = e.column(), "unparsable Gemini message ignored");
            }
        }
        self.queue.pop_front().unwrap_or(Incoming::Nothing)
    }

    fn pending(&mut self) -> Option<Incoming<'static>> {
        self.queue.pop_front()
    }

    async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

impl GeminiSession {
    async fn settle(&mut self, result: Result<ProviderSocket, String>) -> Result<(), ProviderGone> {
        match result {
            Ok(ws) => {
                info!(resumption = self.resumptions, "Gemini session resumed");
                self.swap(ws).await
            }
            Err(why) => {
                self.reconnect = None;
                Err(ProviderGone(format!("session resumption failed: {why}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::model::{CallLimits, Provider, ToolSpec};
    use hotline_core::{AgentId, OrgId};

    use super::*;

    fn agent() -> Agent {
        Agent {
            org: OrgId::parse("acme").expect("org"),
            id: AgentId::parse("front-desk").expect("agent"),
            name: "Front desk".into(),
            instructions: "You answer the phone.".into(),
            voice: "Puck".into(),
            greeting: None,
            voicemail_message: None,
            enabled: true,
            provider: Provider::GeminiLive,
            model: "gemini-live-2.5-flash-preview".into(),
            tools: vec![ToolSpec {
                name: "lookup_order".into(),
                description: "Find an order".into(),
                parameters: json!({"type":"object","additionalProperties":false,
                    "properties":{"id":{"type":"integer"},"note":{"type":["string","null"]}},
                    "required":["id"]}),
                kind: hotline_core::model::ToolKind::Webhook {
                    url: "https://tools.example.com/order".into(),
                    timeout_secs: None,
                },
            }],
            analyzers: Vec::new(),
            limits: CallLimits::default(),
            fallback: None,
            pipeline: None,
            version: 0,
        }
    }

    #[test]
    fn setup_carries_the_agent_and_asks_for_transcripts_and_handles() {
        let json = ClientMessage::Setup(Box::new(setup(&agent(), None))).to_json();
        let v: Value = serde_json::from_str(&json).expect("json");
        let s = &v["setup"];
        assert_eq!(s["model"], "models/gemini-live-2.5-flash-preview");
        assert_eq!(
            s["generationConfig"]["responseModalities"],
            json!(["AUDIO"])
        );
        assert_eq!(
            s["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"],
            "Puck"
        );
        assert_eq!(
            s["systemInstruction"]["parts"][0]["text"],
            "You answer the phone."
        );
        assert_eq!(s["inputAudioTranscription"], json!({}));
        assert_eq!(s["outputAudioTranscription"], json!({}));
        assert_eq!(s["sessionResumption"], json!({}));
        let tools = &s["tools"][0]["functionDeclarations"];
        assert_eq!(tools[0]["name"], "end_call");
        assert_eq!(
            tools[1]["parameters"],
            json!({"type":"OBJECT","required":["id"],"properties":{
                "id":{"type":"INTEGER"},"note":{"type":"STRING","nullable":true}}})
        );
        let resumed = ClientMessage::Setup(Box::new(setup(&agent(), Some("h9".into())))).to_json();
        assert!(
            resumed.contains(r#""sessionResumption":{"handle":"h9"}"#),
            "{resumed}"
        );
    }

    #[test]
    fn caller_audio_goes_up_to_16_khz_pcm() {
        let mut bridge = AudioBridge::new().expect("bridge");
        let frame = BASE64.encode(hotline_audio::tone_mulaw(1000.0, 0.5, 20));
        // The first frame gives less: the filter's start-up delay is dropped.
        bridge.caller_to_gemini(&frame).expect("output");
        let json = bridge
            .caller_to_gemini(&frame)
            .expect("a whole frame is a chunk");
        let message = ClientMessage::parse(&json).expect("parses");
        let ClientMessage::RealtimeInput(input) = message else {
            panic!("realtimeInput");
        };
        let blob = input.audio.expect("audio");
        assert_eq!(blob.pcm_rate(), Some(16_000));
        // 20 ms at 16 kHz, 2 bytes a sample.
        assert_eq!(BASE64.decode(blob.data).expect("base64").len(), 640);
        assert_eq!(bridge.caller_to_gemini("not base64!"), None);
    }

    #[test]
    fn model_audio_comes_down_to_8_khz_mulaw_even_split_oddly() {
        let mut bridge = AudioBridge::new().expect("bridge");
        let pcm: Vec<u8> = hotline_audio::sine(440.0, 24_000, 0.5, 2_400)
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let mut total = 0;
        // An odd split: one sample's bytes across two messages.
        for piece in [&pcm[..1001], &pcm[1001..]] {
            if let Some(b64) = bridge.gemini_to_caller(&BASE64.encode(piece), 24_000) {
                total += BASE64.decode(b64).expect("base64").len();
            }
        }
        total += bridge
            .flush_to_caller()
            .map_or(0, |b| BASE64.decode(b).map_or(0, |v| v.len()));
        // 100 ms of 24 kHz is 800 samples at 8 kHz, less the filter's start-up delay,
        // plus at most one padded chunk.
        assert!((700..=960).contains(&total), "{total}");
    }

    fn text(json: &str) -> Frame {
        Frame::Text(json.into())
    }

    fn drain(s: &mut GeminiSession, frame: &Frame) -> Vec<Incoming<'static>> {
        let first = match s.read(frame) {
            Incoming::Audio(a) => Incoming::Audio(AgentAudio {
                response_id: a.response_id.into_owned().into(),
                item_id: a.item_id.into_owned().into(),
                payload: a.payload.into_owned().into(),
            }),
            Incoming::Event(e) => Incoming::Event(e),
            Incoming::Nothing => Incoming::Nothing,
        };
        let mut all = vec![first];
        while let Some(more) = s.pending() {
            all.push(more);
        }
        all.retain(|i| *i != Incoming::Nothing);
        all
    }

    /// A session without a socket behind it, for the message mapping alone.
    async fn offline() -> GeminiSession {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            tokio_tungstenite::accept_async(tcp).await.expect("ws")
        });
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("connect");
        drop(server);
        GeminiSession {
            config: GeminiConfig {
                base_url: format!("http://{addr}"),
                api_key: SecretString::from(String::new()),
            },
            agent: Box::new(agent()),
            ws,
            audio: AudioBridge::new().expect("bridge"),
            queue: VecDeque::new(),
            turn: None,
            turns: 0,
            caller_text: String::new(),
            caller_turns: 0,
            tool_names: HashMap::new(),
            notes: Vec::new(),
            handle: None,
            reconnect: None,
            old_gone: false,
            held: VecDeque::new(),
            resumptions: 0,
        }
    }

    fn audio_json(ms: usize) -> String {
        let pcm: Vec<u8> = hotline_audio::sine(440.0, 24_000, 0.5, ms * 24)
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        format!(
            r#"{{"serverContent":{{"modelTurn":{{"parts":[{{"inlineData":{{"mimeType":"audio/pcm;rate=24000","data":"{}"}}}}]}}}}}}"#,
            BASE64.encode(pcm)
        )
    }

    fn events(items: &[Incoming<'static>]) -> Vec<ProviderEvent> {
        items
            .iter()
            .filter_map(|i| match i {
                Incoming::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_model_turn_is_a_response_with_audio_and_a_transcript() {
        let mut s = offline().await;
        let got = drain(
            &mut s,
            &text(r#"{"serverContent":{"inputTranscription":{"text":"Book me "}}}"#),
        );
        assert!(got.is_empty());
        drain(
            &mut s,
            &text(r#"{"serverContent":{"inputTranscription":{"text":"in."}}}"#),
        );
        let got = drain(&mut s, &text(&audio_json(100)));
        assert_eq!(
            events(&got),
            [
                ProviderEvent::CallerTranscript {
                    item_id: "caller1".into(),
                    text: "Book me in.".into()
                },
                ProviderEvent::ResponseStarted {
                    response_id: "g1".into()
                },
            ]
        );
        assert!(
            got.iter()
                .any(|i| matches!(i, Incoming::Audio(a) if a.response_id == "g1"))
        );
        drain(
            &mut s,
            &text(r#"{"serverContent":{"outputTranscription":{"text":"Sure, "}}}"#),
        );
        drain(
            &mut s,
            &text(r#"{"serverContent":{"outputTranscription":{"text":"when?"}}}"#),
        );
        let got = drain(
            &mut s,
            &Frame::Binary(br#"{"serverContent":{"generationComplete":true}}"#.to_vec().into()),
        );
        assert_eq!(
            events(&got),
            [ProviderEvent::AudioDone {
                response_id: "g1".into()
            }]
        );
        let got = drain(
            &mut s,
            &text(
                r#"{"serverContent":{"turnComplete":true},"usageMetadata":{"totalTokenCount":9}}"#,
            ),
        );
        assert_eq!(
            events(&got),
            [
                ProviderEvent::AgentTranscript {
                    item_id: "g1".into(),
                    text: "Sure, when?".into()
                },
                ProviderEvent::ResponseDone {
                    response_id: "g1".into(),
                    status: "completed".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn an_interrupted_turn_drops_the_rest_of_its_audio() {
        let mut s = offline().await;
        drain(&mut s, &text(&audio_json(100)));
        let got = drain(&mut s, &text(r#"{"serverContent":{"interrupted":true}}"#));
        assert_eq!(events(&got), [ProviderEvent::Interrupted]);
        let late = drain(&mut s, &text(&audio_json(100)));
        assert!(late.is_empty(), "{late:?}");
        let got = drain(&mut s, &text(r#"{"serverContent":{"turnComplete":true}}"#));
        assert_eq!(
            events(&got),
            [ProviderEvent::ResponseDone {
                response_id: "g1".into(),
                status: "cancelled".into()
            }]
        );
        // The next turn plays again.
        let got = drain(&mut s, &text(&audio_json(100)));
        assert!(
            got.iter()
                .any(|i| matches!(i, Incoming::Audio(a) if a.response_id == "g2"))
        );
    }

    #[tokio::test]
    async fn a_tool_call_ends_the_turn_and_its_answer_names_the_function() {
        let mut s = offline().await;
        let got = drain(
            &mut s,
            &text(
                r#"{"toolCall":{"functionCalls":[{"id":"fc1","name":"lookup_order","args":{"id":7}}]}}"#,
            ),
        );
        assert_eq!(
            events(&got),
            [
                ProviderEvent::ResponseStarted {
                    response_id: "g1".into()
                },
                ProviderEvent::FunctionCall {
                    call_id: "fc1".into(),
                    name: "lookup_order".into(),
                    arguments: r#"{"id":7}"#.into()
                },
                ProviderEvent::ResponseDone {
                    response_id: "g1".into(),
                    status: "completed".into()
                },
            ]
        );
        let answer = s.function_response("fc1".into(), "[1,2]").to_json();
        assert_eq!(
            answer,
            r#"{"toolResponse":{"functionResponses":[{"id":"fc1","name":"lookup_order","response":{"output":[1,2]}}]}}"#
        );
    }

    #[tokio::test]
    async fn notes_wait_for_the_response_they_ask_for() {
        let mut s = offline().await;
        s.send(ProviderCommand::SystemNote("The caller pressed 5.".into()))
            .await
            .expect("held");
        assert_eq!(s.notes.len(), 1);
        s.send(ProviderCommand::Truncate {
            item_id: "g1".into(),
            audio_end_ms: 5,
        })
        .await
        .expect("ignored");
        s.send(ProviderCommand::CreateResponse { instructions: None })
            .await
            .expect("sent");
        assert!(s.notes.is_empty());
    }

    #[tokio::test]
    async fn a_resumable_handle_is_kept_and_go_away_starts_a_resumption() {
        let mut s = offline().await;
        drain(
            &mut s,
            &text(r#"{"sessionResumptionUpdate":{"newHandle":"h1","resumable":false}}"#),
        );
        assert_eq!(s.handle, None, "not resumable at that point");
        drain(
            &mut s,
            &text(r#"{"sessionResumptionUpdate":{"newHandle":"h2","resumable":true}}"#),
        );
        assert_eq!(s.handle.as_deref(), Some("h2"));
        drain(&mut s, &text(r#"{"goAway":{"timeLeft":"5s"}}"#));
        assert!(s.reconnect.is_some());
        // Meanwhile caller audio is held for the new session.
        let frame = BASE64.encode(hotline_audio::tone_mulaw(440.0, 0.5, 20));
        s.send_audio(&frame).await.expect("held");
        assert_eq!(s.held.len(), 1);
    }
}
