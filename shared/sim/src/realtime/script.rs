//! What a simulated model says and does: the [`Script`] a test writes, and the [`Plan`]
//! compiled from it once (the reply audio, base64-encoded chunk by chunk) and shared by
//! every session that starts under it.

use std::time::Duration;

use hotline_audio::SAMPLES_PER_MS;
use hotline_realtime::openai::Audio;

/// The assistant's voice: a 440 Hz tone at about -12 dBFS (a full-scale sine measures
/// -3 dBFS, so the amplitude is 10^(-9/20) of full scale).
const REPLY_TONE_HZ: f32 = 440.0;
const REPLY_TONE_AMPLITUDE: f32 = 0.355;

/// What the simulated model says and does in the sessions that start under it.
///
/// Fields are public; start from [`Script::default`] and override what a test needs:
///
/// ```
/// # use hotline_sim::realtime::{Pace, Script, ToolCue};
/// let script = Script {
///     api_key: Some("sk-test".to_owned()),
///     replies: vec!["Hello, this is Acme.".to_owned()],
///     tool_calls: vec![ToolCue::new(0, "end_call", "{}")],
///     pace: Pace::RealTime,
///     ..Script::default()
/// };
/// ```
#[derive(Debug, Clone)]
pub struct Script {
    /// The key the upgrade must carry as `Authorization: Bearer <key>`; a missing or
    /// different key is refused with 401 and OpenAI's error body. `None` accepts any.
    pub api_key: Option<String>,
    /// Refuse every upgrade with this HTTP status (a 4xx or 5xx, e.g. 401, 429, 500,
    /// 503) and OpenAI's error body, before anything else is checked.
    pub refuse: Option<u16>,
    /// What the caller said, utterance by utterance (cycling); empty means every
    /// utterance transcribes as `(unintelligible)`.
    pub caller_transcripts: Vec<String>,
    /// What the assistant says, response by response (cycling, tool-call responses
    /// excluded); empty means `(reply N)`.
    pub replies: Vec<String>,
    /// Length of every spoken reply, ms of µ-law audio.
    pub reply_ms: u32,
    /// Audio per `response.output_audio.delta`, ms (0 counts as 1).
    pub chunk_ms: u32,
    /// How fast the reply audio is sent.
    pub pace: Pace,
    /// Responses that call a function instead of speaking.
    pub tool_calls: Vec<ToolCue>,
    /// A failure to stage once enough caller audio has arrived.
    pub fail: Option<Failure>,
    /// A 20 ms frame louder than this is speech.
    pub vad_threshold_dbfs: f32,
    /// How long after the commit the caller's transcription arrives (wall clock; the
    /// real API sends it asynchronously, before or after the response events).
    pub transcription_delay: Duration,
    /// The `response.done` events, by 0-based position among those sent, that go out
    /// with `status_details` as a bare string instead of an object: schema drift a
    /// client's parser refuses, to check that it still closes the response.
    pub garbled_response_done: Vec<usize>,
    /// How long the upgrade waits before it is answered: a provider slow to connect.
    pub connect_delay: Duration,
    /// How long after `response.created` the first audio of a response goes out: the
    /// model's time to first token (the rest follows at `pace`).
    pub first_audio_delay: Duration,
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
            tool_calls: Vec::new(),
            fail: None,
            vad_threshold_dbfs: -35.0,
            transcription_delay: Duration::from_millis(30),
            garbled_response_done: Vec::new(),
            connect_delay: Duration::ZERO,
            first_audio_delay: Duration::ZERO,
        }
    }
}

/// How fast reply audio goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// As fast as the socket takes it, yielding to the runtime between chunks (so the
    /// session still reads the caller between two deltas). Like the real API, which
    /// generates faster than real time.
    Burst,
    /// One chunk per `chunk_ms` of audio: the next delta is due when the audio sent so
    /// far would have finished playing. For benchmarks of steady load.
    RealTime,
    /// Like [`Pace::RealTime`], this many times faster (0 counts as 1).
    Speedup(u32),
}

impl Pace {
    /// When the next chunk is due, `sent_ms` of audio after the response started;
    /// `None` means at once.
    pub(crate) fn delay(self, sent_ms: u64) -> Option<Duration> {
        match self {
            Self::Burst => None,
            Self::RealTime => Some(Duration::from_millis(sent_ms)),
            Self::Speedup(factor) => Some(Duration::from_micros(
                sent_ms.saturating_mul(1000) / u64::from(factor.max(1)),
            )),
        }
    }
}

/// "When the response to caller utterance `after_utterance` (0-based) is created, call
/// function `name` with `arguments` instead of speaking." Each cue fires once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCue {
    pub after_utterance: usize,
    pub name: String,
    /// The JSON arguments, as the string the model would produce.
    pub arguments: String,
}

impl ToolCue {
    pub fn new(
        after_utterance: usize,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            after_utterance,
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// A failure staged by caller-audio position (ms of audio appended since the session
/// started), so it strikes at the same point of a conversation on every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// End the connection without a WebSocket close frame: the events already queued
    /// are sent, then TCP is shut down (the client reads EOF mid-stream, which
    /// tungstenite reports as `ResetWithoutClosingHandshake`).
    DropAfterAudioMs(u64),
    /// Send a close frame (1000, "session closed") and end the session cleanly.
    CloseAfterAudioMs(u64),
    /// Send one `error` event (`server_error`, with this code) and carry on.
    ErrorEventAfterAudioMs(u64, String),
}

impl Failure {
    pub(crate) fn at_ms(&self) -> u64 {
        match self {
            Self::DropAfterAudioMs(ms)
            | Self::CloseAfterAudioMs(ms)
            | Self::ErrorEventAfterAudioMs(ms, _) => *ms,
        }
    }
}

/// A script made ready to serve: shared, read-only, by every session started under it.
#[derive(Debug)]
pub(crate) struct Plan {
    pub script: Script,
    /// The reply audio, cut into `chunk_ms` pieces and base64-encoded once.
    pub chunks: Vec<Chunk>,
}

#[derive(Debug)]
pub(crate) struct Chunk {
    pub base64: String,
    /// Audio in this chunk (the last one may be shorter).
    pub ms: u64,
}

impl Plan {
    pub fn new(script: Script) -> Self {
        let tone = hotline_audio::tone_mulaw(REPLY_TONE_HZ, REPLY_TONE_AMPLITUDE, script.reply_ms);
        let chunk_bytes = usize::try_from(script.chunk_ms.max(1))
            .unwrap_or(usize::MAX)
            .saturating_mul(SAMPLES_PER_MS);
        let chunks = tone
            .chunks(chunk_bytes)
            .map(|piece| Chunk {
                base64: Audio::encode(piece).as_base64().to_owned(),
                ms: (piece.len() / SAMPLES_PER_MS) as u64,
            })
            .collect();
        Self { script, chunks }
    }

    /// The caller's transcript for utterance `n` (0-based).
    pub fn caller_transcript(&self, n: usize) -> String {
        let lines = &self.script.caller_transcripts;
        if lines.is_empty() {
            "(unintelligible)".to_owned()
        } else {
            lines[n % lines.len()].clone()
        }
    }

    /// The assistant's reply for spoken response `n` (0-based).
    pub fn reply(&self, n: usize) -> String {
        let lines = &self.script.replies;
        if lines.is_empty() {
            format!("(reply {})", n + 1)
        } else {
            lines[n % lines.len()].clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_audio_is_cut_into_chunks_that_add_up_to_reply_ms() {
        let plan = Plan::new(Script {
            reply_ms: 250,
            chunk_ms: 100,
            ..Script::default()
        });
        let ms: Vec<u64> = plan.chunks.iter().map(|c| c.ms).collect();
        assert_eq!(ms, [100, 100, 50]);
        let bytes: usize = plan
            .chunks
            .iter()
            .map(|c| {
                Audio::from_base64(c.base64.as_str())
                    .decode()
                    .map_or(0, |b| b.len())
            })
            .sum();
        assert_eq!(bytes, 250 * SAMPLES_PER_MS);
    }

    #[test]
    fn the_reply_tone_is_loud_enough_to_hear_and_not_clipped() {
        let tone = hotline_audio::tone_mulaw(REPLY_TONE_HZ, REPLY_TONE_AMPLITUDE, 100);
        let dbfs = hotline_audio::frame_dbfs(&tone);
        assert!((-13.0..-11.0).contains(&dbfs), "{dbfs}");
    }

    #[test]
    fn lines_cycle_and_empty_lists_have_placeholders() {
        let plan = Plan::new(Script {
            caller_transcripts: vec!["a".to_owned(), "b".to_owned()],
            replies: Vec::new(),
            ..Script::default()
        });
        assert_eq!(plan.caller_transcript(2), "a");
        assert_eq!(plan.reply(1), "(reply 2)");
        let plan = Plan::new(Script::default());
        assert_eq!(plan.caller_transcript(0), "(unintelligible)");
    }

    #[test]
    fn pacing_follows_the_audio_sent() {
        assert_eq!(Pace::Burst.delay(500), None);
        assert_eq!(Pace::RealTime.delay(500), Some(Duration::from_millis(500)));
        assert_eq!(
            Pace::Speedup(10).delay(500),
            Some(Duration::from_millis(50))
        );
        assert_eq!(Pace::Speedup(0).delay(5), Some(Duration::from_millis(5)));
    }
}
