//! One simulated Realtime session as a state machine without I/O: client frames and
//! timer ticks go in, server frames (and the odd close or drop) come out in
//! [`Machine::out`]. The socket task in `mod.rs` owns it and does the sending.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hotline_audio::{SAMPLES_PER_MS, frame_dbfs};
use hotline_realtime::openai::{
    Audio, AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, ContentPart,
    ContentPartEvent, ConversationItemCreate, ConversationItemDeleted, ConversationItemEvent,
    ConversationItemTruncate, ConversationItemTruncated, ErrorDetails, ErrorEvent,
    FunctionCallArgumentsDelta, FunctionCallArgumentsDone, FunctionCallItem,
    InputAudioBufferCleared, InputAudioBufferCommitted, InputTokenDetails,
    InputTranscriptionCompleted, InputTranscriptionDelta, Item, ItemStatus, MaxOutputTokens,
    MessageItem, Modality, OutputAudioDelta, OutputAudioTranscriptDone, OutputItemEvent,
    OutputPartDone, OutputTextDelta, OutputTokenDetails, RateLimit, RateLimitsUpdated, Response,
    ResponseAudio, ResponseCancel, ResponseConfig, ResponseEvent, ResponseStatus, Role,
    SemanticVad, ServerEvent, ServerVad, Session, SessionEvent, SessionKind, SpeechStarted,
    SpeechStopped, StatusDetails, Tool, ToolChoice, ToolChoiceMode, TranscriptionTokenDetails,
    TranscriptionUsage, TurnDetection, Usage, Voice,
};

use super::Recorder;
use super::log::{FunctionCallLog, LoggedEvent, Received, ResponseLog, Trigger, UtteranceLog};
use super::script::{Failure, Plan};

/// The VAD looks at the caller's audio 20 ms at a time.
const FRAME_MS: u64 = 20;
const FRAME_BYTES: usize = 20 * SAMPLES_PER_MS;
/// Speech this long (consecutive loud frames) starts a turn.
const SPEECH_ONSET_MS: u32 = 60;
/// `input_audio_buffer.commit` needs at least this much audio, as on the real API.
const MIN_COMMIT_MS: u64 = 100;
/// Server VAD defaults of the real API.
const DEFAULT_PREFIX_PADDING_MS: u32 = 300;
const DEFAULT_SILENCE_MS: u32 = 500;
const DEFAULT_THRESHOLD: f64 = 0.5;
const ITEM_OBJECT: &str = "realtime.item";
const RESPONSE_OBJECT: &str = "realtime.response";
const CLIENT_EVENT_TYPES: &str = "'session.update', 'input_audio_buffer.append', \
    'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', \
    'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', \
    'response.create', 'response.cancel'";

/// What the socket task must do, in order.
#[derive(Debug)]
pub(crate) enum Out {
    /// Send this text frame.
    Text(String),
    /// Send a close frame and end the session.
    Close,
    /// End the connection without a close frame.
    Drop,
}

/// When the next reply chunk is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// After a yield to the runtime.
    Now,
    At(Instant),
}

/// Turn detection as the session configures it.
#[derive(Debug, Clone, Copy)]
struct Vad {
    prefix_padding_ms: u64,
    silence_ms: u32,
    create_response: bool,
    interrupt_response: bool,
}

/// Where the caller is, frame by frame.
#[derive(Debug)]
enum Speech {
    /// Not talking; `run_ms` of loud frames so far, from `run_start_ms`.
    Quiet { run_ms: u32, run_start_ms: u64 },
    /// Talking since `start_ms` (padding included); `quiet_ms` of silence so far.
    Talking {
        item_id: String,
        start_ms: u64,
        quiet_ms: u32,
    },
}

const QUIET: Speech = Speech::Quiet {
    run_ms: 0,
    run_start_ms: 0,
};

/// The response being spoken.
#[derive(Debug)]
struct Active {
    id: String,
    item_id: String,
    previous_item_id: Option<String>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
    transcript: String,
    /// Bytes of `transcript` already sent as deltas.
    text_sent: usize,
    /// Next chunk of the plan's reply audio.
    chunk: usize,
    sent_ms: u64,
    started: Instant,
    /// Index in the session log's `responses`.
    log_index: usize,
}

/// A caller transcription waiting for its moment.
#[derive(Debug)]
struct PendingTranscript {
    due: Instant,
    item_id: String,
    transcript: String,
}

/// Event ids: `event_` + a per-session tag + a counter, formatted into a reused buffer
/// for the per-chunk events.
#[derive(Debug)]
struct EventIds {
    tag: String,
    count: u64,
    buf: String,
}

impl EventIds {
    fn new() -> Self {
        let mut tag = new_id("");
        tag.truncate(12);
        Self {
            tag,
            count: 0,
            buf: String::with_capacity(32),
        }
    }

    fn next_ref(&mut self) -> &str {
        self.count += 1;
        self.buf.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "event_{}{:x}", self.tag, self.count);
        &self.buf
    }

    fn next(&mut self) -> String {
        self.next_ref().to_owned()
    }
}

/// `prefix_` and 21 random hex digits, the length of the real API's ids.
fn new_id(prefix: &str) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let hex = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    if prefix.is_empty() {
        hex[..21].to_owned()
    } else {
        format!("{prefix}_{}", &hex[..21])
    }
}

/// Serializes a server event into a text frame.
fn push(out: &mut Vec<Out>, event: &ServerEvent<'_>) {
    let capacity = match event {
        ServerEvent::ResponseOutputAudioDelta(d) => d.delta.base64_len() + 192,
        _ => 512,
    };
    let mut buf = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut buf, event).is_ok()
        && let Ok(text) = String::from_utf8(buf)
    {
        out.push(Out::Text(text));
    }
}

/// One session's state.
pub(crate) struct Machine {
    plan: Arc<Plan>,
    rec: Recorder,
    config: Session,
    vad: Option<Vad>,
    transcribe: bool,
    /// When the input being handled arrived.
    now: Instant,
    conversation_id: String,
    ids: EventIds,
    /// Frames to send; drained by the socket task after every input.
    pub out: Vec<Out>,

    /// Reused for decoding appended audio.
    decoded: Vec<u8>,
    /// An incomplete VAD frame carried over to the next append.
    carry: [u8; FRAME_BYTES],
    carry_len: usize,
    appended_bytes: u64,
    /// Ms of audio the VAD has looked at (whole frames).
    vad_ms: u64,
    /// Uncommitted audio, and where it began (ms of appended audio).
    buffer_bytes: u64,
    buffer_start_ms: u64,
    speech: Speech,

    last_item_id: Option<String>,
    utterances: usize,
    cues_fired: Vec<bool>,
    call_ids: Vec<String>,
    /// Spoken responses so far (picks the reply line).
    spoken: usize,
    /// The last `function_call_output`, which the next reply answers.
    tool_output: Option<String>,
    /// Assistant audio items and the ms of audio each holds (after truncation).
    audio_items: Vec<(String, u64)>,
    active: Option<Active>,
    transcripts: VecDeque<PendingTranscript>,
    /// The voice is fixed once the assistant has spoken.
    has_spoken: bool,
    failed: bool,
    /// `response.done` events sent so far (picks the garbled ones).
    responses_done: usize,
}

impl Machine {
    pub fn new(plan: Arc<Plan>, rec: Recorder, model: String, now: Instant) -> Self {
        let config = default_session(model);
        let cues = plan.script.tool_calls.len();
        let mut machine = Self {
            plan,
            rec,
            vad: None,
            transcribe: false,
            config,
            now,
            conversation_id: new_id("conv"),
            ids: EventIds::new(),
            out: Vec::with_capacity(16),
            decoded: Vec::new(),
            carry: [0; FRAME_BYTES],
            carry_len: 0,
            appended_bytes: 0,
            vad_ms: 0,
            buffer_bytes: 0,
            buffer_start_ms: 0,
            speech: QUIET,
            last_item_id: None,
            utterances: 0,
            cues_fired: vec![false; cues],
            call_ids: Vec::new(),
            spoken: 0,
            tool_output: None,
            audio_items: Vec::new(),
            active: None,
            transcripts: VecDeque::new(),
            has_spoken: false,
            failed: false,
            responses_done: 0,
        };
        machine.configured();
        machine
    }

    /// The session opened: `session.created` with the server's defaults.
    pub fn start(&mut self) {
        let event_id = self.ids.next();
        let session = self.config.clone();
        push(
            &mut self.out,
            &ServerEvent::SessionCreated(Box::new(SessionEvent { event_id, session })),
        );
    }

    /// When the next reply chunk is due, if a response is being spoken.
    pub fn next_chunk(&self) -> Option<Due> {
        let active = self.active.as_ref()?;
        let first = self.plan.script.first_audio_delay;
        Some(match self.plan.script.pace.delay(active.sent_ms) {
            None if first.is_zero() => Due::Now,
            None if active.sent_ms == 0 => Due::At(active.started + first),
            None => Due::Now,
            Some(delay) => Due::At(active.started + first + delay),
        })
    }

    /// When the next caller transcription is due.
    pub fn next_timer(&self) -> Option<Instant> {
        self.transcripts.front().map(|t| t.due)
    }

    fn ms_appended(&self) -> u64 {
        self.appended_bytes / SAMPLES_PER_MS as u64
    }

    fn log(&self, received: Received) {
        let event = LoggedEvent {
            session: self.rec.index,
            at: self.now,
            audio_ms: self.ms_appended(),
            received,
        };
        self.rec.update(|log| log.events.push(event));
    }

    fn error(
        &mut self,
        kind: &str,
        code: Option<&str>,
        message: String,
        param: Option<&str>,
        client_event_id: Option<String>,
    ) {
        let details = ErrorDetails {
            kind: kind.to_owned(),
            code: code.map(str::to_owned),
            message,
            param: param.map(str::to_owned),
            event_id: client_event_id,
        };
        let logged = details.clone();
        self.rec.update(|log| log.errors.push(logged));
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::Error(ErrorEvent {
                event_id,
                error: details,
            }),
        );
    }

    fn invalid(&mut self, message: String, param: Option<&str>, client_event_id: Option<String>) {
        self.error(
            "invalid_request_error",
            Some("invalid_value"),
            message,
            param,
            client_event_id,
        );
    }

    // ---- input ----

    /// A text frame from the client.
    pub fn on_text(&mut self, text: &str, now: Instant) {
        self.now = now;
        match ClientEvent::parse(text) {
            Ok(ClientEvent::InputAudioBufferAppend(append)) => {
                self.append(append.audio.as_base64(), append.event_id);
            }
            Ok(ClientEvent::Unknown) => {
                let (event_type, event_id) = peek(text);
                self.log(Received::Unknown {
                    event_type: event_type.clone(),
                });
                let shown = event_type.unwrap_or_default();
                self.invalid(
                    format!(
                        "Invalid value: '{shown}'. Supported values are: {CLIENT_EVENT_TYPES}."
                    ),
                    Some("type"),
                    event_id,
                );
            }
            Ok(event) => {
                self.log(Received::Event(event.clone().into_owned()));
                self.handle(event);
            }
            Err(e) => {
                let error = e.to_string();
                self.log(Received::Malformed {
                    error: error.clone(),
                });
                if serde_json::from_str::<serde_json::Value>(text).is_err() {
                    self.error(
                        "invalid_request_error",
                        Some("invalid_json"),
                        format!("The event is not valid JSON: {error}"),
                        None,
                        None,
                    );
                    return;
                }
                let (_, event_id) = peek(text);
                let missing = error
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next());
                match missing {
                    Some(field) => self.error(
                        "invalid_request_error",
                        Some("missing_required_parameter"),
                        format!("Missing required parameter: '{field}'."),
                        Some(field),
                        event_id,
                    ),
                    None => self.invalid(format!("Invalid event: {error}"), None, event_id),
                }
            }
        }
    }

    /// A binary frame from the client: the API only speaks text.
    pub fn on_binary(&mut self, len: usize, now: Instant) {
        self.now = now;
        self.log(Received::Binary { len });
        self.invalid(
            "Binary frames are not supported; send events as JSON text frames.".to_owned(),
            None,
            None,
        );
    }

    /// Timers: caller transcriptions that are due.
    pub fn on_timer(&mut self, now: Instant) {
        self.now = now;
        while let Some(pending) = self.transcripts.front() {
            if pending.due > now {
                break;
            }
            let Some(pending) = self.transcripts.pop_front() else {
                break;
            };
            let event_id = self.ids.next();
            push(
                &mut self.out,
                &ServerEvent::InputAudioTranscriptionDelta(InputTranscriptionDelta {
                    event_id: Cow::Owned(event_id),
                    item_id: Cow::Borrowed(&pending.item_id),
                    content_index: Some(0),
                    delta: Cow::Borrowed(&pending.transcript),
                }),
            );
            let words = pending.transcript.split_whitespace().count() as u64;
            let event_id = self.ids.next();
            push(
                &mut self.out,
                &ServerEvent::InputAudioTranscriptionCompleted(InputTranscriptionCompleted {
                    event_id,
                    item_id: pending.item_id,
                    content_index: 0,
                    transcript: pending.transcript,
                    usage: Some(TranscriptionUsage::Tokens {
                        input_tokens: 20 + words,
                        output_tokens: words,
                        total_tokens: 20 + 2 * words,
                        input_token_details: Some(TranscriptionTokenDetails {
                            text_tokens: Some(0),
                            audio_tokens: Some(20 + words),
                        }),
                    }),
                }),
            );
        }
    }

    fn handle(&mut self, event: ClientEvent<'_>) {
        match event {
            ClientEvent::SessionUpdate(update) => {
                let update = *update;
                self.session_update(update.session, update.event_id);
            }
            ClientEvent::InputAudioBufferCommit(commit) => self.commit_buffer(commit.event_id),
            ClientEvent::InputAudioBufferClear(_) => self.clear_buffer(),
            ClientEvent::ConversationItemCreate(create) => self.item_create(create),
            ClientEvent::ConversationItemTruncate(truncate) => self.truncate(truncate),
            ClientEvent::ConversationItemDelete(delete) => {
                let event_id = self.ids.next();
                push(
                    &mut self.out,
                    &ServerEvent::ConversationItemDeleted(ConversationItemDeleted {
                        event_id,
                        item_id: delete.item_id,
                    }),
                );
            }
            ClientEvent::ConversationItemRetrieve(retrieve) => self.error(
                "invalid_request_error",
                Some("unsupported"),
                "conversation.item.retrieve is not simulated".to_owned(),
                None,
                retrieve.event_id,
            ),
            ClientEvent::ResponseCreate(create) => {
                let create = *create;
                self.start_response(Trigger::Client, create.response, create.event_id);
            }
            ClientEvent::ResponseCancel(cancel) => self.cancel(cancel),
            // Handled before logging.
            ClientEvent::InputAudioBufferAppend(_) | ClientEvent::Unknown => {}
        }
    }

    // ---- session configuration ----

    fn session_update(&mut self, update: Session, client_event_id: Option<String>) {
        // As the real API: a refused update changes nothing, the session keeps its
        // previous configuration, and the `error` names the client event.
        if let Err(refusal) = self.validate(&update) {
            self.error(
                "invalid_request_error",
                Some(refusal.code),
                refusal.message,
                Some(&refusal.param),
                client_event_id,
            );
            return;
        }
        merge(&mut self.config, update);
        self.configured();
        let session = self.config.clone();
        let logged = session.clone();
        self.rec.update(|log| log.session = Some(logged));
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::SessionUpdated(Box::new(SessionEvent { event_id, session })),
        );
    }

    /// Refuses what hotline must never send: anything but µ-law both ways, both output
    /// modalities at once, a session kind or turn detection the API does not have, a
    /// voice the API does not have or a voice change after the assistant has spoken,
    /// and function tools the API would not accept.
    fn validate(&self, update: &Session) -> Result<(), Refusal> {
        if update.kind != SessionKind::Realtime {
            return Err(Refusal::invalid(
                "session.type",
                "Invalid value: only 'realtime' sessions are simulated.",
            ));
        }
        if let Some(modalities) = &update.output_modalities
            && (modalities.len() != 1 || modalities.contains(&Modality::Unknown))
        {
            return Err(Refusal::invalid(
                "session.output_modalities",
                "Invalid 'output_modalities': expected exactly one of 'audio' or 'text'.",
            ));
        }
        if let Some(tools) = &update.tools {
            validate_tools(tools)?;
        }
        let Some(audio) = &update.audio else {
            return Ok(());
        };
        if let Some(input) = &audio.input {
            if let Some(format) = input.format
                && format != AudioFormat::Pcmu
            {
                return Err(Refusal::invalid(
                    "session.audio.input.format",
                    format!(
                        "Invalid input audio format {format:?}: hotline bridges Twilio's \
                         µ-law, so the format must be 'audio/pcmu'."
                    ),
                ));
            }
            if let Some(Some(TurnDetection::Unknown)) = &input.turn_detection {
                return Err(Refusal::invalid(
                    "session.audio.input.turn_detection.type",
                    "Invalid value: supported values are 'server_vad' and 'semantic_vad'.",
                ));
            }
        }
        if let Some(output) = &audio.output {
            if let Some(format) = output.format
                && format != AudioFormat::Pcmu
            {
                return Err(Refusal::invalid(
                    "session.audio.output.format",
                    format!(
                        "Invalid output audio format {format:?}: hotline bridges Twilio's \
                         µ-law, so the format must be 'audio/pcmu'."
                    ),
                ));
            }
            if let Some(Voice::Named(name)) = &output.voice
                && !VOICES.contains(&name.as_str())
            {
                let supported = VOICES
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Refusal::invalid(
                    "session.audio.output.voice",
                    format!("Invalid value: '{name}'. Supported values are: {supported}."),
                ));
            }
            if let Some(voice) = &output.voice
                && self.has_spoken
                && Some(voice) != self.voice()
            {
                return Err(Refusal::invalid(
                    "session.audio.output.voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                ));
            }
        }
        Ok(())
    }

    fn input(&self) -> Option<&AudioInput> {
        self.config.audio.as_ref()?.input.as_ref()
    }

    fn output(&self) -> Option<&AudioOutput> {
        self.config.audio.as_ref()?.output.as_ref()
    }

    fn voice(&self) -> Option<&Voice> {
        self.output()?.voice.as_ref()
    }

    /// Caches what the per-frame path needs from the configuration.
    fn configured(&mut self) {
        let input = self.input();
        let transcribe = matches!(input.and_then(|i| i.transcription.as_ref()), Some(Some(_)));
        let vad = match input.and_then(|i| i.turn_detection.as_ref()) {
            Some(Some(TurnDetection::ServerVad(v))) => Some(Vad {
                prefix_padding_ms: u64::from(
                    v.prefix_padding_ms.unwrap_or(DEFAULT_PREFIX_PADDING_MS),
                ),
                silence_ms: v.silence_duration_ms.unwrap_or(DEFAULT_SILENCE_MS),
                create_response: v.create_response.unwrap_or(true),
                interrupt_response: v.interrupt_response.unwrap_or(true),
            }),
            Some(Some(TurnDetection::SemanticVad(v))) => Some(Vad {
                prefix_padding_ms: u64::from(DEFAULT_PREFIX_PADDING_MS),
                silence_ms: DEFAULT_SILENCE_MS,
                create_response: v.create_response.unwrap_or(true),
                interrupt_response: v.interrupt_response.unwrap_or(true),
            }),
            _ => None,
        };
        if vad.is_none() && matches!(self.speech, Speech::Talking { .. }) {
            self.speech = QUIET;
        }
        self.vad = vad;
        self.transcribe = transcribe;
    }

    // ---- caller audio ----

    fn append(&mut self, base64: &str, client_event_id: Option<String>) {
        self.decoded.clear();
        if STANDARD.decode_vec(base64, &mut self.decoded).is_err() {
            self.log(Received::Malformed {
                error: "input_audio_buffer.append: audio is not base64".to_owned(),
            });
            self.invalid(
                "Invalid 'audio'. Expected base64-encoded audio bytes.".to_owned(),
                Some("audio"),
                client_event_id,
            );
            return;
        }
        let bytes = self.decoded.len() as u64;
        self.appended_bytes += bytes;
        self.buffer_bytes += bytes;
        self.rec.update_quiet(|log| {
            log.appends += 1;
            log.appended_bytes += bytes;
        });
        let decoded = std::mem::take(&mut self.decoded);
        self.frames(&decoded);
        self.decoded = decoded;
        self.check_failure();
    }

    /// Runs the VAD over whole 20 ms frames, carrying a partial frame over.
    fn frames(&mut self, mut audio: &[u8]) {
        let threshold = self.plan.script.vad_threshold_dbfs;
        if self.carry_len > 0 {
            let take = (FRAME_BYTES - self.carry_len).min(audio.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&audio[..take]);
            self.carry_len += take;
            audio = &audio[take..];
            if self.carry_len < FRAME_BYTES {
                return;
            }
            self.carry_len = 0;
            let speech = frame_dbfs(&self.carry) > threshold;
            self.frame(speech);
        }
        let mut frames = audio.chunks_exact(FRAME_BYTES);
        for frame in &mut frames {
            self.frame(frame_dbfs(frame) > threshold);
        }
        let tail = frames.remainder();
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
    }

    fn frame(&mut self, speech: bool) {
        let frame_start = self.vad_ms;
        self.vad_ms += FRAME_MS;
        let Some(vad) = self.vad else {
            return;
        };
        match &mut self.speech {
            Speech::Quiet {
                run_ms,
                run_start_ms,
            } => {
                if !speech {
                    *run_ms = 0;
                    return;
                }
                if *run_ms == 0 {
                    *run_start_ms = frame_start;
                }
                *run_ms += FRAME_MS as u32;
                if *run_ms >= SPEECH_ONSET_MS {
                    let onset = *run_start_ms;
                    self.speech_started(onset, vad);
                }
            }
            Speech::Talking { quiet_ms, .. } => {
                if speech {
                    *quiet_ms = 0;
                    return;
                }
                *quiet_ms += FRAME_MS as u32;
                if *quiet_ms >= vad.silence_ms {
                    self.speech_stopped(vad);
                }
            }
        }
    }

    fn speech_started(&mut self, onset_ms: u64, vad: Vad) {
        let item_id = new_id("item");
        let audio_start_ms = onset_ms.saturating_sub(vad.prefix_padding_ms);
        self.speech = Speech::Talking {
            item_id: item_id.clone(),
            start_ms: audio_start_ms,
            quiet_ms: 0,
        };
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::InputAudioBufferSpeechStarted(SpeechStarted {
                event_id,
                audio_start_ms,
                item_id,
            }),
        );
        if vad.interrupt_response && self.active.is_some() {
            self.finish(ResponseStatus::Cancelled, Some("turn_detected"));
        }
    }

    fn speech_stopped(&mut self, vad: Vad) {
        let Speech::Talking {
            item_id, start_ms, ..
        } = std::mem::replace(&mut self.speech, QUIET)
        else {
            return;
        };
        let audio_end_ms = self.vad_ms;
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::InputAudioBufferSpeechStopped(SpeechStopped {
                event_id,
                audio_end_ms,
                item_id: item_id.clone(),
            }),
        );
        self.commit(item_id, start_ms, audio_end_ms);
        if vad.create_response {
            self.start_response(Trigger::Vad, None, None);
        }
    }

    /// The buffer becomes a user item: `committed`, `conversation.item.added`, and the
    /// transcription later.
    fn commit(&mut self, item_id: String, audio_start_ms: u64, audio_end_ms: u64) {
        let previous_item_id = self.last_item_id.replace(item_id.clone());
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::InputAudioBufferCommitted(InputAudioBufferCommitted {
                event_id,
                item_id: item_id.clone(),
                previous_item_id: previous_item_id.clone(),
            }),
        );
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::ConversationItemAdded(ConversationItemEvent {
                event_id,
                previous_item_id,
                item: Item::Message(MessageItem {
                    id: Some(item_id.clone()),
                    object: Some(ITEM_OBJECT.to_owned()),
                    status: Some(ItemStatus::Completed),
                    role: Role::User,
                    content: vec![ContentPart::InputAudio {
                        audio: None,
                        transcript: None,
                    }],
                }),
            }),
        );
        self.buffer_bytes = 0;
        self.buffer_start_ms = self.ms_appended();
        let transcript = self.plan.caller_transcript(self.utterances);
        self.utterances += 1;
        if self.transcribe {
            self.transcripts.push_back(PendingTranscript {
                due: self.now + self.plan.script.transcription_delay,
                item_id: item_id.clone(),
                transcript: transcript.clone(),
            });
        }
        let utterance = UtteranceLog {
            item_id,
            audio_start_ms,
            audio_end_ms,
            transcript,
        };
        self.rec.update(|log| log.utterances.push(utterance));
    }

    fn commit_buffer(&mut self, client_event_id: Option<String>) {
        let buffered_ms = self.buffer_bytes / SAMPLES_PER_MS as u64;
        if buffered_ms < MIN_COMMIT_MS {
            self.error(
                "invalid_request_error",
                Some("input_audio_buffer_commit_empty"),
                format!(
                    "Error committing input audio buffer: buffer too small. Expected at least \
                     {MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms}.00ms of audio."
                ),
                None,
                client_event_id,
            );
            return;
        }
        let (item_id, start_ms) = match std::mem::replace(&mut self.speech, QUIET) {
            Speech::Talking {
                item_id, start_ms, ..
            } => (item_id, start_ms),
            Speech::Quiet { .. } => (new_id("item"), self.buffer_start_ms),
        };
        let end_ms = self.ms_appended();
        self.commit(item_id, start_ms, end_ms);
    }

    fn clear_buffer(&mut self) {
        self.buffer_bytes = 0;
        self.buffer_start_ms = self.ms_appended();
        self.speech = QUIET;
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::InputAudioBufferCleared(InputAudioBufferCleared { event_id }),
        );
    }

    fn check_failure(&mut self) {
        if self.failed {
            return;
        }
        let Some(failure) = &self.plan.script.fail else {
            return;
        };
        if self.ms_appended() < failure.at_ms() {
            return;
        }
        self.failed = true;
        match failure.clone() {
            Failure::DropAfterAudioMs(_) => self.out.push(Out::Drop),
            Failure::CloseAfterAudioMs(_) => self.out.push(Out::Close),
            Failure::ErrorEventAfterAudioMs(_, code) => self.error(
                "server_error",
                Some(&code),
                "The server had an error while processing your request. Sorry about that!"
                    .to_owned(),
                None,
                None,
            ),
        }
    }

    // ---- conversation ----

    fn item_create(&mut self, create: ConversationItemCreate) {
        let ConversationItemCreate {
            event_id: client_event_id,
            previous_item_id,
            item,
        } = create;
        let item = match item {
            Item::Message(mut message) => {
                if message.role == Role::Unknown {
                    self.invalid(
                        "Invalid 'item.role': expected 'user', 'system' or 'assistant'.".to_owned(),
                        Some("item.role"),
                        client_event_id,
                    );
                    return;
                }
                message.id.get_or_insert_with(|| new_id("item"));
                message.object = Some(ITEM_OBJECT.to_owned());
                message.status = Some(ItemStatus::Completed);
                Item::Message(message)
            }
            Item::FunctionCallOutput(mut output) => {
                if !self.call_ids.contains(&output.call_id) {
                    self.invalid(
                        format!(
                            "Tool call ID '{}' not found in conversation.",
                            output.call_id
                        ),
                        Some("item.call_id"),
                        client_event_id,
                    );
                    return;
                }
                output.id.get_or_insert_with(|| new_id("item"));
                output.status = Some(ItemStatus::Completed);
                self.tool_output = Some(output.output.clone());
                Item::FunctionCallOutput(output)
            }
            Item::FunctionCall(mut call) => {
                call.id.get_or_insert_with(|| new_id("item"));
                call.object = Some(ITEM_OBJECT.to_owned());
                call.status = Some(ItemStatus::Completed);
                Item::FunctionCall(call)
            }
            Item::Unknown => {
                self.invalid(
                    "Invalid 'item.type': expected 'message', 'function_call' or \
                     'function_call_output'."
                        .to_owned(),
                    Some("item.type"),
                    client_event_id,
                );
                return;
            }
        };
        let previous_item_id = previous_item_id.or_else(|| self.last_item_id.clone());
        self.last_item_id = item.id().map(str::to_owned);
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::ConversationItemAdded(ConversationItemEvent {
                event_id,
                previous_item_id: previous_item_id.clone(),
                item: item.clone(),
            }),
        );
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::ConversationItemDone(ConversationItemEvent {
                event_id,
                previous_item_id,
                item,
            }),
        );
    }

    fn truncate(&mut self, truncate: ConversationItemTruncate) {
        let ConversationItemTruncate {
            event_id: client_event_id,
            item_id,
            content_index,
            audio_end_ms,
        } = truncate;
        if content_index != 0 {
            self.invalid(
                format!("Invalid 'content_index': {content_index}; audio is content part 0."),
                Some("content_index"),
                client_event_id,
            );
            return;
        }
        let generated = match &self.active {
            Some(active) if active.item_id == item_id => Some(active.sent_ms),
            _ => self
                .audio_items
                .iter()
                .rev()
                .find(|(id, _)| *id == item_id)
                .map(|(_, ms)| *ms),
        };
        let Some(generated) = generated else {
            self.invalid(
                format!("Invalid 'item_id': no assistant audio item with id '{item_id}'."),
                Some("item_id"),
                client_event_id,
            );
            return;
        };
        if audio_end_ms > generated {
            self.invalid(
                format!("Audio content of {generated}ms is already shorter than {audio_end_ms}ms"),
                Some("audio_end_ms"),
                client_event_id,
            );
            return;
        }
        if let Some((_, ms)) = self
            .audio_items
            .iter_mut()
            .rev()
            .find(|(id, _)| *id == item_id)
        {
            *ms = audio_end_ms;
        }
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::ConversationItemTruncated(ConversationItemTruncated {
                event_id,
                item_id,
                content_index,
                audio_end_ms,
            }),
        );
    }

    // ---- responses ----

    fn start_response(
        &mut self,
        trigger: Trigger,
        config: Option<ResponseConfig>,
        client_event_id: Option<String>,
    ) {
        if let Some(active) = &self.active {
            if trigger == Trigger::Client {
                let message = format!(
                    "Conversation already has an active response in progress: {}. Wait until \
                     the response is finished before creating a new one.",
                    active.id
                );
                self.error(
                    "invalid_request_error",
                    Some("conversation_already_has_active_response"),
                    message,
                    None,
                    client_event_id,
                );
            }
            return;
        }
        let (instructions, metadata) = match config {
            Some(c) => (c.instructions.filter(|i| !i.is_empty()), c.metadata),
            None => (None, None),
        };
        let id = new_id("resp");
        let utterance = self.utterances.checked_sub(1);
        let cue = utterance.and_then(|u| {
            self.plan
                .script
                .tool_calls
                .iter()
                .enumerate()
                .position(|(i, cue)| cue.after_utterance == u && !self.cues_fired[i])
        });
        let created = self.response(
            &id,
            ResponseStatus::InProgress,
            None,
            Vec::new(),
            None,
            metadata.clone(),
        );
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::ResponseCreated(Box::new(ResponseEvent {
                event_id,
                response: created,
            })),
        );
        let event_id = self.ids.next();
        push(
            &mut self.out,
            &ServerEvent::RateLimitsUpdated(RateLimitsUpdated {
                event_id,
                rate_limits: vec![
                    RateLimit {
                        name: Some("requests".to_owned()),
                        limit: Some(5000),
                        remaining: Some(4999),
                        reset_seconds: Some(0.012),
                    },
                    RateLimit {
                        name: Some("tokens".to_owned()),
                        limit: Some(40_000),
                        remaining: Some(39_000),
                        reset_seconds: Some(1.5),
                    },
                ],
            }),
        );
        let item_id = new_id("item");
        let previous_item_id = self.last_item_id.replace(item_id.clone());
        let mut log = ResponseLog {
            id,
            item_id,
            trigger,
            utterance,
            instructions,
            tool_output: None,
            function_call: None,
            transcript: String::new(),
            audio_ms: 0,
            status: ResponseStatus::InProgress,
            created_at: self.now,
            done_at: None,
        };
        match cue {
            Some(cue) => self.call_function(cue, log, previous_item_id, metadata),
            None => {
                // Words a real agent would say: the scripted line. Instructions and tool
                // output shape what a model says, they are never read out.
                log.tool_output = self.tool_output.take();
                let transcript = self.plan.reply(self.spoken);
                self.spoken += 1;
                log.transcript.clone_from(&transcript);
                self.begin_speaking(log, transcript, previous_item_id, metadata);
            }
        }
    }

    /// The `response` object of `response.created` / `response.done`.
    fn response(
        &self,
        id: &str,
        status: ResponseStatus,
        status_details: Option<StatusDetails>,
        output: Vec<Item>,
        usage: Option<Usage>,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> Response {
        let output_config = self.output();
        Response {
            id: Some(id.to_owned()),
            object: Some(RESPONSE_OBJECT.to_owned()),
            status: Some(status),
            status_details,
            output,
            usage,
            conversation_id: Some(self.conversation_id.clone()),
            metadata,
            output_modalities: Some(vec![Modality::Audio]),
            max_output_tokens: Some(MaxOutputTokens::Inf),
            audio: Some(ResponseAudio {
                output: Some(AudioOutput {
                    format: output_config.and_then(|o| o.format),
                    voice: output_config.and_then(|o| o.voice.clone()),
                    speed: None,
                }),
            }),
        }
    }

    /// Sends `response.done`; the script may garble it: `status_details` as a bare
    /// string, the kind of schema drift a client's parser refuses.
    fn response_done(&mut self, response: Response) {
        let n = self.responses_done;
        self.responses_done += 1;
        let event_id = self.ids.next();
        let event = ServerEvent::ResponseDone(Box::new(ResponseEvent { event_id, response }));
        if !self.plan.script.garbled_response_done.contains(&n) {
            push(&mut self.out, &event);
            return;
        }
        if let Ok(mut value) = serde_json::to_value(&event) {
            value["response"]["status_details"] = serde_json::Value::from("see status");
            self.out.push(Out::Text(value.to_string()));
        }
    }

    /// Plausible token counts: the conversation so far in, the reply out.
    fn usage(&self, text_out: u64, audio_ms_out: u64) -> Usage {
        let input_audio = self.ms_appended() / 100;
        let input_text = 150 + 20 * self.utterances as u64;
        let cached = input_text / 2;
        let output_audio = audio_ms_out / 50;
        Usage {
            total_tokens: Some(input_audio + input_text + text_out + output_audio),
            input_tokens: Some(input_audio + input_text),
            output_tokens: Some(text_out + output_audio),
            input_token_details: Some(InputTokenDetails {
                text_tokens: Some(input_text),
                audio_tokens: Some(input_audio),
                image_tokens: Some(0),
                cached_tokens: Some(cached),
                cached_tokens_details: None,
            }),
            output_token_details: Some(OutputTokenDetails {
                text_tokens: Some(text_out),
                audio_tokens: Some(output_audio),
            }),
        }
    }

    /// A scripted tool call: the whole function-call response at once.
    fn call_function(
        &mut self,
        cue: usize,
        mut log: ResponseLog,
        previous_item_id: Option<String>,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) {
        self.cues_fired[cue] = true;
        let plan = Arc::clone(&self.plan);
        let cue = &plan.script.tool_calls[cue];
        let call_id = new_id("call");
        self.call_ids.push(call_id.clone());
        let item = |status: ItemStatus, arguments: &str| {
            Item::FunctionCall(FunctionCallItem {
                id: Some(log.item_id.clone()),
                object: Some(ITEM_OBJECT.to_owned()),
                status: Some(status),
                call_id: Some(call_id.clone()),
                name: cue.name.clone(),
                arguments: arguments.to_owned(),
            })
        };
        let started = item(ItemStatus::InProgress, "");
        let done = item(ItemStatus::Completed, &cue.arguments);
        let events = [
            ServerEvent::ResponseOutputItemAdded(OutputItemEvent {
                event_id: self.ids.next(),
                response_id: log.id.clone(),
                output_index: 0,
                item: started.clone(),
            }),
            ServerEvent::ConversationItemAdded(ConversationItemEvent {
                event_id: self.ids.next(),
                previous_item_id: previous_item_id.clone(),
                item: started,
            }),
            ServerEvent::ResponseFunctionCallArgumentsDelta(FunctionCallArgumentsDelta {
                event_id: Cow::Owned(self.ids.next()),
                response_id: Cow::Borrowed(&log.id),
                item_id: Cow::Borrowed(&log.item_id),
                output_index: 0,
                call_id: Cow::Borrowed(&call_id),
                delta: Cow::Borrowed(&cue.arguments),
            }),
            ServerEvent::ResponseFunctionCallArgumentsDone(FunctionCallArgumentsDone {
                event_id: self.ids.next(),
                response_id: log.id.clone(),
                item_id: log.item_id.clone(),
                output_index: 0,
                call_id: call_id.clone(),
                name: cue.name.clone(),
                arguments: cue.arguments.clone(),
            }),
            ServerEvent::ResponseOutputItemDone(OutputItemEvent {
                event_id: self.ids.next(),
                response_id: log.id.clone(),
                output_index: 0,
                item: done.clone(),
            }),
            ServerEvent::ConversationItemDone(ConversationItemEvent {
                event_id: self.ids.next(),
                previous_item_id,
                item: done.clone(),
            }),
        ];
        for event in &events {
            push(&mut self.out, event);
        }
        let words = cue.arguments.len() as u64 / 4 + 1;
        let usage = self.usage(words, 0);
        let response = self.response(
            &log.id,
            ResponseStatus::Completed,
            None,
            vec![done],
            Some(usage),
            metadata,
        );
        self.response_done(response);
        log.function_call = Some(FunctionCallLog {
            call_id,
            name: cue.name.clone(),
            arguments: cue.arguments.clone(),
        });
        log.status = ResponseStatus::Completed;
        log.done_at = Some(self.now);
        self.rec.update(|l| l.responses.push(log));
    }

    fn begin_speaking(
        &mut self,
        log: ResponseLog,
        transcript: String,
        previous_item_id: Option<String>,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) {
        let item = Item::Message(MessageItem {
            id: Some(log.item_id.clone()),
            object: Some(ITEM_OBJECT.to_owned()),
            status: Some(ItemStatus::InProgress),
            role: Role::Assistant,
            content: Vec::new(),
        });
        let events = [
            ServerEvent::ResponseOutputItemAdded(OutputItemEvent {
                event_id: self.ids.next(),
                response_id: log.id.clone(),
                output_index: 0,
                item: item.clone(),
            }),
            ServerEvent::ConversationItemAdded(ConversationItemEvent {
                event_id: self.ids.next(),
                previous_item_id: previous_item_id.clone(),
                item,
            }),
            ServerEvent::ResponseContentPartAdded(ContentPartEvent {
                event_id: self.ids.next(),
                response_id: log.id.clone(),
                item_id: log.item_id.clone(),
                output_index: 0,
                content_index: 0,
                part: ContentPart::Audio {
                    audio: None,
                    transcript: Some(String::new()),
                },
            }),
        ];
        for event in &events {
            push(&mut self.out, event);
        }
        self.has_spoken = true;
        let (id, item_id) = (log.id.clone(), log.item_id.clone());
        let mut log_index = 0;
        self.rec.update(|l| {
            log_index = l.responses.len();
            l.responses.push(log);
        });
        self.active = Some(Active {
            id,
            item_id,
            previous_item_id,
            metadata,
            transcript,
            text_sent: 0,
            chunk: 0,
            sent_ms: 0,
            started: self.now,
            log_index,
        });
        if self.plan.chunks.is_empty() {
            self.finish(ResponseStatus::Completed, None);
        }
    }

    /// Sends the next reply chunk (and the transcript up to it); the last one
    /// completes the response.
    pub fn step(&mut self, now: Instant) {
        self.now = now;
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let total = self.plan.chunks.len();
        if let Some(chunk) = self.plan.chunks.get(active.chunk) {
            let event_id = self.ids.next_ref();
            push(
                &mut self.out,
                &ServerEvent::ResponseOutputAudioDelta(OutputAudioDelta {
                    event_id: Cow::Borrowed(event_id),
                    response_id: Cow::Borrowed(&active.id),
                    item_id: Cow::Borrowed(&active.item_id),
                    output_index: 0,
                    content_index: 0,
                    delta: Audio::from_base64(chunk.base64.as_str()),
                }),
            );
            active.chunk += 1;
            active.sent_ms += chunk.ms;
            let target = word_end(
                &active.transcript,
                active.transcript.len() * active.chunk / total,
            );
            if target > active.text_sent {
                let event_id = self.ids.next_ref();
                push(
                    &mut self.out,
                    &ServerEvent::ResponseOutputAudioTranscriptDelta(OutputTextDelta {
                        event_id: Cow::Borrowed(event_id),
                        response_id: Cow::Borrowed(&active.id),
                        item_id: Cow::Borrowed(&active.item_id),
                        output_index: 0,
                        content_index: 0,
                        delta: Cow::Borrowed(&active.transcript[active.text_sent..target]),
                    }),
                );
                active.text_sent = target;
            }
            let (index, sent_ms) = (active.log_index, active.sent_ms);
            self.rec.update_quiet(|l| {
                if let Some(r) = l.responses.get_mut(index) {
                    r.audio_ms = sent_ms;
                }
            });
        }
        if active.chunk >= total {
            self.finish(ResponseStatus::Completed, None);
        }
    }

    /// Ends the active response: completed, or cancelled for `reason` with the audio
    /// and transcript sent so far.
    fn finish(&mut self, status: ResponseStatus, reason: Option<&str>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let completed = status == ResponseStatus::Completed;
        let transcript = if completed {
            active.transcript
        } else {
            active.transcript[..active.text_sent].to_owned()
        };
        let item = Item::Message(MessageItem {
            id: Some(active.item_id.clone()),
            object: Some(ITEM_OBJECT.to_owned()),
            status: Some(if completed {
                ItemStatus::Completed
            } else {
                ItemStatus::Incomplete
            }),
            role: Role::Assistant,
            content: vec![ContentPart::OutputAudio {
                audio: None,
                transcript: Some(transcript.clone()),
            }],
        });
        let events = [
            ServerEvent::ResponseOutputAudioDone(OutputPartDone {
                event_id: self.ids.next(),
                response_id: active.id.clone(),
                item_id: active.item_id.clone(),
                output_index: 0,
                content_index: 0,
            }),
            ServerEvent::ResponseOutputAudioTranscriptDone(OutputAudioTranscriptDone {
                event_id: self.ids.next(),
                response_id: active.id.clone(),
                item_id: active.item_id.clone(),
                output_index: 0,
                content_index: 0,
                transcript: transcript.clone(),
            }),
            ServerEvent::ResponseContentPartDone(ContentPartEvent {
                event_id: self.ids.next(),
                response_id: active.id.clone(),
                item_id: active.item_id.clone(),
                output_index: 0,
                content_index: 0,
                part: ContentPart::Audio {
                    audio: None,
                    transcript: Some(transcript.clone()),
                },
            }),
            ServerEvent::ResponseOutputItemDone(OutputItemEvent {
                event_id: self.ids.next(),
                response_id: active.id.clone(),
                output_index: 0,
                item: item.clone(),
            }),
            ServerEvent::ConversationItemDone(ConversationItemEvent {
                event_id: self.ids.next(),
                previous_item_id: active.previous_item_id,
                item: item.clone(),
            }),
        ];
        for event in &events {
            push(&mut self.out, event);
        }
        let words = transcript.split_whitespace().count() as u64;
        let usage = self.usage(words, active.sent_ms);
        let details = reason.map(|reason| StatusDetails {
            kind: Some("cancelled".to_owned()),
            reason: Some(reason.to_owned()),
            error: None,
        });
        let response = self.response(
            &active.id,
            status,
            details,
            vec![item],
            Some(usage),
            active.metadata,
        );
        self.response_done(response);
        self.audio_items.push((active.item_id, active.sent_ms));
        let (index, sent_ms, now) = (active.log_index, active.sent_ms, self.now);
        self.rec.update(|l| {
            if let Some(r) = l.responses.get_mut(index) {
                r.status = status;
                r.audio_ms = sent_ms;
                r.done_at = Some(now);
            }
        });
    }

    fn cancel(&mut self, cancel: ResponseCancel) {
        let ResponseCancel {
            event_id: client_event_id,
            response_id,
        } = cancel;
        match &self.active {
            Some(active) if response_id.as_ref().is_none_or(|id| *id == active.id) => {
                self.finish(ResponseStatus::Cancelled, Some("client_cancelled"));
            }
            _ => self.error(
                "invalid_request_error",
                Some("response_cancel_not_active"),
                "Cancellation failed: no active response found".to_owned(),
                None,
                client_event_id,
            ),
        }
    }
}

/// The built-in voices of the GA API (custom voices are `{"id": "voice_…"}`).
const VOICES: [&str; 10] = [
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
];

/// Why a `session.update` was refused: the `error` event's code, param and message.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    param: String,
    message: String,
}

impl Refusal {
    fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: "invalid_value",
            param: param.into(),
            message: message.into(),
        }
    }
}

/// Function tools as the API checks them: a name of 1–64 letters, digits, `_` or `-`,
/// unique, and parameters that are a JSON Schema of `type: "object"` whose `properties`
/// is an object.
fn validate_tools(tools: &[Tool]) -> Result<(), Refusal> {
    let mut names = std::collections::HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        let Tool::Function(function) = tool else {
            return Err(Refusal::invalid(
                format!("session.tools[{i}].type"),
                "Invalid value: supported tool types are 'function' and 'mcp'.",
            ));
        };
        let name = &function.name;
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Refusal::invalid(
                format!("session.tools[{i}].name"),
                format!(
                    "Invalid 'session.tools[{i}].name': string does not match pattern. \
                     Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                ),
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(Refusal::invalid(
                format!("session.tools[{i}].name"),
                format!("Duplicate tool name: '{name}'."),
            ));
        }
        let Some(schema) = &function.parameters else {
            continue;
        };
        let kind = schema.get("type").and_then(serde_json::Value::as_str);
        let properties_ok = schema
            .get("properties")
            .is_none_or(serde_json::Value::is_object);
        if kind != Some("object") || !properties_ok {
            let shown = kind.unwrap_or("None");
            return Err(Refusal {
                code: "invalid_function_parameters",
                param: format!("session.tools[{i}].parameters"),
                message: format!(
                    "Invalid schema for function '{name}': schema must be a JSON Schema of \
                     'type: \"object\"', got 'type: \"{shown}\"'{}.",
                    if properties_ok {
                        ""
                    } else {
                        " with 'properties' that is not an object"
                    }
                ),
            });
        }
    }
    Ok(())
}

/// The end of the word at or after byte `at` of `text` (a char boundary), so transcript
/// deltas split between words.
fn word_end(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut at = at;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text[at..].find(' ').map_or(text.len(), |i| at + i)
}

/// The `type` and `event_id` of a frame that did not parse as a known event.
fn peek(text: &str) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text) else {
        return (None, None);
    };
    let mut take = |key: &str| match object.remove(key) {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    (take("type"), take("event_id"))
}

/// The session as the real API creates it: PCM at 24 kHz both ways (hotline must
/// switch to µ-law), server VAD, no transcription, no tools.
fn default_session(model: String) -> Session {
    Session {
        kind: SessionKind::Realtime,
        model: Some(model),
        instructions: Some(
            "You are a helpful, witty, and friendly AI. Act like a human. Keep your \
             responses short."
                .to_owned(),
        ),
        output_modalities: Some(vec![Modality::Audio]),
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                format: Some(AudioFormat::Pcm { rate: Some(24_000) }),
                noise_reduction: Some(None),
                transcription: Some(None),
                turn_detection: Some(Some(TurnDetection::ServerVad(vad_defaults(
                    ServerVad::default(),
                )))),
            }),
            output: Some(AudioOutput {
                format: Some(AudioFormat::Pcm { rate: Some(24_000) }),
                voice: Some(Voice::from("alloy")),
                speed: Some(1.0),
            }),
        }),
        tools: Some(Vec::new()),
        tool_choice: Some(ToolChoice::Mode(ToolChoiceMode::Auto)),
        max_output_tokens: Some(MaxOutputTokens::Inf),
        tracing: Some(None),
        truncation: Some(serde_json::Value::String("auto".to_owned())),
        prompt: None,
        include: None,
        reasoning: None,
        parallel_tool_calls: None,
    }
}

fn vad_defaults(vad: ServerVad) -> ServerVad {
    ServerVad {
        threshold: Some(vad.threshold.unwrap_or(DEFAULT_THRESHOLD)),
        prefix_padding_ms: Some(vad.prefix_padding_ms.unwrap_or(DEFAULT_PREFIX_PADDING_MS)),
        silence_duration_ms: Some(vad.silence_duration_ms.unwrap_or(DEFAULT_SILENCE_MS)),
        create_response: Some(vad.create_response.unwrap_or(true)),
        interrupt_response: Some(vad.interrupt_response.unwrap_or(true)),
        idle_timeout_ms: vad.idle_timeout_ms,
    }
}

/// A partial update: only fields present change; a turn detection object replaces the
/// old one, with the server's defaults for what it leaves out.
fn merge(current: &mut Session, update: Session) {
    macro_rules! replace_present {
        ($($field:ident),*) => {
            $( if update.$field.is_some() { current.$field = update.$field; } )*
        };
    }
    current.kind = update.kind;
    replace_present!(
        instructions,
        output_modalities,
        tools,
        tool_choice,
        max_output_tokens,
        tracing,
        truncation,
        prompt,
        include,
        reasoning,
        parallel_tool_calls
    );
    let Some(audio) = update.audio else {
        return;
    };
    let current_audio = current.audio.get_or_insert_with(AudioConfig::default);
    if let Some(input) = audio.input {
        let current_input = current_audio.input.get_or_insert_with(AudioInput::default);
        if input.format.is_some() {
            current_input.format = input.format;
        }
        if input.noise_reduction.is_some() {
            current_input.noise_reduction = input.noise_reduction;
        }
        if input.transcription.is_some() {
            current_input.transcription = input.transcription;
        }
        if let Some(turn_detection) = input.turn_detection {
            current_input.turn_detection = Some(turn_detection.map(|td| match td {
                TurnDetection::ServerVad(v) => TurnDetection::ServerVad(vad_defaults(v)),
                TurnDetection::SemanticVad(v) => TurnDetection::SemanticVad(SemanticVad {
                    eagerness: Some(v.eagerness.unwrap_or_else(|| "auto".to_owned())),
                    create_response: Some(v.create_response.unwrap_or(true)),
                    interrupt_response: Some(v.interrupt_response.unwrap_or(true)),
                }),
                TurnDetection::Unknown => TurnDetection::Unknown,
            }));
        }
    }
    if let Some(output) = audio.output {
        let current_output = current_audio
            .output
            .get_or_insert_with(AudioOutput::default);
        if output.format.is_some() {
            current_output.format = output.format;
        }
        if output.voice.is_some() {
            current_output.voice = output.voice;
        }
        if output.speed.is_some() {
            current_output.speed = output.speed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_deltas_split_between_words() {
        let text = "Sure, I can help";
        assert_eq!(word_end(text, 0), 5);
        assert_eq!(word_end(text, 5), 5);
        assert_eq!(word_end(text, 6), 7);
        assert_eq!(word_end(text, 14), text.len());
        assert_eq!(word_end(text, 99), text.len());
        assert_eq!(word_end("é é", 1), 2);
    }

    #[test]
    fn a_partial_update_keeps_what_it_leaves_out_and_fills_vad_defaults() {
        let mut session = default_session("gpt-realtime".to_owned());
        let update = Session {
            instructions: Some("Be brief.".to_owned()),
            audio: Some(AudioConfig {
                input: Some(AudioInput {
                    format: Some(AudioFormat::Pcmu),
                    turn_detection: Some(Some(TurnDetection::ServerVad(ServerVad {
                        silence_duration_ms: Some(700),
                        ..ServerVad::default()
                    }))),
                    ..AudioInput::default()
                }),
                output: None,
            }),
            ..Session::realtime()
        };
        merge(&mut session, update);
        assert_eq!(session.instructions.as_deref(), Some("Be brief."));
        assert_eq!(session.model.as_deref(), Some("gpt-realtime"));
        let audio = session.audio.as_ref().and_then(|a| a.input.as_ref());
        assert_eq!(audio.and_then(|i| i.format), Some(AudioFormat::Pcmu));
        let Some(Some(TurnDetection::ServerVad(vad))) =
            audio.and_then(|i| i.turn_detection.clone())
        else {
            panic!("server VAD expected");
        };
        assert_eq!(vad.silence_duration_ms, Some(700));
        assert_eq!(vad.prefix_padding_ms, Some(300));
        assert_eq!(vad.create_response, Some(true));
        let output = session.audio.as_ref().and_then(|a| a.output.as_ref());
        assert_eq!(
            output.and_then(|o| o.voice.clone()),
            Some(Voice::from("alloy"))
        );
    }

    #[test]
    fn peek_finds_type_and_event_id_of_unknown_frames() {
        assert_eq!(
            peek(r#"{"type":"x.y","event_id":"e1","a":1}"#),
            (Some("x.y".to_owned()), Some("e1".to_owned()))
        );
        assert_eq!(peek("not json"), (None, None));
        assert_eq!(peek("[1]"), (None, None));
    }

    #[test]
    fn ids_look_like_the_real_apis() {
        let id = new_id("item");
        assert!(id.starts_with("item_"));
        assert_eq!(id.len(), 5 + 21);
        let mut ids = EventIds::new();
        let first = ids.next();
        assert_ne!(first, ids.next());
        assert!(first.starts_with("event_"));
    }
}
