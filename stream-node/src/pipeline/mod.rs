//! The `pipeline` provider: the caller's µ-law goes as it is to Deepgram's live
//! transcription; a caller turn (Deepgram's endpointing) goes to a streaming
//! chat-completions model with the agent's tools; its reply is cut into sentences as
//! it streams, and each sentence is spoken by ElevenLabs in µ-law 8 kHz, straight to
//! Twilio. Nothing is resampled on the audio path.
//!
//! Turn-taking: Deepgram's `speech_final` / `UtteranceEnd` end the caller's turn; its
//! `SpeechStarted`, its words, or the node's own VAD ([`vad`], on the caller's audio,
//! no network in between) start one. A start while the agent speaks is a barge-in: the
//! model's stream and the sentence being spoken are dropped, the call loop clears
//! Twilio and says how much of the reply the caller heard
//! ([`ProviderCommand::Truncate`]), and the model's history keeps only those words.
//!
//! To the call loop a reply is a response (`p1`, `p2`, …) like any provider's. Its
//! audio comes faster than it plays, so the reply stays active until its audio has had
//! time to play: a barge-in while the caller still hears it cuts it, history and record.
//! Everything happens inside [`PipelineSession::next_frame`], which waits on the three
//! services at once; whatever it produced is handed out through
//! [`ProviderSession::read`] and [`ProviderSession::pending`].

pub mod chat;
pub mod deepgram;
pub mod elevenlabs;
pub mod vad;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use hotline_core::model::Agent;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::{debug, info, warn};

use crate::openai::{ProviderSocket, open_socket};
use crate::provider::{
    AgentAudio, Capabilities, Frame, Incoming, ProviderCommand, ProviderEvent, ProviderGone,
    ProviderSession,
};

/// Where the three services are and the keys they take.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `DEEPGRAM_BASE_URL`.
    pub deepgram_base_url: String,
    /// `DEEPGRAM_API_KEY`.
    pub deepgram_api_key: SecretString,
    /// `ELEVENLABS_BASE_URL`.
    pub elevenlabs_base_url: String,
    /// `ELEVENLABS_API_KEY`.
    pub elevenlabs_api_key: SecretString,
    /// `OPENAI_BASE_URL`: any OpenAI-compatible chat completions server.
    pub llm_base_url: String,
    /// `OPENAI_API_KEY`.
    pub llm_api_key: SecretString,
}

/// The pipeline reports speech both ways and cuts its own history at what was heard;
/// after a tool's output it is asked for the next reply, like OpenAI.
pub const CAPABILITIES: Capabilities = Capabilities {
    server_vad: true,
    speech_events: true,
    truncate: true,
    answers_tool_output: false,
    transcripts: true,
};

/// Deepgram closes a socket that hears nothing for 10 s: while the call loop sends no
/// audio (a goodbye, a transfer) a `KeepAlive` goes every this often.
const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// A speech start that no words and no end follow (a cough the VAD took for a word)
/// is over after this long, so the call's silence guard still runs.
const SPEECH_STALE: Duration = Duration::from_secs(4);
/// How long one reply may stream from the model, and one sentence from the voice.
const LLM_TIMEOUT: Duration = Duration::from_secs(60);
const TTS_TIMEOUT: Duration = Duration::from_secs(30);
/// µ-law at 8 kHz: 8 bytes a millisecond.
const BYTES_PER_MS: u64 = 8;
/// Notes are the call's own facts, never the caller's words.
const NOTE_PREFIX: &str = "[Call event, not spoken by the caller] ";

type Pending = Pin<Box<dyn Future<Output = Result<reqwest::Response, reqwest::Error>> + Send>>;

/// A streamed HTTP answer: asked for, then read chunk by chunk.
#[derive(Default)]
enum Stream {
    #[default]
    Idle,
    Asking(Pending),
    Reading(reqwest::Response),
}

/// What one turn of a [`Stream`] gave.
enum Step {
    Answered(reqwest::Response),
    Chunk(reqwest::Result<Option<hyper::body::Bytes>>),
    Failed(String),
}

impl Stream {
    fn is_idle(&self) -> bool {
        matches!(self, Self::Idle)
    }

    /// Cancel-safe: the request or the response stays in `self` between polls.
    async fn step(&mut self) -> Step {
        match self {
            Self::Idle => std::future::pending().await,
            Self::Asking(pending) => match pending.as_mut().await {
                Ok(response) => Step::Answered(response),
                Err(e) => Step::Failed(e.without_url().to_string()),
            },
            Self::Reading(response) => Step::Chunk(response.chunk().await),
        }
    }
}

/// A sentence whose audio went to the caller: where on the reply's audio it lies.
#[derive(Debug, Clone)]
struct Spoken {
    text: String,
    start_ms: u64,
    end_ms: u64,
}

/// The reply in progress.
struct Reply {
    id: String,
    /// Everything the model wrote.
    text: String,
    sentences: elevenlabs::Sentences,
    /// Sentences waiting for their turn to be spoken.
    queued: VecDeque<String>,
    /// The sentence being spoken, and where its audio started.
    speaking: Option<(String, u64)>,
    spoken: Vec<Spoken>,
    completion: chat::Completion,
    /// The model's stream has ended.
    written: bool,
    /// Audio sent for this reply, bytes.
    audio_bytes: u64,
    first_audio: Option<Instant>,
    /// The first chunk of the sentence being spoken has not come yet.
    sentence_start: bool,
}

impl Reply {
    fn audio_ms(&self) -> u64 {
        self.audio_bytes / BYTES_PER_MS
    }

    /// When the caller will have heard all of it, as far as can be told from here.
    fn played_at(&self) -> Instant {
        self.first_audio.map_or_else(Instant::now, |at| {
            at + Duration::from_millis(self.audio_ms())
        })
    }

    /// The words of the first `heard_ms` of its audio: whole sentences, then the
    /// share of the one cut short by its length in words.
    fn heard(&self, heard_ms: u64) -> String {
        let mut words: Vec<&str> = Vec::new();
        for s in &self.spoken {
            if s.end_ms <= heard_ms {
                words.extend(s.text.split_whitespace());
            } else if s.start_ms < heard_ms {
                let all: Vec<&str> = s.text.split_whitespace().collect();
                let share = (heard_ms - s.start_ms) as f64 / (s.end_ms - s.start_ms).max(1) as f64;
                let n = (all.len() as f64 * share).floor() as usize;
                words.extend(&all[..n.min(all.len())]);
            }
        }
        words.join(" ")
    }
}

/// A reply the caller spoke over, waiting for the call loop to say what was heard.
struct Interrupted {
    reply: Reply,
    heard_ms: Option<u64>,
}

/// A pipeline session for one call.
pub struct PipelineSession {
    config: PipelineConfig,
    http: reqwest::Client,
    model: String,
    voice: String,
    tts_model: String,
    tools: Vec<Value>,
    stt: ProviderSocket,
    turns: deepgram::Turns,
    vad: vad::LocalVad,
    /// The conversation as the model knows it; the system prompt first.
    history: Vec<Value>,
    /// Messages held while a tool call has no output yet (a tool message must follow
    /// its call directly): notes, caller turns, replies meanwhile.
    held: Vec<Value>,
    /// Tool calls of the last reply still waiting for their output.
    awaiting: Vec<String>,
    /// A reply was asked for while some outputs of one reply's calls had come and
    /// others not: it waits for the rest.
    reply_wanted: bool,
    /// Some of the awaited calls have their output already.
    answered_some: bool,
    reply: Option<Reply>,
    interrupted: Option<Interrupted>,
    llm: Stream,
    tts: Stream,
    sse: chat::Sse,
    replies: u64,
    caller_turns: u64,
    /// The caller is speaking (a `SpeechStarted` went to the loop, no `SpeechStopped`).
    speaking: bool,
    last_speech: Instant,
    last_audio: Instant,
    queue: VecDeque<Incoming<'static>>,
    /// The loop has taken everything queued (and so has applied what it decided).
    drained: bool,
    audio: Vec<u8>,
}

impl PipelineSession {
    /// Opens the speech-to-text socket; the model and the voice are asked per reply.
    pub async fn open(config: PipelineConfig, agent: &Agent) -> Result<Self, String> {
        let spec = agent.pipeline.clone().unwrap_or_default();
        let url = deepgram::listen_url(&config.deepgram_base_url, &spec.stt)?;
        let stt = open_socket(
            url,
            "authorization",
            &format!("Token {}", config.deepgram_api_key.expose_secret()),
        )
        .await
        .map_err(|e| format!("Deepgram: {e}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let now = Instant::now();
        Ok(Self {
            http,
            model: agent.model.clone(),
            voice: agent.voice.clone(),
            tts_model: spec.tts.model,
            tools: chat::tools(agent),
            stt,
            turns: deepgram::Turns::default(),
            vad: vad::LocalVad::new()?,
            history: vec![json!({"role": "system", "content": agent.instructions})],
            held: Vec::new(),
            awaiting: Vec::new(),
            reply_wanted: false,
            answered_some: false,
            reply: None,
            interrupted: None,
            llm: Stream::Idle,
            tts: Stream::Idle,
            sse: chat::Sse::default(),
            replies: 0,
            caller_turns: 0,
            speaking: false,
            last_speech: now,
            last_audio: now,
            queue: VecDeque::new(),
            drained: true,
            audio: Vec::new(),
            config,
        })
    }

    fn push(&mut self, item: Incoming<'static>) {
        self.drained = false;
        self.queue.push_back(item);
    }

    fn event(&mut self, event: ProviderEvent) {
        self.push(Incoming::Event(event));
    }

    /// Adds a message to the conversation, or holds it while a tool's output is due.
    fn remember(&mut self, message: Value) {
        if self.awaiting.is_empty() {
            self.history.push(message);
        } else {
            self.held.push(message);
        }
    }

    /// The messages a request sends: the conversation, and while a tool's output is
    /// due, without the unanswered call and with what was held.
    fn messages(&self) -> Vec<Value> {
        if self.awaiting.is_empty() {
            return self.history.clone();
        }
        let mut messages: Vec<Value> = self
            .history
            .iter()
            .filter(|m| {
                !m["tool_calls"].as_array().is_some_and(|calls| {
                    calls.iter().any(|c| {
                        c["id"]
                            .as_str()
                            .is_some_and(|id| self.awaiting.iter().any(|a| a == id))
                    })
                })
            })
            .cloned()
            .collect();
        messages.extend(self.held.iter().cloned());
        messages
    }

    /// Asks the model for the next reply.
    fn start_reply(&mut self) {
        if self.reply.is_some() {
            return;
        }
        self.replies += 1;
        let id = format!("p{}", self.replies);
        let body = chat::body(&self.model, &self.messages(), &self.tools);
        let request = self
            .http
            .post(format!(
                "{}/chat/completions",
                self.config.llm_base_url.trim_end_matches('/')
            ))
            .bearer_auth(self.config.llm_api_key.expose_secret())
            .timeout(LLM_TIMEOUT)
            .json(&body)
            .send();
        self.llm = Stream::Asking(Box::pin(request));
        self.sse = chat::Sse::default();
        self.reply = Some(Reply {
            id: id.clone(),
            text: String::new(),
            sentences: elevenlabs::Sentences::default(),
            queued: VecDeque::new(),
            speaking: None,
            spoken: Vec::new(),
            completion: chat::Completion::default(),
            written: false,
            audio_bytes: 0,
            first_audio: None,
            sentence_start: false,
        });
        debug!(reply = %id, "asking the model");
        self.event(ProviderEvent::ResponseStarted { response_id: id });
    }

    /// Starts speaking the next queued sentence, if nothing is being spoken.
    fn speak_next(&mut self) {
        if !self.tts.is_idle() {
            return;
        }
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let Some(sentence) = reply.queued.pop_front() else {
            return;
        };
        let previous = reply.spoken.last().map(|s| s.text.clone());
        let body = elevenlabs::body(&sentence, &self.tts_model, previous.as_deref());
        reply.speaking = Some((sentence, reply.audio_ms()));
        reply.sentence_start = true;
        let request = self
            .http
            .post(elevenlabs::stream_url(
                &self.config.elevenlabs_base_url,
                &self.voice,
            ))
            .header("xi-api-key", self.config.elevenlabs_api_key.expose_secret())
            .timeout(TTS_TIMEOUT)
            .json(&body)
            .send();
        self.tts = Stream::Asking(Box::pin(request));
    }

    /// The caller started speaking (words, Deepgram's VAD or ours).
    fn speech(&mut self) {
        self.last_speech = Instant::now();
        if self.speaking {
            return;
        }
        self.speaking = true;
        self.event(ProviderEvent::SpeechStarted);
        if let Some(reply) = self.reply.take() {
            // Barge-in: the model and the voice stop; what the caller heard is settled
            // once the loop has said (a `Truncate`) or had its chance to.
            self.llm = Stream::Idle;
            self.tts = Stream::Idle;
            let id = reply.id.clone();
            self.queue
                .retain(|i| !matches!(i, Incoming::Audio(a) if a.response_id == id));
            info!(reply = %reply.id, "caller barged in");
            self.interrupted = Some(Interrupted {
                reply,
                heard_ms: None,
            });
        }
    }

    fn speech_stopped(&mut self) {
        if self.speaking {
            self.speaking = false;
            self.event(ProviderEvent::SpeechStopped);
        }
    }

    /// The caller's turn ended with `text`: on the record, into the conversation, and
    /// the model answers.
    fn utterance(&mut self, text: String) {
        self.speech_stopped();
        self.caller_turns += 1;
        self.event(ProviderEvent::CallerTranscript {
            item_id: format!("caller{}", self.caller_turns),
            text: text.clone(),
        });
        self.settle();
        self.remember(json!({"role": "user", "content": text}));
        if self.reply.is_none() {
            self.start_reply();
        }
    }

    /// An interrupted reply is over: history and record keep what was heard.
    fn settle(&mut self) {
        let Some(Interrupted {
            mut reply,
            heard_ms,
        }) = self.interrupted.take()
        else {
            return;
        };
        if let Some((text, start)) = reply.speaking.take() {
            let end = reply.audio_ms();
            if end > start {
                reply.spoken.push(Spoken {
                    text,
                    start_ms: start,
                    end_ms: end,
                });
            }
        }
        let played = reply.first_audio.map_or(0, |at| {
            u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        let heard_ms = heard_ms.unwrap_or(played).min(reply.audio_ms());
        let heard = reply.heard(heard_ms);
        debug!(reply = %reply.id, heard_ms, "interrupted reply settled");
        if !heard.is_empty() {
            self.remember(json!({"role": "assistant", "content": heard}));
            self.event(ProviderEvent::AgentTranscript {
                item_id: reply.id.clone(),
                text: heard,
            });
        }
        self.event(ProviderEvent::ResponseDone {
            response_id: reply.id,
            status: "cancelled".into(),
        });
    }

    /// The reply has been written and spoken, and has had time to play.
    fn complete(&mut self) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let calls = reply.completion.calls();
        let text = reply.text.trim().to_owned();
        let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text.clone()) }});
        if !calls.is_empty() {
            message["tool_calls"] = calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
        }
        if !text.is_empty() || !calls.is_empty() {
            self.remember(message);
        }
        if !text.is_empty() {
            self.event(ProviderEvent::AgentTranscript {
                item_id: reply.id.clone(),
                text,
            });
        }
        for call in &calls {
            self.awaiting.push(call.id.clone());
        }
        for call in calls {
            let arguments = if call.arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                call.arguments
            };
            self.event(ProviderEvent::FunctionCall {
                call_id: call.id,
                name: call.name,
                arguments,
            });
        }
        self.event(ProviderEvent::AudioDone {
            response_id: reply.id.clone(),
        });
        self.event(ProviderEvent::ResponseDone {
            response_id: reply.id,
            status: "completed".into(),
        });
    }

    fn on_stt(&mut self, text: &str) {
        let message = match serde_json::from_str::<deepgram::ServerMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                debug!(column = e.column(), "unparsable Deepgram message ignored");
                return;
            }
        };
        if let deepgram::ServerMessage::Error { description } = &message {
            warn!(
                description = description.as_deref().unwrap_or(""),
                "Deepgram error"
            );
        }
        let mut heard = Vec::new();
        self.turns.on(message, &mut heard);
        for h in heard {
            match h {
                deepgram::Heard::Speech => self.speech(),
                deepgram::Heard::Utterance(text) => self.utterance(text),
            }
        }
    }

    fn on_llm(&mut self, step: Step) -> Result<(), ProviderGone> {
        match step {
            Step::Answered(response) => {
                let status = response.status();
                if !status.is_success() {
                    self.llm = Stream::Idle;
                    return Err(ProviderGone(format!(
                        "the LLM refused the request: HTTP {}",
                        status.as_u16()
                    )));
                }
                self.llm = Stream::Reading(response);
            }
            Step::Chunk(Ok(Some(bytes))) => {
                let mut events = Vec::new();
                self.sse.push(&bytes, &mut events);
                for event in events {
                    match event {
                        chat::Event::Data(data) => self.llm_data(&data)?,
                        chat::Event::Done => self.llm_done(),
                    }
                }
            }
            Step::Chunk(Ok(None)) => self.llm_done(),
            Step::Chunk(Err(e)) => {
                self.llm = Stream::Idle;
                return Err(ProviderGone(format!(
                    "the LLM's stream broke off: {}",
                    e.without_url()
                )));
            }
            Step::Failed(why) => {
                self.llm = Stream::Idle;
                return Err(ProviderGone(format!("the LLM is unreachable: {why}")));
            }
        }
        Ok(())
    }

    fn llm_data(&mut self, data: &str) -> Result<(), ProviderGone> {
        let Some(reply) = self.reply.as_mut() else {
            return Ok(());
        };
        let content = reply
            .completion
            .chunk(data)
            .map_err(|e| ProviderGone(format!("the LLM failed mid-reply: {e}")))?;
        if !content.is_empty() {
            reply.text.push_str(&content);
            let mut done = Vec::new();
            reply.sentences.push(&content, &mut done);
            reply.queued.extend(done);
            self.speak_next();
        }
        Ok(())
    }

    fn llm_done(&mut self) {
        self.llm = Stream::Idle;
        if let Some(reply) = self.reply.as_mut()
            && !reply.written
        {
            reply.written = true;
            if let Some(rest) = reply.sentences.finish() {
                reply.queued.push_back(rest);
            }
            self.speak_next();
        }
    }

    fn on_tts(&mut self, step: Step) -> Result<(), ProviderGone> {
        match step {
            Step::Answered(response) => {
                let status = response.status();
                if !status.is_success() {
                    self.tts = Stream::Idle;
                    return Err(ProviderGone(format!(
                        "ElevenLabs refused the speech: HTTP {}",
                        status.as_u16()
                    )));
                }
                self.tts = Stream::Reading(response);
            }
            Step::Chunk(Ok(Some(bytes))) => self.tts_audio(&bytes),
            Step::Chunk(Ok(None)) => {
                self.tts = Stream::Idle;
                if let Some(reply) = self.reply.as_mut()
                    && let Some((text, start)) = reply.speaking.take()
                {
                    let end = reply.audio_ms();
                    reply.spoken.push(Spoken {
                        text,
                        start_ms: start,
                        end_ms: end,
                    });
                }
                self.speak_next();
            }
            Step::Chunk(Err(e)) => {
                self.tts = Stream::Idle;
                return Err(ProviderGone(format!(
                    "ElevenLabs' audio broke off: {}",
                    e.without_url()
                )));
            }
            Step::Failed(why) => {
                self.tts = Stream::Idle;
                return Err(ProviderGone(format!("ElevenLabs is unreachable: {why}")));
            }
        }
        Ok(())
    }

    fn tts_audio(&mut self, bytes: &[u8]) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let mut audio = bytes;
        if reply.sentence_start {
            reply.sentence_start = false;
            if audio.starts_with(b"RIFF") && audio.len() >= elevenlabs::WAV_HEADER {
                audio = &audio[elevenlabs::WAV_HEADER..];
            }
        }
        if audio.is_empty() {
            return;
        }
        reply.first_audio.get_or_insert_with(Instant::now);
        reply.audio_bytes += audio.len() as u64;
        let id = reply.id.clone();
        self.push(Incoming::Audio(AgentAudio {
            response_id: id.clone().into(),
            item_id: id.into(),
            payload: BASE64.encode(audio).into(),
        }));
    }

    /// The reply is written and spoken: it ends once it has had time to play.
    fn finished_speaking(&self) -> Option<Instant> {
        let reply = self.reply.as_ref()?;
        let done = reply.written
            && self.llm.is_idle()
            && self.tts.is_idle()
            && reply.queued.is_empty()
            && reply.speaking.is_none();
        done.then(|| reply.played_at())
    }

    async fn keep_alive(&mut self) -> Result<(), ProviderGone> {
        self.last_audio = Instant::now();
        self.stt
            .send(Message::text(r#"{"type":"KeepAlive"}"#))
            .await
            .map_err(|e| ProviderGone(format!("send to Deepgram: {e}")))
    }
}

impl ProviderSession for PipelineSession {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn send_audio(&mut self, payload: &str) -> Result<(), WsError> {
        self.audio.clear();
        if BASE64.decode_vec(payload, &mut self.audio).is_err() || self.audio.is_empty() {
            return Ok(());
        }
        match self.vad.push(&self.audio) {
            Some(vad::Change::Started) => self.speech(),
            // Deepgram ends turns with words; a start with none (a cough) ends here.
            Some(vad::Change::Stopped)
                if !self.turns.pending()
                    && self.speaking
                    && self.last_speech.elapsed() > Duration::from_millis(500) =>
            {
                self.speech_stopped();
            }
            _ => {}
        }
        self.last_audio = Instant::now();
        let audio = std::mem::take(&mut self.audio);
        self.stt.send(Message::binary(audio)).await
    }

    async fn send(&mut self, command: ProviderCommand) -> Result<(), WsError> {
        match command {
            ProviderCommand::Truncate {
                item_id,
                audio_end_ms,
            } => {
                if let Some(i) = self.interrupted.as_mut()
                    && i.reply.id == item_id
                {
                    i.heard_ms = Some(audio_end_ms);
                }
            }
            ProviderCommand::SystemNote(text) => {
                self.remember(json!({"role": "system", "content": format!("{NOTE_PREFIX}{text}")}));
            }
            ProviderCommand::FunctionOutput { call_id, output } => {
                if self.awaiting.contains(&call_id) {
                    self.awaiting.retain(|a| *a != call_id);
                    self.history
                        .push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
                    self.answered_some = !self.awaiting.is_empty();
                    if self.awaiting.is_empty() {
                        self.history.append(&mut self.held);
                        if std::mem::take(&mut self.reply_wanted) {
                            self.start_reply();
                        }
                    }
                } else {
                    debug!("output for a tool call the model no longer waits for");
                }
            }
            ProviderCommand::CreateResponse { instructions } => {
                if let Some(text) = instructions {
                    self.remember(
                        json!({"role": "system", "content": format!("{NOTE_PREFIX}{text}")}),
                    );
                }
                self.settle();
                // A reply after some of a reply's tool outputs waits for the rest; the
                // filler while a tool runs goes without the unanswered call.
                if self.answered_some {
                    self.reply_wanted = true;
                } else {
                    self.start_reply();
                }
            }
        }
        Ok(())
    }

    async fn next_frame(&mut self) -> Result<Frame, ProviderGone> {
        loop {
            if self.drained && self.interrupted.is_some() {
                self.settle();
            }
            if !self.queue.is_empty() {
                return Ok(Frame::Text(Utf8Bytes::from_static("")));
            }
            let now = Instant::now();
            let mut wake = self.last_audio + KEEP_ALIVE;
            if self.speaking {
                wake = wake.min(self.last_speech + SPEECH_STALE);
            }
            let finished = self.finished_speaking();
            if let Some(at) = finished {
                wake = wake.min(at);
            }
            tokio::select! {
                msg = self.stt.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.on_stt(t.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map_or_else(String::new, |f| format!("{} {}", f.code, f.reason));
                        return Err(ProviderGone(format!("Deepgram closed the transcription: {why}")));
                    }
                    Some(Ok(_)) => {}
                    None => return Err(ProviderGone("Deepgram's socket ended".into())),
                    Some(Err(e)) => return Err(ProviderGone(format!("Deepgram's socket failed: {e}"))),
                },
                step = self.llm.step() => self.on_llm(step)?,
                step = self.tts.step() => self.on_tts(step)?,
                () = tokio::time::sleep_until(wake.max(now)) => {
                    let now = Instant::now();
                    if finished.is_some_and(|at| at <= now) {
                        self.complete();
                    }
                    if self.speaking && now >= self.last_speech + SPEECH_STALE && !self.turns.pending() {
                        self.speech_stopped();
                    }
                    if now >= self.last_audio + KEEP_ALIVE {
                        self.keep_alive().await?;
                    }
                }
            }
        }
    }

    fn read<'f>(&mut self, _frame: &'f Frame) -> Incoming<'f> {
        self.queue.pop_front().unwrap_or(Incoming::Nothing)
    }

    fn pending(&mut self) -> Option<Incoming<'static>> {
        let next = self.queue.pop_front();
        if next.is_none() {
            self.drained = true;
        }
        next
    }

    async fn close(&mut self) {
        self.llm = Stream::Idle;
        self.tts = Stream::Idle;
        let _ = self
            .stt
            .send(Message::text(r#"{"type":"CloseStream"}"#))
            .await;
        let _ = self.stt.close(None).await;
    }
}
