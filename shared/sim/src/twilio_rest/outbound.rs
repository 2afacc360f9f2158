//! Outbound calls the fake places, as Twilio does once `Calls.json` took one: status
//! callbacks for the events asked (`initiated`, `ringing`, then `in-progress` when
//! answered, or the terminal `busy` / `no-answer`), the answered call run by the phone
//! simulator (the call's `Url` fetched signed, `CallStatus=in-progress`, the stream
//! connected), the asynchronous answering-machine verdict posted to
//! `AsyncAmdStatusCallback` (`human` shortly after "hello?", `machine_end_beep` right
//! after a voicemail greeting's beep, `fax` after a fax tone), and `completed` last.
//!
//! Who answers is scripted per number ([`Callee`]): [`super::FakeTwilio::set_callee`],
//! or a sequence call after call ([`super::FakeTwilio::set_callees`]: busy, then a
//! person), or `POST /_sim/callees` (`To`, `Callee`, comma-separated for a sequence)
//! with an account's credentials, which is how `hotline dial --callee` reaches the local
//! stack's fake.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hotline_core::{AccountSid, CallSid};
use tokio::sync::mpsc;

use super::State;
use crate::phone::{self, AfterCall, AudioSource, CallSpec, Direction, Phone, Segment};
use crate::server::Shared;
use crate::twilio_callbacks::{CallStatusCallback, post_signed};

/// How a simulated callee answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Callee {
    /// Says "hello?", then listens; hangs up after [`OutboundTiming::human_talk`].
    /// Asked to press a key (`<Gather>`, a warm transfer's whisper), presses 1.
    #[default]
    Human,
    /// A person who, asked to press a key, presses 2 (declines a warm transfer).
    Declines,
    /// A voicemail greeting, a beep, then records until the call ends.
    Voicemail,
    Busy,
    /// Rings until the call's `Timeout` (at most [`OutboundTiming::no_answer_after`]).
    NoAnswer,
    /// A fax machine's calling tone.
    Fax,
}

impl Callee {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "human" => Self::Human,
            "declines" => Self::Declines,
            "voicemail" => Self::Voicemail,
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "fax" => Self::Fax,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Declines => "declines",
            Self::Voicemail => "voicemail",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Fax => "fax",
        }
    }
}

/// How long things take on a simulated outbound call (shorter than life, same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundTiming {
    pub ring: Duration,
    /// Longest a no-answer call rings (the call's `Timeout` when shorter).
    pub no_answer_after: Duration,
    /// A person says hello for this long; detection says `human` this long after the
    /// stream started plus [`Self::verdict_delay`].
    pub hello: Duration,
    pub verdict_delay: Duration,
    /// How long a person stays on the line.
    pub human_talk: Duration,
    /// A voicemail greeting's length, before its beep.
    pub greeting: Duration,
    pub beep: Duration,
}

impl Default for OutboundTiming {
    fn default() -> Self {
        Self {
            ring: Duration::from_millis(300),
            no_answer_after: Duration::from_secs(2),
            hello: Duration::from_millis(600),
            verdict_delay: Duration::from_millis(900),
            human_talk: Duration::from_secs(5),
            greeting: Duration::from_millis(2500),
            beep: Duration::from_millis(400),
        }
    }
}

/// What a simulated callee went through.
#[derive(Debug, Clone, PartialEq)]
pub struct CalleeLog {
    pub callee: Callee,
    /// `CallStatus` of each status callback sent, in order, with the status hotline
    /// answered.
    pub statuses: Vec<(String, u16)>,
    /// `AnsweredBy` posted, when it was, and hotline's answer.
    pub answered_by: Option<(String, u16)>,
    /// When the verdict was posted.
    pub verdict_at: Option<DateTime<Utc>>,
    /// When the voicemail greeting's beep ended (voicemail only).
    pub beep_ended_at: Option<DateTime<Utc>>,
    /// `<Say>` texts of TwiML that replaced the stream (a voicemail message), and when.
    pub said_after_stream: Vec<String>,
    pub replaced_at: Option<DateTime<Utc>>,
    /// Agent audio the callee received, in bytes, and how much of it came before the
    /// verdict was posted.
    pub agent_bytes: u64,
    pub agent_bytes_before_verdict: u64,
    /// `<Say>` texts of the voice webhook's TwiML.
    pub said: Vec<String>,
    /// The webhook's HTTP status (0: never fetched).
    pub webhook_status: u16,
    /// `<Say>` texts inside `<Gather>` (a warm transfer's whisper).
    pub gather_said: Vec<String>,
    /// Conferences the callee entered, by name.
    pub conferences: Vec<String>,
    /// How the answered call ended.
    pub hung_up_by: Option<phone::HangupSide>,
    pub done: bool,
}

impl CalleeLog {
    fn new(callee: Callee) -> Self {
        Self {
            callee,
            statuses: Vec::new(),
            answered_by: None,
            verdict_at: None,
            beep_ended_at: None,
            said_after_stream: Vec::new(),
            replaced_at: None,
            agent_bytes: 0,
            agent_bytes_before_verdict: 0,
            said: Vec::new(),
            webhook_status: 0,
            gather_said: Vec::new(),
            conferences: Vec::new(),
            hung_up_by: None,
            done: false,
        }
    }
}

/// What the task placing a call needs from the fake.
struct Placing {
    account: String,
    token: String,
    sid: CallSid,
    to: String,
    from: String,
    url: Option<String>,
    status_callback: Option<String>,
    events: Vec<String>,
    amd_callback: Option<String>,
    /// `MachineDetection` without `AsyncAmd`: the verdict comes with the `Url` request.
    sync_amd: bool,
    ring_timeout: Option<Duration>,
    callee: Callee,
    timing: OutboundTiming,
}

/// Places the call `sid` (just created through `Calls.json`) in the background.
pub(super) fn spawn(shared: Arc<Shared<State>>, sid: String) {
    let placing = {
        let mut state = shared.lock();
        let Some(timing) = state.outbound_timing else {
            return;
        };
        let Some(call) = state.calls.get(&sid).cloned() else {
            return;
        };
        let account = call.account.clone().unwrap_or_default();
        let Some(token) = state.accounts.get(&account).cloned() else {
            return;
        };
        let Ok(call_sid) = CallSid::parse(&sid) else {
            return;
        };
        let callee = match state.callees.get_mut(&call.to) {
            Some(script) if script.len() > 1 => script.pop_front().unwrap_or_default(),
            Some(script) => script.front().copied().unwrap_or_default(),
            None => Callee::default(),
        };
        state.callee_logs.insert(sid, CalleeLog::new(callee));
        state.live_placed += 1;
        state.max_live_placed = state.max_live_placed.max(state.live_placed);
        Placing {
            account,
            token,
            sid: call_sid,
            to: call.to,
            from: call.from,
            url: call.url,
            status_callback: call.status_callback,
            events: call.status_callback_events,
            sync_amd: call.machine_detection.is_some() && call.async_amd_callback.is_none(),
            amd_callback: call.async_amd_callback,
            ring_timeout: call.timeout,
            callee,
            timing,
        }
    };
    tokio::spawn(run(shared, placing));
}

fn log(shared: &Shared<State>, sid: &CallSid, change: impl FnOnce(&mut CalleeLog)) {
    if let Some(log) = shared.lock().callee_logs.get_mut(sid.as_str()) {
        change(log);
    }
    shared.notify();
}

fn set_status(shared: &Shared<State>, sid: &CallSid, status: &str) {
    let mut state = shared.lock();
    if let Some(call) = state.calls.get_mut(sid.as_str()) {
        call.status = status.to_owned();
        call.updated = Utc::now();
        if super::is_final(status) {
            call.ended.get_or_insert(call.updated);
        }
    }
}

fn status_of(shared: &Shared<State>, sid: &CallSid) -> String {
    shared
        .lock()
        .calls
        .get(sid.as_str())
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

async fn run(shared: Arc<Shared<State>>, p: Placing) {
    let http = reqwest::Client::new();
    let account = AccountSid::parse(&p.account).ok();
    let mut sequence = 0;
    set_status(&shared, &p.sid, "queued");
    send(
        &http,
        &shared,
        &p,
        account.as_ref(),
        &mut sequence,
        "initiated",
        "initiated",
        None,
    )
    .await;
    set_status(&shared, &p.sid, "ringing");
    send(
        &http,
        &shared,
        &p,
        account.as_ref(),
        &mut sequence,
        "ringing",
        "ringing",
        None,
    )
    .await;
    let ring = match p.callee {
        Callee::NoAnswer => p.ring_timeout.map_or(p.timing.no_answer_after, |t| {
            t.min(p.timing.no_answer_after)
        }),
        _ => p.timing.ring,
    };
    // A call canceled while it rings stops ringing then, as Twilio's does.
    let rang = tokio::time::Instant::now();
    while rang.elapsed() < ring && status_of(&shared, &p.sid) != "canceled" {
        tokio::time::sleep(Duration::from_millis(50).min(ring)).await;
    }
    if status_of(&shared, &p.sid) == "canceled" {
        send(
            &http,
            &shared,
            &p,
            account.as_ref(),
            &mut sequence,
            "canceled",
            "completed",
            Some(0),
        )
        .await;
        return finish(&shared, &p.sid);
    }
    match p.callee {
        Callee::Busy | Callee::NoAnswer => {
            let status = if p.callee == Callee::Busy {
                "busy"
            } else {
                "no-answer"
            };
            set_status(&shared, &p.sid, status);
            send(
                &http,
                &shared,
                &p,
                account.as_ref(),
                &mut sequence,
                status,
                "completed",
                Some(0),
            )
            .await;
            return finish(&shared, &p.sid);
        }
        Callee::Human | Callee::Declines | Callee::Voicemail | Callee::Fax => {}
    }
    set_status(&shared, &p.sid, "in-progress");
    send(
        &http,
        &shared,
        &p,
        account.as_ref(),
        &mut sequence,
        "in-progress",
        "answered",
        None,
    )
    .await;
    let secs = answer(&shared, &p, &http).await;
    set_status(&shared, &p.sid, "completed");
    send(
        &http,
        &shared,
        &p,
        account.as_ref(),
        &mut sequence,
        "completed",
        "completed",
        Some(secs),
    )
    .await;
    finish(&shared, &p.sid);
}

/// One status callback, if the call asked for its event (`completed` always goes).
#[allow(clippy::too_many_arguments)]
async fn send(
    http: &reqwest::Client,
    shared: &Shared<State>,
    p: &Placing,
    account: Option<&AccountSid>,
    sequence: &mut u32,
    status: &str,
    event: &str,
    duration: Option<u32>,
) {
    let (Some(url), Some(account)) = (&p.status_callback, account) else {
        return;
    };
    if event != "completed" && !p.events.iter().any(|e| e == event) {
        return;
    }
    let mut cb = CallStatusCallback::new(account.clone(), p.sid.clone(), status);
    cb.from.clone_from(&p.from);
    cb.to.clone_from(&p.to);
    cb.direction = Direction::OutboundApi;
    cb.sequence_number = *sequence;
    *sequence += 1;
    cb.duration_secs = duration;
    cb.sip_response_code = match status {
        "busy" => Some(486),
        "no-answer" => Some(487),
        "completed" => Some(200),
        _ => None,
    };
    let answered = post_signed(http, url, &p.token, &cb.params())
        .await
        .map_or(0, |(s, _)| s);
    log(shared, &p.sid, |l| {
        l.statuses.push((status.to_owned(), answered));
    });
}

fn finish(shared: &Shared<State>, sid: &CallSid) {
    {
        let mut state = shared.lock();
        state.live_placed = state.live_placed.saturating_sub(1);
    }
    log(shared, sid, |l| l.done = true);
}

/// The answered call, on the phone simulator, with the verdict posted beside it.
/// Returns the call's duration in seconds.
async fn answer(shared: &Arc<Shared<State>>, p: &Placing, http: &reqwest::Client) -> u32 {
    let (Some(url), Some(account)) = (&p.url, AccountSid::parse(&p.account).ok()) else {
        return 0;
    };
    let t = p.timing;
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    let (audio, duration, verdict, verdict_after) = match p.callee {
        Callee::Human | Callee::Declines => (
            AudioSource::Script(vec![Segment::Speech { ms: ms(t.hello) }]),
            t.human_talk,
            "human",
            t.hello + t.verdict_delay,
        ),
        Callee::Voicemail => (
            AudioSource::Script(vec![
                Segment::Speech { ms: ms(t.greeting) },
                Segment::Tone {
                    freq_hz: 1000.0,
                    dbfs: -10.0,
                    ms: ms(t.beep),
                },
            ]),
            t.greeting + t.beep + Duration::from_secs(20),
            "machine_end_beep",
            t.greeting + t.beep,
        ),
        _ => (
            AudioSource::Tone {
                freq_hz: 1100.0,
                dbfs: -10.0,
                ms: 500,
            },
            Duration::from_secs(10),
            "fax",
            t.verdict_delay,
        ),
    };
    let mut spec = CallSpec::new(url.clone(), account.clone(), p.token.clone());
    spec.call_sid = Some(p.sid.clone());
    spec.from.clone_from(&p.from);
    spec.to.clone_from(&p.to);
    spec.direction = Direction::OutboundApi;
    spec.audio = audio;
    spec.duration = duration;
    spec.gather_digits = match p.callee {
        Callee::Human => vec!['1'],
        Callee::Declines => vec!['2'],
        _ => Vec::new(),
    };
    spec.conferences = Some(shared.lock().conferences.clone());
    if p.sync_amd {
        // Synchronous detection holds the `Url` request until Twilio can tell, then
        // sends the verdict with it (`Enable`: `machine_start` for any machine).
        let (answered_by, after) = match p.callee {
            Callee::Human | Callee::Declines => ("human", t.hello + t.verdict_delay),
            Callee::Voicemail => ("machine_start", t.verdict_delay),
            _ => ("fax", t.verdict_delay),
        };
        tokio::time::sleep(after).await;
        spec.extra_params
            .push(("AnsweredBy".to_owned(), answered_by.to_owned()));
        spec.extra_params.push((
            "MachineDetectionDuration".to_owned(),
            after.as_millis().to_string(),
        ));
        log(shared, &p.sid, |l| {
            l.answered_by = Some((answered_by.to_owned(), 0));
            l.verdict_at = Some(Utc::now());
        });
    }
    spec.after_call = AfterCall {
        recording_callback: true,
        status_callback: None,
    };
    let updates = shared.lock().updates.subscribe();
    spec.hangup = Some(phone::hangup_on_api_update(updates, &p.sid));

    // The verdict goes out once the stream has run `verdict_after` (the phone reports
    // its progress from the stream's start).
    let (progress_tx, mut progress) = mpsc::channel(64);
    let verdict_task = {
        let shared = Arc::clone(shared);
        let http = http.clone();
        let callback = p.amd_callback.clone();
        let token = p.token.clone();
        let sid = p.sid.clone();
        let is_voicemail = p.callee == Callee::Voicemail;
        async move {
            let heard_before = loop {
                let Some(snapshot) = progress.recv().await else {
                    return;
                };
                let snapshot: phone::Progress = snapshot;
                if snapshot.elapsed >= verdict_after {
                    break snapshot.bytes_heard;
                }
            };
            if is_voicemail {
                log(&shared, &sid, |l| l.beep_ended_at = Some(Utc::now()));
            }
            let Some(url) = callback else { return };
            let params = vec![
                ("AccountSid".to_owned(), account.as_str().to_owned()),
                ("CallSid".to_owned(), sid.as_str().to_owned()),
                ("AnsweredBy".to_owned(), verdict.to_owned()),
                (
                    "MachineDetectionDuration".to_owned(),
                    verdict_after.as_millis().to_string(),
                ),
            ];
            let at = Utc::now();
            let answered = post_signed(&http, &url, &token, &params)
                .await
                .map_or(0, |(s, _)| s);
            log(&shared, &sid, |l| {
                l.answered_by = Some((verdict.to_owned(), answered));
                l.verdict_at = Some(at);
                l.agent_bytes_before_verdict = heard_before;
            });
            // Keep draining so the phone never blocks on a full channel.
            while progress.recv().await.is_some() {}
        }
    };
    let verdict_handle = tokio::spawn(verdict_task);
    let report = Phone::call(spec, Some(progress_tx)).await;
    let _ = verdict_handle.await;
    let Ok(report) = report else {
        return 0;
    };
    let replaced = shared
        .lock()
        .calls
        .get(p.sid.as_str())
        .and_then(|c| c.twiml.as_deref().map(|t| (t.to_owned(), c.updated)));
    log(shared, &p.sid, |l| {
        l.agent_bytes = report.bytes_received;
        l.said.clone_from(&report.said);
        l.gather_said.clone_from(&report.gather_said);
        l.conferences.clone_from(&report.conferences);
        l.hung_up_by = Some(report.hung_up_by.clone());
        l.webhook_status = report.http_status;
        if let Some((twiml, at)) = &replaced {
            l.said_after_stream = said(twiml);
            l.replaced_at = Some(*at);
        }
    });
    u32::try_from(report.stream_duration.as_secs()).unwrap_or(u32::MAX)
}

/// The `<Say>` texts of a TwiML document.
fn said(twiml: &str) -> Vec<String> {
    hotline_twilio::twiml_read::parse(twiml)
        .map(|root| {
            root.children
                .iter()
                .filter(|v| v.name == "Say")
                .map(|v| v.text.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
