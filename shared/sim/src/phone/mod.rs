//! A phone on Twilio's side of one call: the simulator tests, benches and `hotline call`
//! use to drive hotline end to end, speaking Twilio's wire protocols as Twilio does
//! (`protocols/twilio-webhooks.md`, `protocols/twilio-media-streams.md`).
//!
//! [`Phone::call`] plays one call:
//!
//! 1. POSTs the voice webhook with Twilio's form parameters ([`twilio_form`]), signed
//!    with `X-Twilio-Signature` over the URL exactly as given, query included.
//! 2. Follows the TwiML verb by verb: `<Say>` texts are collected (not spoken),
//!    `<Pause>` waits, `<Start><Recording>` notes its callback, `<Hangup/>` / `<Reject/>`
//!    or the end of the document ends the call, `<Connect><Stream>` opens the stream.
//!    Verbs the phone does not act on (`<Play>`, `<Gather>`, `<Dial>`, `<Redirect>`,
//!    `<Connect action>`, …) are noted as [`PhoneEvent::Skipped`].
//! 3. Opens the WebSocket with `X-Twilio-Signature` over the stream URL as written in the
//!    TwiML and no parameters (even when [`CallSpec::stream_url_override`] connects
//!    elsewhere), sends `connected`, `start` and caller audio in 20 ms `media` frames on an
//!    absolute 50-per-second schedule, and `dtmf` at the times asked. An upgrade answered
//!    with anything but 101 is Twilio's error 31920: noted in
//!    [`CallReport::stream_refused`], and the TwiML goes on after `</Connect>`.
//! 4. Plays what the server sends the way Twilio's outbound buffer does ([`Playout`]):
//!    real-time playback, marks echoed after their audio, `clear` flushing and echoing.
//!    Malformed or misaddressed frames are noted in [`CallReport::violations`].
//! 5. Hangs up at [`CallSpec::duration`] (`stop`, then a close), when the server closes
//!    the socket, or when [`CallSpec::hangup`] fires (a REST hang-up or redirect).
//!
//! Audio the server queued but that had not played when the stream ended is discarded:
//! closing the socket right after sending a goodbye cuts it off, as on a real call.

mod playout;
mod stream;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hotline_audio::{SILENCE, WavError};
use hotline_core::{AccountSid, CallSid, RecordingSid};
use hotline_twilio::signature;
use hotline_twilio::twiml_read::{self, Element};
use reqwest::header::CONTENT_TYPE;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::twilio_rest::CallUpdated;

pub use playout::{MAX_BUFFERED_SAMPLES, Playout};

/// Twilio's API version, sent as `ApiVersion`.
const API_VERSION: &str = "2010-04-01";
/// How long Twilio waits for the voice webhook to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// Loudness of [`Segment::Speech`]: ordinary speech level on a phone line.
const SPEECH_DBFS: f32 = -20.0;
/// Pitch of [`Segment::Speech`]: a voice's fundamental.
const SPEECH_HZ: f32 = 220.0;
/// At most this many violations are kept; the rest are only counted.
const MAX_VIOLATIONS: usize = 100;

/// Who placed the call, as Twilio's `Direction` parameter says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// Someone called a hotline number: the webhook says `CallStatus=ringing`.
    #[default]
    Inbound,
    /// hotline created the call through the REST API and it was answered: the webhook
    /// says `CallStatus=in-progress`.
    OutboundApi,
}

impl Direction {
    /// Twilio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::OutboundApi => "outbound-api",
        }
    }

    /// `CallStatus` of the voice webhook for this direction.
    pub fn call_status(self) -> &'static str {
        match self {
            Self::Inbound => "ringing",
            Self::OutboundApi => "in-progress",
        }
    }
}

/// A stretch of a scripted caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Something loud enough to count as speech for an energy detector: a 220 Hz tone
    /// at -20 dBFS.
    Speech { ms: u32 },
    /// Line silence (µ-law `0xFF`).
    Silence { ms: u32 },
    /// A sine tone; `dbfs` as [`hotline_audio::frame_dbfs`] measures it.
    Tone { freq_hz: f32, dbfs: f32, ms: u32 },
}

/// What the caller says. Once it runs out, the caller is silent.
#[derive(Clone, Default, PartialEq)]
pub enum AudioSource {
    #[default]
    Silence,
    /// A sine tone; `dbfs` as [`hotline_audio::frame_dbfs`] measures it (full-scale
    /// sine ≈ -3 dBFS).
    Tone { freq_hz: f32, dbfs: f32, ms: u32 },
    /// Raw µ-law, 8 kHz mono.
    Mulaw(Vec<u8>),
    /// A WAV file (µ-law, or 16-bit PCM at any rate), read when the call starts.
    Wav(PathBuf),
    /// Speech and silence in turns.
    Script(Vec<Segment>),
}

impl fmt::Debug for AudioSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Silence => f.write_str("Silence"),
            Self::Tone { freq_hz, dbfs, ms } => f
                .debug_struct("Tone")
                .field("freq_hz", freq_hz)
                .field("dbfs", dbfs)
                .field("ms", ms)
                .finish(),
            Self::Mulaw(bytes) => f.debug_struct("Mulaw").field("len", &bytes.len()).finish(),
            Self::Wav(path) => f.debug_tuple("Wav").field(path).finish(),
            Self::Script(segments) => f.debug_tuple("Script").field(segments).finish(),
        }
    }
}

fn tone(freq_hz: f32, dbfs: f32, ms: u32) -> Vec<u8> {
    // A full-scale sine measures 20·log10(1/√2) ≈ -3.01 dBFS.
    let amplitude = 10f32.powf((dbfs + 3.0103) / 20.0);
    hotline_audio::tone_mulaw(freq_hz, amplitude.min(1.0), ms)
}

fn silence(ms: u32) -> Vec<u8> {
    let len = usize::try_from(ms).map_or(0, |ms| ms * hotline_audio::SAMPLES_PER_MS);
    vec![SILENCE; len]
}

impl AudioSource {
    /// The caller's audio as µ-law bytes (empty for [`AudioSource::Silence`]).
    pub fn render(&self) -> Result<Vec<u8>, WavError> {
        Ok(match self {
            Self::Silence => Vec::new(),
            Self::Tone { freq_hz, dbfs, ms } => tone(*freq_hz, *dbfs, *ms),
            Self::Mulaw(bytes) => bytes.clone(),
            Self::Wav(path) => hotline_audio::read_wav(path)?,
            Self::Script(segments) => segments
                .iter()
                .flat_map(|segment| match segment {
                    Segment::Speech { ms } => tone(SPEECH_HZ, SPEECH_DBFS, *ms),
                    Segment::Silence { ms } => silence(*ms),
                    Segment::Tone { freq_hz, dbfs, ms } => tone(*freq_hz, *dbfs, *ms),
                })
                .collect(),
        })
    }
}

/// One call to make.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// The voice webhook, e.g. `http://127.0.0.1:3000/twilio/voice`, query string allowed;
    /// signed byte for byte as given.
    pub voice_url: String,
    pub account_sid: AccountSid,
    /// Signs the webhook and the stream upgrade.
    pub auth_token: String,
    /// A random `CA…` when `None`. Set it to wire [`CallSpec::hangup`] to a fake REST API.
    pub call_sid: Option<CallSid>,
    /// `From` / `Caller`, e.g. `+14155550100` or `client:alice`.
    pub from: String,
    /// `To` / `Called`: the hotline number.
    pub to: String,
    pub direction: Direction,
    /// More webhook parameters, appended as given (e.g. `CallerName`, `AnsweredBy`).
    pub extra_params: Vec<(String, String)>,
    pub audio: AudioSource,
    /// The caller hangs up this long after the stream started, unless the call ended first.
    pub duration: Duration,
    /// Keys pressed (`0`–`9`, `*`, `#`), at times since the stream started.
    pub dtmf: Vec<(Duration, char)>,
    /// Connect here instead of the TwiML's `wss://` URL (e.g.
    /// `ws://127.0.0.1:8080/twilio/stream`). The upgrade is still signed over the URL as
    /// written in the TwiML, as Twilio signs it.
    pub stream_url_override: Option<String>,
    /// How long after reaching `<Connect><Stream>` the phone opens the stream: Twilio's
    /// own setup (its media server, the TLS handshake), a few hundred milliseconds on a
    /// real call, none by default.
    pub stream_setup: Duration,
    /// Write what the caller heard here as a WAV file (16-bit PCM, 8 kHz mono).
    pub record_to: Option<PathBuf>,
    /// Becomes `true` when Twilio would end the stream from outside: a REST hang-up or a
    /// redirect to new TwiML. The phone then sends `stop` and closes. See
    /// [`hangup_on_api_update`].
    pub hangup: Option<watch::Receiver<bool>>,
    /// What Twilio sends once the call is over; nothing by default.
    pub after_call: AfterCall,
}

/// Twilio's callbacks after a call, as [`Phone::call`] sends them when asked.
#[derive(Debug, Clone, Default)]
pub struct AfterCall {
    /// POST `RecordingStatus=completed` for a new `RE…` to the `recordingStatusCallback`
    /// of the TwiML's `<Start><Recording>`, if one ran.
    pub recording_callback: bool,
    /// POST `CallStatus=completed` here: the status callback configured on the number.
    pub status_callback: Option<String>,
}

impl CallSpec {
    /// An inbound call from `+14155550100` to `+14155550199`, silent, 5 s long.
    pub fn new(
        voice_url: impl Into<String>,
        account_sid: AccountSid,
        auth_token: impl Into<String>,
    ) -> Self {
        Self {
            voice_url: voice_url.into(),
            account_sid,
            auth_token: auth_token.into(),
            call_sid: None,
            from: "+14155550100".to_owned(),
            to: "+14155550199".to_owned(),
            direction: Direction::Inbound,
            extra_params: Vec::new(),
            audio: AudioSource::Silence,
            duration: Duration::from_secs(5),
            dtmf: Vec::new(),
            stream_url_override: None,
            stream_setup: Duration::ZERO,
            record_to: None,
            hangup: None,
            after_call: AfterCall::default(),
        }
    }
}

/// Why the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupSide {
    /// The caller hung up at [`CallSpec::duration`]: `stop` was sent, then a close.
    Caller,
    /// The stream server closed the socket (`code` is `None` when the connection ended
    /// without a close frame; `reason` then says how).
    Remote { code: Option<u16>, reason: String },
    /// The TwiML ended the call: `<Hangup/>`, `<Reject/>` or the end of the document.
    Twiml,
    /// [`CallSpec::hangup`] fired (a REST hang-up or redirect): `stop` was sent, then a close.
    Api,
    /// The webhook did not answer 200 with valid TwiML: Twilio says "an application
    /// error has occurred" and hangs up.
    ApplicationError,
}

impl fmt::Display for HangupSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Caller => f.write_str("the caller hung up"),
            Self::Remote {
                code: Some(code),
                reason,
            } if reason.is_empty() => {
                write!(f, "the server closed the stream ({code})")
            }
            Self::Remote {
                code: Some(code),
                reason,
            } => {
                write!(f, "the server closed the stream ({code} {reason})")
            }
            Self::Remote { code: None, reason } => write!(f, "the stream broke: {reason}"),
            Self::Twiml => f.write_str("the TwiML ended the call"),
            Self::Api => f.write_str("the call was ended through the API"),
            Self::ApplicationError => f.write_str("application error: the webhook failed"),
        }
    }
}

/// Something that happened during the call, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    WebhookAnswered {
        status: u16,
    },
    Said(String),
    Paused(Duration),
    RecordingStarted {
        callback: Option<String>,
    },
    /// A verb the phone does not act on, by name (`Play`, `Gather`, `Connect action`, …).
    Skipped(String),
    StreamConnected {
        url: String,
    },
    /// The upgrade was answered with this HTTP status instead of 101 (Twilio error 31920).
    StreamRefused {
        status: u16,
    },
    /// `start` sent: the stream's clock starts here.
    StreamStarted {
        stream_sid: String,
    },
    DtmfSent(char),
    /// Server audio reached an idle playback buffer: the caller starts hearing it.
    AudioStarted,
    /// The playback buffer ran dry.
    AudioStopped,
    MarkEchoed {
        name: String,
        cleared: bool,
    },
    Clear {
        discarded_bytes: u64,
        marks_echoed: usize,
    },
    Violation(String),
    StopSent,
    Closed(HangupSide),
}

/// One mark the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRecord {
    pub name: String,
    /// When it arrived, since the stream started.
    pub received_at: Duration,
    /// When it was echoed, since the stream started; `None` if the call ended first.
    pub echoed_at: Option<Duration>,
    /// Echoed because a `clear` discarded its audio, not because it played.
    pub cleared: bool,
}

/// What happened on the call.
#[derive(Clone, PartialEq, Eq)]
pub struct CallReport {
    pub call_sid: CallSid,
    /// The voice webhook's HTTP status.
    pub http_status: u16,
    /// The webhook's body.
    pub twiml: String,
    /// `<Say>` texts, in order.
    pub said: Vec<String>,
    /// Whether a `<Start><Recording>` ran, and its `recordingStatusCallback`.
    pub recording: bool,
    pub recording_callback: Option<String>,
    /// The recording reported after the call ([`AfterCall::recording_callback`]) and the
    /// status hotline answered that callback with (0: no answer).
    pub recording_sid: Option<RecordingSid>,
    pub recording_callback_status: Option<u16>,
    /// The status hotline answered the final status callback with (0: no answer).
    pub status_callback_status: Option<u16>,
    /// The `<Stream url>` as written in the TwiML (what the upgrade was signed over).
    pub stream_url: Option<String>,
    /// The HTTP status and body the stream upgrade was refused with (Twilio error
    /// 31920); the call then went on after `</Connect>`.
    pub stream_refused: Option<(u16, String)>,
    /// The `<Parameter>`s of the `<Stream>`: `start.customParameters`.
    pub parameters: BTreeMap<String, String>,
    /// `MZ…`, once the stream started.
    pub stream_sid: Option<String>,
    pub hung_up_by: HangupSide,
    /// When `start` was sent, since the call began.
    pub stream_started_at: Option<Duration>,
    /// From `start` to the end of the stream.
    pub stream_duration: Duration,
    /// Caller `media` frames sent (20 ms each).
    pub frames_sent: u64,
    /// `media` frames received from the server.
    pub frames_received: u64,
    /// Audio bytes received from the server (8 per ms).
    pub bytes_received: u64,
    /// Audio bytes that played to the caller.
    pub bytes_heard: u64,
    /// Audio bytes dropped unplayed: cleared, cut off by the hang-up, or past the
    /// ten-minute buffer.
    pub bytes_discarded: u64,
    /// Marks received from the server, in order, with their echoes.
    pub marks: Vec<MarkRecord>,
    /// Mark echoes sent back.
    pub marks_sent_back: u64,
    /// When each `clear` arrived, since the stream started.
    pub clears: Vec<Duration>,
    /// DTMF digits sent.
    pub dtmf_sent: Vec<char>,
    /// The caller's earpiece from the stream's start to its end: played audio, µ-law
    /// silence in between. 8 bytes per ms; `bytes_heard` counts the played part.
    pub heard: Vec<u8>,
    /// Timeline, since the call began.
    pub events: Vec<(Duration, PhoneEvent)>,
    /// What Twilio would refuse or warn about: malformed frames, a wrong streamSid,
    /// binary frames, a wrong TwiML content type, …
    pub violations: Vec<String>,
}

impl fmt::Debug for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallReport")
            .field("call_sid", &self.call_sid)
            .field("http_status", &self.http_status)
            .field("said", &self.said)
            .field("stream_url", &self.stream_url)
            .field("stream_refused", &self.stream_refused)
            .field("stream_sid", &self.stream_sid)
            .field("hung_up_by", &self.hung_up_by)
            .field("stream_duration", &self.stream_duration)
            .field("frames_sent", &self.frames_sent)
            .field("frames_received", &self.frames_received)
            .field("bytes_heard", &self.bytes_heard)
            .field("bytes_discarded", &self.bytes_discarded)
            .field("marks", &self.marks.len())
            .field("clears", &self.clears)
            .field("heard_len", &self.heard.len())
            .field("violations", &self.violations)
            .finish_non_exhaustive()
    }
}

impl CallReport {
    fn new(call_sid: CallSid) -> Self {
        Self {
            call_sid,
            http_status: 0,
            twiml: String::new(),
            said: Vec::new(),
            recording: false,
            recording_callback: None,
            recording_sid: None,
            recording_callback_status: None,
            status_callback_status: None,
            stream_url: None,
            stream_refused: None,
            parameters: BTreeMap::new(),
            stream_sid: None,
            hung_up_by: HangupSide::Twiml,
            stream_started_at: None,
            stream_duration: Duration::ZERO,
            frames_sent: 0,
            frames_received: 0,
            bytes_received: 0,
            bytes_heard: 0,
            bytes_discarded: 0,
            marks: Vec::new(),
            marks_sent_back: 0,
            clears: Vec::new(),
            dtmf_sent: Vec::new(),
            heard: Vec::new(),
            events: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// When the first event matching `pred` happened, since the call began.
    pub fn first_event(&self, pred: impl Fn(&PhoneEvent) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| pred(e)).map(|(t, _)| *t)
    }
}

/// A snapshot sent about every 250 ms while the stream runs, for a live status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Since the stream started.
    pub elapsed: Duration,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Mark echoes sent back.
    pub marks: u64,
    pub clears: usize,
    pub bytes_heard: u64,
    /// Whether server audio is playing right now.
    pub playing: bool,
}

/// Why a call could not be made at all. What happens on a call that was made (a 403
/// webhook, invalid TwiML, a server closing the socket) is in the [`CallReport`].
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("invalid call spec: {0}")]
    Spec(String),
    #[error("caller audio: {0}")]
    Audio(#[source] WavError),
    #[error("voice webhook request failed: {0}")]
    Webhook(#[source] reqwest::Error),
    #[error("stream url {url:?} cannot be used: {reason}")]
    StreamUrl { url: String, reason: String },
    #[error("stream connection to {url} timed out after {after:?}")]
    StreamTimeout { url: String, after: Duration },
    #[error("stream connection failed: {0}")]
    Stream(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("writing the recording: {0}")]
    Record(#[source] WavError),
}

/// Twilio's `X-Twilio-Signature` for a request to `url` with `params` (none for a
/// WebSocket upgrade).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    signature::compute(auth_token, url, params)
}

/// A fresh `CA…` call SID.
pub fn new_call_sid() -> CallSid {
    twilio_sid(CallSid::PREFIX, |s| CallSid::parse(s).ok())
}

/// A fresh `MZ…` stream SID.
pub fn new_stream_sid() -> String {
    format!("MZ{}", uuid::Uuid::new_v4().simple())
}

fn twilio_sid<T>(prefix: &str, parse: impl Fn(&str) -> Option<T>) -> T {
    loop {
        // Always 32 lowercase hex digits: parsing cannot fail, but the type insists.
        if let Some(sid) = parse(&format!("{prefix}{}", uuid::Uuid::new_v4().simple())) {
            return sid;
        }
    }
}

/// ISO country of an E.164 number, for the `*Country` parameters (a few prefixes only).
fn country_of(number: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+44", "GB"),
        ("+33", "FR"),
        ("+49", "DE"),
        ("+34", "ES"),
        ("+39", "IT"),
        ("+31", "NL"),
        ("+61", "AU"),
        ("+353", "IE"),
    ];
    PREFIXES
        .iter()
        .filter(|(prefix, _)| number.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or("", |(_, country)| country)
}

/// The voice webhook's form as Twilio sends it for this call: `AccountSid`,
/// `ApiVersion`, `CallSid`, `CallStatus` (`ringing` inbound, `in-progress` for an
/// answered REST call), `Called`/`Caller`/`From`/`To`, `Direction`, the geographic
/// fields for phone numbers (country from the prefix, the rest empty), `CallToken` on
/// inbound calls, then [`CallSpec::extra_params`].
pub fn twilio_form(spec: &CallSpec, call_sid: &CallSid) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, value: &str| form.push((name.to_owned(), value.to_owned()));
    add("AccountSid", spec.account_sid.as_str());
    add("ApiVersion", API_VERSION);
    add("CallSid", call_sid.as_str());
    add("CallStatus", spec.direction.call_status());
    add("Called", &spec.to);
    add("Caller", &spec.from);
    add("Direction", spec.direction.as_str());
    add("From", &spec.from);
    add("To", &spec.to);
    for (party, number) in [
        ("Called", &spec.to),
        ("Caller", &spec.from),
        ("From", &spec.from),
        ("To", &spec.to),
    ] {
        if number.starts_with('+') {
            add(&format!("{party}City"), "");
            add(&format!("{party}Country"), country_of(number));
            add(&format!("{party}State"), "");
            add(&format!("{party}Zip"), "");
        }
    }
    if spec.direction == Direction::Inbound {
        add(
            "CallToken",
            &format!(
                r#"{{"parentCallInfoToken":"{}","identityHeaderTokens":[]}}"#,
                uuid::Uuid::new_v4().simple()
            ),
        );
    }
    form.extend(spec.extra_params.iter().cloned());
    form
}

/// Turns the fake REST API's call updates into [`CallSpec::hangup`]: fires on the first
/// update of `call_sid` that ends the stream on real Twilio (a `Status` of `completed`
/// or `canceled`, or new `Twiml`/`Url`). The watching task ends with the call's receiver
/// or the fake.
pub fn hangup_on_api_update(
    mut updates: broadcast::Receiver<CallUpdated>,
    call_sid: &CallSid,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let call_sid = call_sid.as_str().to_owned();
    tokio::spawn(async move {
        loop {
            let update = tokio::select! {
                () = tx.closed() => return,
                update = updates.recv() => update,
            };
            match update {
                Ok(update) if update.call_sid == call_sid => {
                    let ends = matches!(update.status.as_deref(), Some("completed" | "canceled"))
                        || update.twiml.is_some()
                        || update.url.is_some();
                    if ends {
                        let _ = tx.send(true);
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    rx
}

/// The simulator. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phone;

impl Phone {
    /// Places one call and reports what happened. Errors only when the call could not be
    /// made: the webhook unreachable, the stream upgrade refused or unreachable, unreadable
    /// audio, a bad spec, or the recording not writable.
    pub async fn call(
        mut spec: CallSpec,
        progress: Option<mpsc::Sender<Progress>>,
    ) -> Result<CallReport, PhoneError> {
        if let Some((_, digit)) = spec
            .dtmf
            .iter()
            .find(|(_, d)| !matches!(d, '0'..='9' | '*' | '#'))
        {
            return Err(PhoneError::Spec(format!("{digit:?} is not a DTMF digit")));
        }
        let audio = spec.audio.render().map_err(PhoneError::Audio)?;
        let call_sid = spec.call_sid.clone().unwrap_or_else(new_call_sid);
        let hangup = spec.hangup.take();
        let mut call = Call {
            report: CallReport::new(call_sid),
            spec,
            audio,
            clock: Instant::now(),
            hangup,
            progress,
        };
        Box::pin(call.run()).await?;
        let Call {
            mut report, spec, ..
        } = call;
        if let Some(path) = &spec.record_to {
            hotline_audio::write_wav(path, &report.heard).map_err(PhoneError::Record)?;
        }
        after_call(&spec, &mut report).await;
        Ok(report)
    }
}

/// Twilio's callbacks once the call is over, signed like every webhook.
async fn after_call(spec: &CallSpec, report: &mut CallReport) {
    use crate::twilio_callbacks::{CallStatusCallback, RecordingCallback, post_signed};
    let http = reqwest::Client::new();
    let secs = u32::try_from(report.stream_duration.as_secs()).unwrap_or(u32::MAX);
    let answered = |r: reqwest::Result<(u16, String)>| r.map_or(0, |(status, _)| status);
    if spec.after_call.recording_callback
        && let Some(url) = &report.recording_callback
    {
        let mut callback =
            RecordingCallback::completed(spec.account_sid.clone(), report.call_sid.clone(), secs);
        // `<Start><Recording channels="mono">` is what hotline asks for.
        callback.channels = 1;
        let sent = post_signed(&http, url, &spec.auth_token, &callback.params()).await;
        report.recording_sid = Some(callback.recording_sid);
        report.recording_callback_status = Some(answered(sent));
    }
    if let Some(url) = &spec.after_call.status_callback {
        let mut callback =
            CallStatusCallback::completed(spec.account_sid.clone(), report.call_sid.clone(), secs);
        callback.from.clone_from(&spec.from);
        callback.to.clone_from(&spec.to);
        callback.direction = spec.direction;
        let sent = post_signed(&http, url, &spec.auth_token, &callback.params()).await;
        report.status_callback_status = Some(answered(sent));
    }
}

/// One call in progress.
struct Call {
    spec: CallSpec,
    report: CallReport,
    /// The caller's audio; silence follows.
    audio: Vec<u8>,
    /// When the call began: the timeline's zero.
    clock: Instant,
    hangup: Option<watch::Receiver<bool>>,
    progress: Option<mpsc::Sender<Progress>>,
}

/// Resolves when `hangup` turns `true`; never if there is none or its sender is gone.
async fn hangup_requested(hangup: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = hangup
        && rx.wait_for(|&v| v).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}

impl Call {
    fn event(&mut self, event: PhoneEvent) {
        self.report.events.push((self.clock.elapsed(), event));
    }

    fn violation(&mut self, text: String) {
        if self.report.violations.len() < MAX_VIOLATIONS {
            self.report.violations.push(text.clone());
            self.event(PhoneEvent::Violation(text));
        }
    }

    fn hung_up_by_api(&self) -> bool {
        self.hangup.as_ref().is_some_and(|rx| *rx.borrow())
    }

    fn end(&mut self, side: HangupSide) {
        self.report.hung_up_by = side.clone();
        self.event(PhoneEvent::Closed(side));
    }

    async fn run(&mut self) -> Result<(), PhoneError> {
        let Some(root) = self.fetch_twiml().await? else {
            self.end(HangupSide::ApplicationError);
            return Ok(());
        };
        for verb in &root.children {
            if self.hung_up_by_api() {
                self.end(HangupSide::Api);
                return Ok(());
            }
            if !self.execute(verb).await? {
                return Ok(());
            }
        }
        // Twilio hangs up when the document runs out.
        if !matches!(self.report.hung_up_by, HangupSide::Remote { .. }) {
            self.end(HangupSide::Twiml);
        }
        Ok(())
    }

    /// POSTs the signed webhook; the TwiML root when it answered 200 with a valid
    /// `<Response>`.
    async fn fetch_twiml(&mut self) -> Result<Option<Element>, PhoneError> {
        let params = twilio_form(&self.spec, &self.report.call_sid);
        let signature = sign(&self.spec.auth_token, &self.spec.voice_url, &params);
        let client = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(PhoneError::Webhook)?;
        let response = client
            .post(&self.spec.voice_url)
            .header("X-Twilio-Signature", signature)
            .header(
                "I-Twilio-Idempotency-Token",
                uuid::Uuid::new_v4().to_string(),
            )
            .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
            .form(&params)
            .send()
            .await
            .map_err(PhoneError::Webhook)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.report.http_status = status;
        self.report.twiml = response.text().await.map_err(PhoneError::Webhook)?;
        self.event(PhoneEvent::WebhookAnswered { status });
        if status != 200 {
            return Ok(None);
        }
        let xml = content_type.as_deref().is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("text/xml")
                || essence.eq_ignore_ascii_case("application/xml")
        });
        if !xml {
            self.violation(format!(
                "TwiML served as {content_type:?}: Twilio expects text/xml or application/xml"
            ));
        }
        let root = match twiml_read::parse(&self.report.twiml) {
            Ok(root) => root,
            Err(e) => {
                self.violation(format!("invalid TwiML: {e}"));
                return Ok(None);
            }
        };
        if root.name != "Response" {
            self.violation(format!("TwiML root is <{}>, not <Response>", root.name));
            return Ok(None);
        }
        Ok(Some(root))
    }

    /// Runs one verb; `false` when the call is over.
    async fn execute(&mut self, verb: &Element) -> Result<bool, PhoneError> {
        match verb.name.as_str() {
            "Say" => {
                let text = verb.text.trim().to_owned();
                self.report.said.push(text.clone());
                self.event(PhoneEvent::Said(text));
            }
            "Pause" => {
                let secs = verb
                    .attr("length")
                    .map_or(Ok(1), |v| v.trim().parse::<u64>());
                let Ok(secs) = secs else {
                    self.violation(format!(
                        "<Pause length={:?}> is not a number",
                        verb.attr("length")
                    ));
                    return Ok(true);
                };
                let pause = Duration::from_secs(secs);
                self.event(PhoneEvent::Paused(pause));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = hangup_requested(&mut self.hangup) => {
                        self.end(HangupSide::Api);
                        return Ok(false);
                    }
                }
            }
            "Start" => {
                for noun in &verb.children {
                    if noun.name == "Recording" {
                        let callback = noun.attr("recordingStatusCallback").map(str::to_owned);
                        self.report.recording = true;
                        self.report.recording_callback.clone_from(&callback);
                        self.event(PhoneEvent::RecordingStarted { callback });
                    } else {
                        self.event(PhoneEvent::Skipped(format!("Start/{}", noun.name)));
                    }
                }
            }
            "Connect" => return self.connect(verb).await,
            "Hangup" | "Reject" => {
                // After the server closed the stream, that close is what ended the call.
                if !matches!(self.report.hung_up_by, HangupSide::Remote { .. }) {
                    self.end(HangupSide::Twiml);
                }
                return Ok(false);
            }
            other => self.event(PhoneEvent::Skipped(other.to_owned())),
        }
        Ok(true)
    }

    /// `<Connect><Stream>`: runs the stream; `false` when the call is over.
    async fn connect(&mut self, verb: &Element) -> Result<bool, PhoneError> {
        let Some(stream) = verb.children.iter().find(|n| n.name == "Stream") else {
            self.event(PhoneEvent::Skipped(format!(
                "Connect/{:?}",
                verb.child_names()
            )));
            return Ok(true);
        };
        if self.report.stream_url.is_some() {
            self.violation(
                "a second <Connect><Stream>: one bidirectional stream per call".to_owned(),
            );
        }
        let Some(written) = stream.attr("url") else {
            self.violation("<Stream> without url".to_owned());
            self.end(HangupSide::ApplicationError);
            return Ok(false);
        };
        let url = self.stream_url(written)?;
        self.report.stream_url = Some(url.clone());
        self.report.parameters = stream
            .children
            .iter()
            .filter(|p| p.name == "Parameter")
            .filter_map(|p| {
                Some((
                    p.attr("name")?.to_owned(),
                    p.attr("value").unwrap_or("").to_owned(),
                ))
            })
            .collect();
        for (name, value) in &self.report.parameters.clone() {
            if name.len() + value.len() >= 500 {
                self.violation(format!(
                    "<Parameter name={name:?}>: name + value must be under 500 characters"
                ));
            }
        }
        let connect_to = self
            .spec
            .stream_url_override
            .clone()
            .unwrap_or_else(|| url.clone());
        stream::run(self, &url, &connect_to).await?;
        let refused = self.report.stream_refused.is_some();
        if refused || matches!(self.report.hung_up_by, HangupSide::Remote { .. }) {
            // The server closed the socket: Twilio goes on after </Connect>, or to `action`.
            if verb.attr("action").is_some() {
                self.event(PhoneEvent::Skipped("Connect action".to_owned()));
                return Ok(false);
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The absolute stream URL for a `<Stream url>`, relative ones resolved against the
    /// webhook URL; anything but `wss://` is a violation (Twilio refuses it).
    fn stream_url(&mut self, written: &str) -> Result<String, PhoneError> {
        let bad = |reason: String| PhoneError::StreamUrl {
            url: written.to_owned(),
            reason,
        };
        let url = match reqwest::Url::parse(written) {
            Ok(url) => url,
            Err(_) => {
                let base =
                    reqwest::Url::parse(&self.spec.voice_url).map_err(|e| bad(e.to_string()))?;
                let mut url = base.join(written).map_err(|e| bad(e.to_string()))?;
                let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
                url.set_scheme(scheme)
                    .map_err(|()| bad("cannot be made a WebSocket URL".to_owned()))?;
                url
            }
        };
        match url.scheme() {
            "wss" => {}
            "ws" => self.violation(format!(
                "stream url {written:?}: Twilio only connects to wss://"
            )),
            other => return Err(bad(format!("scheme {other:?} is not a WebSocket scheme"))),
        }
        if url.query().is_some() {
            self.violation(format!(
                "stream url {written:?} has a query string: Twilio fails the handshake (31920)"
            ));
        }
        // Signed as written when absolute; `Url` would normalise it (e.g. add a `/`).
        Ok(if written.contains("://") {
            written.to_owned()
        } else {
            url.into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CallSpec {
        let account = AccountSid::parse("AC0123456789abcdef0123456789abcdef").expect("sid");
        CallSpec::new("https://hotline.example/twilio/voice?a=1", account, "12345")
    }

    fn call(spec: CallSpec) -> Call {
        Call {
            report: CallReport::new(new_call_sid()),
            spec,
            audio: Vec::new(),
            clock: Instant::now(),
            hangup: None,
            progress: None,
        }
    }

    #[test]
    fn the_form_has_twilios_fields_and_the_extras_last() {
        let mut spec = spec();
        spec.from = "+447700900123".to_owned();
        spec.extra_params = vec![("CallerName".to_owned(), "ALICE".to_owned())];
        let sid = new_call_sid();
        let form = twilio_form(&spec, &sid);
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("CallSid"), Some(sid.as_str()));
        assert_eq!(get("Caller"), Some("+447700900123"));
        assert_eq!(get("FromCountry"), Some("GB"));
        assert_eq!(get("ToCountry"), Some("US"));
        assert_eq!(get("FromCity"), Some(""));
        assert_eq!(form.last().map(|(k, _)| k.as_str()), Some("CallerName"));
        assert!(get("CallToken").is_some_and(|t| t.starts_with("{\"parentCallInfoToken\"")));
    }

    #[test]
    fn client_callers_get_no_geographic_fields() {
        let mut spec = spec();
        spec.from = "client:alice".to_owned();
        let form = twilio_form(&spec, &new_call_sid());
        assert!(
            !form
                .iter()
                .any(|(k, _)| k.starts_with("From") && k != "From")
        );
        assert!(form.iter().any(|(k, _)| k == "ToCountry"));
    }

    #[test]
    fn sids_are_twilio_shaped() {
        assert!(CallSid::parse(new_call_sid().as_str()).is_ok());
        assert!(hotline_core::StreamSid::parse(&new_stream_sid()).is_ok());
    }

    #[test]
    fn sources_render_to_mulaw_at_eight_bytes_per_ms() {
        let tone = AudioSource::Tone {
            freq_hz: 440.0,
            dbfs: -20.0,
            ms: 100,
        }
        .render()
        .expect("tone");
        assert_eq!(tone.len(), 800);
        let level = hotline_audio::frame_dbfs(&tone);
        assert!((level + 20.0).abs() < 1.0, "{level} dBFS");

        let script = AudioSource::Script(vec![
            Segment::Silence { ms: 20 },
            Segment::Speech { ms: 40 },
        ])
        .render()
        .expect("script");
        assert_eq!(script.len(), 480);
        assert!(script[..160].iter().all(|&b| b == SILENCE));
        assert!(hotline_audio::frame_dbfs(&script[160..]) > -30.0);
        assert!(AudioSource::Silence.render().expect("silence").is_empty());
    }

    #[test]
    fn stream_urls_are_signed_as_written_and_checked() {
        let mut call = call(spec());
        assert_eq!(
            call.stream_url("wss://stream.example/twilio/stream")
                .expect("url"),
            "wss://stream.example/twilio/stream"
        );
        assert!(call.report.violations.is_empty());
        assert_eq!(
            call.stream_url("/twilio/stream").expect("relative"),
            "wss://hotline.example/twilio/stream"
        );
        call.stream_url("ws://127.0.0.1:1/s?x=1").expect("ws");
        assert_eq!(
            call.report.violations.len(),
            2,
            "{:?}",
            call.report.violations
        );
        assert!(call.stream_url("https://stream.example/s").is_err());
    }
}
