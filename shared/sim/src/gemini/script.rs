//! What a simulated Gemini Live model says and does ([`Script`]), and what the simulator
//! saw ([`SessionLog`]).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hotline_realtime::gemini::{FunctionResponse, Setup};

pub use crate::realtime::Pace;

/// What the simulated model says and does in the sessions that start under it. Start
/// from [`Script::default`] and override what a test needs.
#[derive(Debug, Clone)]
pub struct Script {
    /// The key the upgrade must carry (`x-goog-api-key` header or `key` query
    /// parameter). A missing or different key gets the socket closed with 1008 after
    /// `setup`, as Google does. `None` accepts any key, or none (`hotline up`).
    pub api_key: Option<String>,
    /// Refuse every upgrade with this HTTP status and Google's error body.
    pub refuse: Option<u16>,
    /// What the caller said, utterance by utterance (cycling).
    pub caller_transcripts: Vec<String>,
    /// What the model says, reply by reply (cycling).
    pub replies: Vec<String>,
    /// Length of every spoken reply, ms of 24 kHz PCM16.
    pub reply_ms: u32,
    /// Audio per `serverContent` message, ms.
    pub chunk_ms: u32,
    pub pace: Pace,
    /// The model's voice: a tone of this frequency (Hz) at about -12 dBFS.
    pub reply_tone_hz: f64,
    /// Responses that call a function instead of speaking.
    pub tool_calls: Vec<ToolCue>,
    /// A failure staged at a point of each session's caller audio.
    pub fail: Option<Failure>,
    /// Whether resumption handles are `resumable: true`.
    pub resumable: bool,
    /// Send every server message as a binary frame (UTF-8 JSON), as browsers see them.
    pub binary_frames: bool,
    /// A 20 ms frame louder than this is speech.
    pub vad_threshold_dbfs: f32,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            api_key: None,
            refuse: None,
            caller_transcripts: Vec::new(),
            replies: vec!["Sure, I can help with that.".to_owned()],
            reply_ms: 2000,
            chunk_ms: 100,
            pace: Pace::Burst,
            reply_tone_hz: 440.0,
            tool_calls: Vec::new(),
            fail: None,
            resumable: true,
            binary_frames: false,
            vad_threshold_dbfs: -35.0,
        }
    }
}

/// "The reply to caller utterance `after_utterance` (0-based) calls `name` with `args`."
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCue {
    pub after_utterance: usize,
    pub name: String,
    pub args: serde_json::Value,
}

impl ToolCue {
    pub fn new(after_utterance: usize, name: impl Into<String>, args: serde_json::Value) -> Self {
        Self {
            after_utterance,
            name: name.into(),
            args,
        }
    }
}

/// A failure staged by ms of caller audio a session received; it strikes once per
/// conversation (a session resumed from one it struck does not repeat it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// End TCP without a close frame.
    DropAfterAudioMs(u64),
    /// Close with this code and reason (1011 "Deadline expired", say).
    CloseAfterAudioMs(u64, u16, String),
    /// Send `goAway` with `timeLeft`, then close (1000) when it runs out: what every
    /// Live connection does after about ten minutes.
    GoAwayAfterAudioMs(u64, Duration),
}

impl Failure {
    pub(crate) fn at_ms(&self) -> u64 {
        match self {
            Self::DropAfterAudioMs(ms)
            | Self::CloseAfterAudioMs(ms, _, _)
            | Self::GoAwayAfterAudioMs(ms, _) => *ms,
        }
    }
}

/// The script compiled once: the reply audio cut into base64 chunks.
#[derive(Debug)]
pub(crate) struct Plan {
    pub script: Script,
    pub chunks: Vec<(String, u64)>,
}

impl Plan {
    pub fn new(script: Script) -> Self {
        // -12 dBFS: 10^(-9/20) of full scale.
        let samples = script.reply_ms as usize * 24;
        let tone = hotline_audio::sine(script.reply_tone_hz, 24_000, 0.355, samples);
        let per_chunk = (script.chunk_ms.max(1) as usize) * 24;
        let chunks = tone
            .chunks(per_chunk)
            .map(|piece| {
                let bytes: Vec<u8> = piece.iter().flat_map(|s| s.to_le_bytes()).collect();
                (STANDARD.encode(bytes), (piece.len() / 24) as u64)
            })
            .collect();
        Self { script, chunks }
    }

    pub fn caller_transcript(&self, n: usize) -> String {
        let lines = &self.script.caller_transcripts;
        if lines.is_empty() {
            "(unintelligible)".to_owned()
        } else {
            lines[n % lines.len()].clone()
        }
    }

    pub fn reply(&self, n: usize) -> String {
        let lines = &self.script.replies;
        if lines.is_empty() {
            format!("(reply {})", n + 1)
        } else {
            lines[n % lines.len()].clone()
        }
    }
}

/// One connection attempt and, when upgraded, its session.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub index: usize,
    pub path: String,
    /// The right key came (header or query), or none was expected and one came.
    pub key_ok: bool,
    /// The key came in the `x-goog-api-key` header (as the SDK sends it).
    pub key_in_header: bool,
    /// 101 when upgraded, else the refusal's status.
    pub status: u16,
    pub connected_at: Instant,
    /// The `setup` received.
    pub setup: Option<Setup>,
    /// The handle this session resumed, if it did.
    pub resumed: Option<String>,
    /// `realtimeInput.audio` messages and their decoded bytes.
    pub audio_messages: u64,
    pub audio_bytes: u64,
    /// Every MIME type caller audio came as.
    pub audio_mime_types: Vec<String>,
    /// The caller's audio as received (PCM16), the first minute of it.
    pub caller_pcm: Vec<i16>,
    /// Caller utterances the VAD ended, with their scripted transcripts.
    pub utterances: Vec<String>,
    /// The text of every `clientContent` turn.
    pub client_texts: Vec<String>,
    pub tool_responses: Vec<FunctionResponse>,
    pub replies: Vec<ReplyLog>,
    /// `goAway`s sent.
    pub go_aways: u32,
    /// How the session ended; `None` while it runs.
    pub end: Option<SessionEnd>,
}

impl SessionLog {
    pub fn upgraded(&self) -> bool {
        self.status == 101
    }

    pub fn is_live(&self) -> bool {
        self.upgraded() && self.end.is_none()
    }

    /// Ms of caller audio (16 kHz PCM16: 32 bytes a ms).
    pub fn audio_ms(&self) -> u64 {
        self.audio_bytes / 32
    }
}

/// A model turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyLog {
    pub transcript: String,
    /// Started by a `clientContent` (else by the caller's turn or a tool's answer).
    pub by_client: bool,
    /// Ms of audio sent.
    pub audio_ms: u64,
    pub interrupted: bool,
    /// The function called instead of speaking: `(id, name)`.
    pub function_call: Option<(String, String)>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    ClientClosed,
    ClientGone,
    /// The simulator closed it with this code and reason.
    Closed(u16, String),
    Dropped,
}
