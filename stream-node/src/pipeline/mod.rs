//! The `pipeline` provider: the caller's µ-law goes as it is to a streaming
//! speech-to-text ([`stt`]: Deepgram's live transcription or ElevenLabs' realtime
//! Scribe); a caller turn (the service's endpointing) goes to a streaming
//! chat-completions model with the agent's tools; its reply is cut into sentences as
//! it streams, and each sentence is spoken by the agent's voice: ElevenLabs in µ-law
//! 8 kHz, straight to Twilio, or OpenAI ([`speech`]) in PCM 24 kHz, brought down to
//! µ-law 8 kHz by the anti-aliased resampler. While one sentence plays the next is
//! already asked for ([`Prefetch`]), so no round trip to the voice falls between them.
//!
//! Turn-taking: the STT's end of utterance ends the caller's turn; its speech events,
//! its words, or the node's own VAD ([`vad`], on the caller's audio, no network in
//! between) start one. A start while the agent speaks is a barge-in: the model's
//! stream, the sentence being spoken and the one prefetched are dropped, the call loop
//! clears Twilio and says how much of the reply the caller heard
//! ([`ProviderCommand::Truncate`]), and the model's history keeps only those words.
//!
//! Resilience: a speech-to-text socket that drops mid-call is opened again ([`stt`],
//! bounded, with backoff) and the call goes on; a chat or speech request refused with
//! 429 or 5xx is asked again ([`HTTP_RETRIES`] times, with backoff or the server's
//! `Retry-After`), then the call apologises as for any failed stage.
//!
//! To the call loop a reply is a response (`p1`, `p2`, …) like any provider's. Its
//! audio comes faster than it plays, so the reply stays active until its audio has had
//! time to play: a barge-in while the caller still hears it cuts it, history and record.
//! Everything happens inside [`PipelineSession::next_frame`], which waits on the
//! services at once; whatever it produced is handed out through
//! [`ProviderSession::read`] and [`ProviderSession::pending`].

pub mod chat;
pub mod deepgram;
pub mod elevenlabs;
pub mod scribe;
pub mod speech;
pub mod stt;
pub mod vad;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hotline_core::model::{Agent, SttVendor, TtsVendor};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Utf8Bytes};
use tracing::{debug, info, warn};

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
    /// OpenAI's speech endpoint, for agents whose `tts.vendor` is `openai`:
    /// `OPENAI_BASE_URL` and `OPENAI_API_KEY` too, apart from the LLM's only so that a
    /// local run can simulate each (the chat simulator streams; the REST one speaks).
    pub openai_speech_base_url: String,
    pub openai_speech_api_key: SecretString,
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
/// An HTTP request refused with 429 or 5xx (or not answered) is tried this many more
/// times, after [`RETRY_BACKOFF`] doubling (or the server's `Retry-After`, up to
/// [`MAX_RETRY_AFTER`]); then the call apologises, as for any failed stage.
const HTTP_RETRIES: u32 = 2;
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);
/// µ-law at 8 kHz: 8 bytes a millisecond.
const BYTES_PER_MS: u64 = 8;
/// Notes are the call's own facts, never the caller's words.
const NOTE_PREFIX: &str = "[Call event, not spoken by the caller] ";

type Pending = Pin<Box<dyn Future<Output = Result<reqwest::Response, reqwest::Error>> + Send>>;

/// A streamed HTTP answer: asked for, then read chunk by chunk; or waiting to be asked
/// again after a refusal worth retrying.
#[derive(Default)]
enum Stream {
    #[default]
    Idle,
    Waiting(Instant),
    Asking(Pending),
    Reading(reqwest::Response),
}

/// What one turn of a [`Stream`] gave.
enum Step {
    Answered(reqwest::Response),
    Chunk(reqwest::Result<Option<hyper::body::Bytes>>),
    Failed(String),
    /// The wait before a retry is over.
    Retry,
}

impl Stream {
    fn is_idle(&self) -> bool {
        matches!(self, Self::Idle)
    }

    /// Cancel-safe: the request or the response stays in `self` between polls.
    async fn step(&mut self) -> Step {
        match self {
            Self::Idle => std::future::pending().await,
            Self::Waiting(at) => {
                tokio::time::sleep_until(*at).await;
                Step::Retry
            }
            Self::Asking(pending) => match pending.as_mut().await {
                Ok(response) => Step::Answered(response),
                Err(e) => Step::Failed(e.without_url().to_string()),
            },
            Self::Reading(response) => Step::Chunk(response.chunk().await),
        }
    }
}

/// How long to wait before trying a refused request again, if it is worth it: 429 and
/// 5xx are (and no answer at all, `None`), the rest are not; `attempt` counts retries
/// made so far.
fn retry_delay(response: Option<&reqwest::Response>, attempt: u32) -> Option<Duration> {
    if attempt >= HTTP_RETRIES {
        return None;
    }
    if let Some(response) = response {
        let status = response.status();
        if status.as_u16() != 429 && !status.is_server_error() {
            return None;
        }
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER));
        if let Some(after) = after {
            return Some(after);
        }
    }
    Some(RETRY_BACKOFF * 2u32.pow(attempt))
}

/// The sentence after the one being spoken, asked for while that one plays so that no
/// round trip to the voice falls between them. Only its answer's head is awaited; its
/// audio is read once it is the one being spoken.
struct Prefetch {
    sentence: String,
    /// Asking, then Reading once answered (unread).
    answer: Stream,
    /// Asking failed (no answer at all).
    failed: Option<String>,
}

/// Waits for the prefetched sentence's answer; pending when there is none to wait for.
/// Cancel-safe: the request stays in the prefetch.
async fn prefetched(prefetch: &mut Option<Prefetch>) {
    let Some(p) = prefetch.as_mut() else {
        return std::future::pending().await;
    };
    let Stream::Asking(pending) = &mut p.answer else {
        return std::future::pending().await;
    };
    match pending.as_mut().await {
        Ok(response) => p.answer = Stream::Reading(response),
        Err(e) => {
            p.failed = Some(e.without_url().to_string());
            p.answer = Stream::Idle;
        }
    }
}

/// The agent's voice: who speaks, with what model and voice name, and what its audio
/// needs on the way to Twilio.
struct Voice {
    http: reqwest::Client,
    vendor: TtsVendor,
    base_url: String,
    api_key: SecretString,
    voice: String,
    model: String,
    /// OpenAI's PCM 24 kHz down to µ-law 8 kHz; ElevenLabs speaks µ-law already.
    pcm: Option<speech::PcmToMulaw>,
}

impl Voice {
    fn name(&self) -> &'static str {
        match self.vendor {
            TtsVendor::Elevenlabs => "ElevenLabs",
            TtsVendor::Openai => "OpenAI's voice",
        }
    }

    /// The request for one sentence; `previous` is the one spoken before it.
    fn request(&self, sentence: &str, previous: Option<&str>) -> Pending {
        let request = match self.vendor {
            TtsVendor::Elevenlabs => self
                .http
                .post(elevenlabs::stream_url(&self.base_url, &self.voice))
                .header("xi-api-key", self.api_key.expose_secret())
                .json(&elevenlabs::body(sentence, &self.model, previous)),
            TtsVendor::Openai => self
                .http
                .post(speech::speech_url(&self.base_url))
                .bearer_auth(self.api_key.expose_secret())
                .json(&speech::body(sentence, &self.model, &self.voice)),
        };
        Box::pin(request.timeout(TTS_TIMEOUT).send())
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
    voice: Voice,
    tools: Vec<Value>,
    stt: stt::Stt,
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
    /// The reply's request body, kept to ask again after a refusal.
    llm_body: Value,
    llm_retries: u32,
    tts: Stream,
    tts_retries: u32,
    prefetch: Option<Prefetch>,
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
    /// A stage failed where no error could be returned (a prefetched sentence refused
    /// as it became the one spoken): the next frame reports it.
    failed: Option<ProviderGone>,
}

impl PipelineSession {
    /// Opens the speech-to-text socket; the model and the voice are asked per reply.
    pub async fn open(config: PipelineConfig, agent: &Agent) -> Result<Self, String> {
        let spec = agent.pipeline.clone().unwrap_or_default();
        let (stt_base, stt_key) = match spec.stt.vendor {
            SttVendor::Deepgram => (&config.deepgram_base_url, &config.deepgram_api_key),
            SttVendor::Elevenlabs => (&config.elevenlabs_base_url, &config.elevenlabs_api_key),
        };
        let stt = stt::Stt::open(&spec.stt, stt_base, stt_key).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let (base_url, api_key, pcm) = match spec.tts.vendor {
            TtsVendor::Elevenlabs => (
                config.elevenlabs_base_url.clone(),
                config.elevenlabs_api_key.clone(),
                None,
            ),
            TtsVendor::Openai => (
                config.openai_speech_base_url.clone(),
                config.openai_speech_api_key.clone(),
                Some(speech::PcmToMulaw::new()?),
            ),
        };
        let voice = Voice {
            http: http.clone(),
            vendor: spec.tts.vendor,
            base_url,
            api_key,
            voice: agent.voice.clone(),
            model: spec.tts.model,
            pcm,
        };
        let now = Instant::now();
        Ok(Self {
            http,
            model: agent.model.clone(),
            voice,
            tools: chat::tools(agent),
            stt,
            vad: vad::LocalVad::new()?,
            history: vec![json!({"role": "system", "content": agent.instructions})],
            held: Vec::new(),
            awaiting: Vec::new(),
            reply_wanted: false,
            answered_some: false,
            reply: None,
            interrupted: None,
            llm: Stream::Idle,
            llm_body: Value::Null,
            llm_retries: 0,
            tts: Stream::Idle,
            tts_retries: 0,
            prefetch: None,
            sse: chat::Sse::default(),
            replies: 0,
            caller_turns: 0,
            speaking: false,
            last_speech: now,
            last_audio: now,
            queue: VecDeque::new(),
            drained: true,
            audio: Vec::new(),
            failed: None,
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
        self.llm_body = chat::body(&self.model, &self.messages(), &self.tools);
        self.llm_retries = 0;
        self.llm = Stream::Asking(self.llm_request());
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

    fn llm_request(&self) -> Pending {
        let request = self
            .http
            .post(format!(
                "{}/chat/completions",
                self.config.llm_base_url.trim_end_matches('/')
            ))
            .bearer_auth(self.config.llm_api_key.expose_secret())
            .timeout(LLM_TIMEOUT)
            .json(&self.llm_body)
            .send();
        Box::pin(request)
    }

    /// Starts speaking the next sentence if nothing is being spoken (the prefetched
    /// one, else the first queued), then asks for the one after it.
    fn speak_next(&mut self) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let mut answered = None;
        if self.tts.is_idle() && reply.speaking.is_none() {
            if let Some(p) = self.prefetch.take() {
                reply.speaking = Some((p.sentence, reply.audio_ms()));
                reply.sentence_start = true;
                self.tts_retries = 0;
                match (p.answer, p.failed) {
                    (Stream::Reading(response), _) => answered = Some(Step::Answered(response)),
                    (_, Some(why)) => answered = Some(Step::Failed(why)),
                    (answer, None) => self.tts = answer,
                }
            } else if let Some(sentence) = reply.queued.pop_front() {
                let previous = reply.spoken.last().map(|s| s.text.as_str());
                self.tts = Stream::Asking(self.voice.request(&sentence, previous));
                reply.speaking = Some((sentence, reply.audio_ms()));
                reply.sentence_start = true;
                self.tts_retries = 0;
            }
        }
        if self.prefetch.is_none()
            && let Some((speaking, _)) = reply.speaking.as_ref()
            && let Some(sentence) = reply.queued.pop_front()
        {
            debug!(reply = %reply.id, "asking for the next sentence while this one plays");
            let answer = Stream::Asking(self.voice.request(&sentence, Some(speaking)));
            self.prefetch = Some(Prefetch {
                sentence,
                answer,
                failed: None,
            });
        }
        if let Some(step) = answered {
            // A refusal here ends the call like any other; the next sentence's turn
            // comes when this one's audio ends.
            if let Err(gone) = self.on_tts(step) {
                self.failed = Some(gone);
            }
        }
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
            self.prefetch = None;
            if let Some(pcm) = self.voice.pcm.as_mut() {
                pcm.discard();
            }
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

    fn on_stt(&mut self, heard: Vec<deepgram::Heard>) {
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
                    if let Some(delay) = retry_delay(Some(&response), self.llm_retries) {
                        self.llm_retries += 1;
                        warn!(
                            status = status.as_u16(),
                            retry = self.llm_retries,
                            "the LLM refused; asking again"
                        );
                        self.llm = Stream::Waiting(Instant::now() + delay);
                        return Ok(());
                    }
                    self.llm = Stream::Idle;
                    return Err(ProviderGone(format!(
                        "the LLM refused the request: HTTP {}",
                        status.as_u16()
                    )));
                }
                self.llm = Stream::Reading(response);
            }
            Step::Retry => self.llm = Stream::Asking(self.llm_request()),
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
                if let Some(delay) = retry_delay(None, self.llm_retries) {
                    self.llm_retries += 1;
                    warn!(
                        retry = self.llm_retries,
                        "the LLM did not answer; asking again"
                    );
                    self.llm = Stream::Waiting(Instant::now() + delay);
                    return Ok(());
                }
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
                    if let Some(delay) = retry_delay(Some(&response), self.tts_retries) {
                        self.tts_retries += 1;
                        warn!(
                            voice = self.voice.name(),
                            status = status.as_u16(),
                            retry = self.tts_retries,
                            "the voice refused; asking again"
                        );
                        self.tts = Stream::Waiting(Instant::now() + delay);
                        return Ok(());
                    }
                    self.tts = Stream::Idle;
                    return Err(ProviderGone(format!(
                        "{} refused the speech: HTTP {}",
                        self.voice.name(),
                        status.as_u16()
                    )));
                }
                self.tts = Stream::Reading(response);
            }
            Step::Retry => {
                let Some(reply) = self.reply.as_ref() else {
                    self.tts = Stream::Idle;
                    return Ok(());
                };
                let Some((sentence, _)) = reply.speaking.as_ref() else {
                    self.tts = Stream::Idle;
                    return Ok(());
                };
                let previous = reply.spoken.last().map(|s| s.text.as_str());
                self.tts = Stream::Asking(self.voice.request(sentence, previous));
            }
            Step::Chunk(Ok(Some(bytes))) => self.tts_audio(&bytes),
            Step::Chunk(Ok(None)) => {
                self.tts = Stream::Idle;
                if let Some(pcm) = self.voice.pcm.as_mut() {
                    let mut tail = Vec::new();
                    pcm.finish(&mut tail);
                    self.tts_mulaw(tail);
                }
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
                    "{}'s audio broke off: {}",
                    self.voice.name(),
                    e.without_url()
                )));
            }
            Step::Failed(why) => {
                if let Some(delay) = retry_delay(None, self.tts_retries) {
                    self.tts_retries += 1;
                    warn!(
                        voice = self.voice.name(),
                        retry = self.tts_retries,
                        "the voice did not answer; asking again"
                    );
                    self.tts = Stream::Waiting(Instant::now() + delay);
                    return Ok(());
                }
                self.tts = Stream::Idle;
                return Err(ProviderGone(format!(
                    "{} is unreachable: {why}",
                    self.voice.name()
                )));
            }
        }
        Ok(())
    }

    fn tts_audio(&mut self, bytes: &[u8]) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
        let mut audio = bytes;
        let start = std::mem::take(&mut reply.sentence_start);
        if let Some(pcm) = self.voice.pcm.as_mut() {
            let mut mulaw = Vec::with_capacity(bytes.len() / 6 + 1);
            pcm.push(audio, &mut mulaw);
            self.tts_mulaw(mulaw);
            return;
        }
        if start && audio.starts_with(b"RIFF") && audio.len() >= elevenlabs::WAV_HEADER {
            audio = &audio[elevenlabs::WAV_HEADER..];
        }
        self.tts_mulaw(audio.to_vec());
    }

    /// µ-law for the caller, counted into the reply's audio.
    fn tts_mulaw(&mut self, audio: Vec<u8>) {
        let Some(reply) = self.reply.as_mut() else {
            return;
        };
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
            && self.prefetch.is_none()
            && reply.queued.is_empty()
            && reply.speaking.is_none();
        done.then(|| reply.played_at())
    }

    async fn keep_alive(&mut self) {
        self.last_audio = Instant::now();
        self.stt.keep_alive().await;
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
                if !self.stt.pending()
                    && self.speaking
                    && self.last_speech.elapsed() > Duration::from_millis(500) =>
            {
                self.speech_stopped();
            }
            _ => {}
        }
        self.last_audio = Instant::now();
        let audio = std::mem::take(&mut self.audio);
        self.stt.send_audio(payload, audio).await;
        Ok(())
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
            if let Some(gone) = self.failed.take() {
                return Err(gone);
            }
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
                event = self.stt.next() => match event? {
                    stt::SttEvent::Heard(heard) => self.on_stt(heard),
                    stt::SttEvent::Nothing => {}
                },
                step = self.llm.step() => self.on_llm(step)?,
                step = self.tts.step() => self.on_tts(step)?,
                () = prefetched(&mut self.prefetch) => {}
                () = tokio::time::sleep_until(wake.max(now)) => {
                    let now = Instant::now();
                    if finished.is_some_and(|at| at <= now) {
                        self.complete();
                    }
                    if self.speaking && now >= self.last_speech + SPEECH_STALE && !self.stt.pending() {
                        self.speech_stopped();
                    }
                    if now >= self.last_audio + KEEP_ALIVE {
                        self.keep_alive().await;
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
        self.prefetch = None;
        self.stt.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> reqwest::Response {
        let mut builder = hyper::Response::builder().status(status);
        if let Some(after) = retry_after {
            builder = builder.header("retry-after", after);
        }
        reqwest::Response::from(builder.body(String::new()).expect("response"))
    }

    #[test]
    fn only_429_5xx_and_no_answer_are_asked_again_and_only_twice() {
        assert_eq!(
            retry_delay(Some(&response(429, None)), 0),
            Some(RETRY_BACKOFF)
        );
        assert_eq!(
            retry_delay(Some(&response(503, None)), 1),
            Some(RETRY_BACKOFF * 2)
        );
        assert_eq!(
            retry_delay(None, 0),
            Some(RETRY_BACKOFF),
            "no answer at all"
        );
        assert_eq!(retry_delay(Some(&response(503, None)), HTTP_RETRIES), None);
        for status in [400, 401, 404, 422] {
            assert_eq!(
                retry_delay(Some(&response(status, None)), 0),
                None,
                "{status}"
            );
        }
        // The server's Retry-After, within reason.
        assert_eq!(
            retry_delay(Some(&response(429, Some("1"))), 0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_delay(Some(&response(429, Some("120"))), 0),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_delay(Some(&response(429, Some("soon"))), 0),
            Some(RETRY_BACKOFF)
        );
    }
}
