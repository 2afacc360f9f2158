//! Turns mode (`--turns`): callers take turns with the agent, and the bench measures
//! what hotline adds to each turn.
//!
//! The caller speaks (a tone, [`frame::speech_tail`]) for [`SPEECH_FRAMES`], then is
//! silent. The fake AI behaves like OpenAI's server VAD: `speech_started` on the first
//! spoken frame, `speech_stopped`, `committed`, the user item and its transcription on
//! the first silent one; then, the provider's latency after the last spoken frame
//! arrived, a response: `response.created`, `response.output_item.added`, 20 ms audio
//! deltas in real time (or in `--ai-burst-ms` bursts) for [`AGENT_FRAMES`] with an audio-transcript delta every
//! [`TRANSCRIPT_EVERY`], and `response.output_audio.done`,
//! `response.output_audio_transcript.done`, `response.output_item.done`,
//! `response.done`. Every [`BARGE_EVERY`]th turn (from the 2nd) the caller speaks again once
//! 1 s of the reply has played: the fake AI cancels the response as OpenAI does
//! (`interrupt_response`), and the node sends Twilio `clear` and the AI a truncate.
//!
//! The first delta of a reply carries, after its frame id, the turn number, the send
//! time of the caller's last spoken frame and the time the fake AI received it (all on
//! the generator's one clock). The phone that receives it knows the turn's total (its
//! receipt − the last spoken frame's send time) and the time the fake AI held it (the
//! delta's send time − that receipt): hotline's added time is the difference, the up hop
//! of the last spoken frame plus the down hop of the first reply frame, with whatever
//! the node does at a turn boundary (speech events, transcripts to the store, marks).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use futures_util::SinkExt as _;
use hotline_realtime::openai::ServerEvent;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::ai::{self, Ai};
use super::frame::{self, FrameId};
use super::stats::{Dir, Live, Percentiles, Receiver, percentiles};

/// The caller speaks for 2 s.
pub const SPEECH_FRAMES: u32 = 100;
/// The agent answers for 3 s.
pub const AGENT_FRAMES: u32 = 150;
/// An audio-transcript delta every 200 ms of agent audio.
const TRANSCRIPT_EVERY: u32 = 10;
/// Every 5th turn (the 2nd, 7th, 12th, …: short runs have one too) the caller
/// interrupts the agent…
pub const BARGE_EVERY: u32 = 5;
const BARGE_FIRST: u32 = 2;
/// …once 1 s of its reply has played.
const BARGE_AFTER_US: u64 = 1_000_000;
/// The caller waits this long after the agent's audio played before speaking again.
const PAUSE_US: u64 = 400_000;
/// A turn whose reply has not come this long after the provider's latency is unanswered.
const UNANSWERED_US: u64 = 5_000_000;

/// What turns mode is given.
#[derive(Debug, Clone, Copy)]
pub struct Turns {
    /// How long the fake AI holds a turn: from receiving the caller's last spoken frame
    /// to sending the first delta of its reply.
    pub provider_latency: Duration,
}

/// Per-turn figures, merged over all calls.
#[derive(Debug, Default)]
pub struct TurnStats {
    /// Replies received (the phone saw the first delta of the turn's reply).
    pub turns: u64,
    /// hotline's added time per turn in the window, µs.
    pub added_us: Vec<u32>,
    /// The whole turn (last spoken frame sent → first reply frame received), µs.
    pub total_us: Vec<u32>,
    /// Turns the caller ended whose reply never came.
    pub unanswered: u64,
    /// Turns the caller interrupted, `clear`s the phones got, truncates the fake AI got.
    pub barge_ins: u64,
    pub clears: u64,
    pub truncates: u64,
    /// The turn number in a reply was not the caller's.
    pub mismatched: u64,
}

impl TurnStats {
    pub fn merge(&mut self, other: Self) {
        self.turns += other.turns;
        self.added_us.extend(other.added_us);
        self.total_us.extend(other.total_us);
        self.unanswered += other.unanswered;
        self.barge_ins += other.barge_ins;
        self.clears += other.clears;
        self.truncates += other.truncates;
        self.mismatched += other.mismatched;
    }

    pub fn summary(&mut self) -> Summary {
        Summary {
            added: percentiles(&mut self.added_us),
            total: percentiles(&mut self.total_us),
        }
    }
}

pub struct Summary {
    pub added: Option<Percentiles>,
    pub total: Option<Percentiles>,
}

/// One caller's side of the turns: what to say on each tick, and the replies.
#[derive(Debug)]
pub struct Caller {
    latency_us: u64,
    turn: u32,
    /// Spoken frames left in this turn.
    speaking: u32,
    /// The last spoken frame's send time, once the caller stopped speaking.
    last_spoken_us: Option<u32>,
    /// The reply came (its first frame), and its frames so far.
    answered: bool,
    reply_frames: u32,
    /// Speak again at this time (µs, generator clock), once what was sent has played
    /// unless `barge`.
    next_turn_at: Option<u64>,
    barge: bool,
    pub stats: TurnStats,
}

impl Caller {
    pub fn new(now_us: u32, turns: Turns) -> Self {
        Self {
            latency_us: u64::try_from(turns.provider_latency.as_micros()).unwrap_or(u64::MAX),
            turn: 0,
            speaking: 0,
            last_spoken_us: None,
            answered: false,
            reply_frames: 0,
            // A moment of silence first: the session settles.
            next_turn_at: Some(u64::from(now_us) + 500_000),
            barge: false,
            stats: TurnStats::default(),
        }
    }

    /// Whether this tick's frame is speech (call once per tick); `play_end_us`: when the
    /// audio the phone has received will have played.
    pub fn speaks(&mut self, now_us: u32, play_end_us: u64) -> bool {
        if self.speaking == 0
            && let Some(at) = self.next_turn_at
            && u64::from(now_us) >= if self.barge { at } else { at.max(play_end_us) }
        {
            if self.last_spoken_us.is_some() && !self.answered {
                self.stats.unanswered += 1;
            }
            if self.barge {
                self.stats.barge_ins += 1;
            }
            self.turn += 1;
            self.speaking = SPEECH_FRAMES;
            self.next_turn_at = None;
            self.barge = false;
            self.answered = false;
            self.reply_frames = 0;
            self.last_spoken_us = None;
        }
        self.speaking > 0
    }

    /// The frame sent this tick was spoken, at `sent_us`.
    pub fn spoke(&mut self, sent_us: u32) {
        self.speaking -= 1;
        if self.speaking == 0 {
            self.last_spoken_us = Some(sent_us);
            // Unless the reply comes first.
            self.next_turn_at = Some(u64::from(sent_us) + self.latency_us + UNANSWERED_US);
        }
    }

    /// A frame of agent audio arrived at `now_us`.
    pub fn heard(&mut self, payload: &str, now_us: u32, in_window: bool) {
        if let Some([turn, spoken_us, held_from_us]) = frame::read_extra(payload)
            && let Some(id) = frame::read_id(payload)
        {
            if self.last_spoken_us != Some(spoken_us) || turn != self.turn || self.answered {
                self.stats.mismatched += 1;
                return;
            }
            self.stats.turns += 1;
            self.answered = true;
            self.next_turn_at = None;
            let total = now_us.wrapping_sub(spoken_us);
            let held = id.sent_us.wrapping_sub(held_from_us);
            if in_window {
                self.stats.total_us.push(total);
                self.stats.added_us.push(total.saturating_sub(held));
            }
        }
        if !self.answered || self.speaking > 0 {
            return;
        }
        self.reply_frames += 1;
        if self.reply_frames == 1 && self.turn % BARGE_EVERY == BARGE_FIRST {
            // Once a second of the reply has played.
            self.barge = true;
            self.next_turn_at = Some(u64::from(now_us) + BARGE_AFTER_US);
        } else if !self.barge && self.reply_frames == AGENT_FRAMES {
            // Once it has all played (see the phone's playback model), and a pause.
            self.next_turn_at = Some(u64::from(now_us) + PAUSE_US);
        }
    }
}

/// The fake AI's session in turns mode, after the handshake and `session.created`.
pub async fn talk<S>(
    ws: &mut WebSocketStream<S>,
    ai: &Ai,
    turns: Turns,
    up: &mut Receiver,
    down: &mut Dir,
    other: &mut BTreeMap<String, u64>,
    stats: &mut TurnStats,
) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let c = &ai.collector;
    let window = c.window;
    let short_tail = frame::silent_short_tail();
    let burst = ai.burst.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(frame::FRAME_MS * u64::from(burst)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut seq = 0u32;
    let mut event = 0u32;
    // The caller's turn: speaking, and the last spoken frame (send time, receipt).
    let mut turn = 0u32;
    let mut speaking = false;
    let mut last_spoken: Option<(u32, u32, Instant)> = None;
    let mut respond_at: Option<Instant> = None;
    // The reply in progress: frames sent.
    let mut replying: Option<u32> = None;
    let far = Instant::now() + Duration::from_secs(86_400);
    loop {
        tokio::select! {
            biased;
            msg = ai::next_text(ws) => {
                let Some(text) = msg? else { return Ok(()) };
                let now = frame::now_us();
                let text = text.as_str();
                event += 1;
                if text.starts_with(r#"{"type":"input_audio_buffer.append""#) {
                    let payload = frame::str_after(text, r#""audio":""#).unwrap_or_default();
                    let Some(id) = frame::read_id(payload) else {
                        *other.entry("append without a frame id".into()).or_default() += 1;
                        continue;
                    };
                    Live::inc(&c.live.frames_up);
                    up.received(id, now, &window);
                    if !frame::silent_after_id(payload) {
                        last_spoken = Some((id.sent_us, now, Instant::now()));
                        if !speaking {
                            speaking = true;
                            turn += 1;
                            respond_at = None;
                            ws.feed(Message::text(speech_started(event, turn, id.seq))).await?;
                            if replying.take().is_some() {
                                // `interrupt_response`: the reply is cancelled.
                                ws.feed(Message::text(transcript_done(event, turn - 1, "Sure, let me"))).await?;
                                ws.feed(Message::text(response_done(event, turn - 1, "cancelled"))).await?;
                            }
                            ws.flush().await?;
                        }
                    } else if speaking {
                        speaking = false;
                        let Some((_, _, at)) = last_spoken else { continue };
                        respond_at = Some(at + turns.provider_latency);
                        for e in [
                            speech_stopped(event, turn, id.seq),
                            committed(event, turn),
                            user_item_added(event, turn),
                            transcription_completed(event, turn),
                        ] {
                            ws.feed(Message::text(e)).await?;
                        }
                        ws.flush().await?;
                    }
                } else if text.starts_with(r#"{"type":"session.update""#) {
                    ws.send(Message::text(frame::session_event("session.updated", "gpt-realtime"))).await?;
                } else if text.starts_with(r#"{"type":"conversation.item.truncate""#) {
                    stats.truncates += 1;
                    let item = frame::str_after(text, r#""item_id":""#).unwrap_or("item_0").to_owned();
                    ws.send(Message::text(truncated(event, &item))).await?;
                } else {
                    let kind = frame::str_after(text, r#""type":""#).unwrap_or("untyped").to_owned();
                    *other.entry(kind).or_default() += 1;
                }
            }
            () = tokio::time::sleep_until(respond_at.unwrap_or(far)), if respond_at.is_some() => {
                respond_at = None;
                ws.feed(Message::text(response_created(event, turn))).await?;
                ws.feed(Message::text(output_item(event, turn, "added", "in_progress"))).await?;
                ws.flush().await?;
                replying = Some(0);
                tick.reset_immediately();
            }
            _ = tick.tick(), if replying.is_some() => {
                if Instant::now() >= ai.give_up_at {
                    bail!("the node kept the AI session open after the call ended");
                }
                let (Some(mut sent), Some((spoken_us, received_us, _)), Some(call)) = (replying, last_spoken, up.call()) else {
                    continue;
                };
                for _ in 0..burst {
                    let id = FrameId { call, seq, sent_us: frame::now_us() };
                    let mut delta = frame::delta_head(seq, &response_id(turn), &item_id(turn));
                    if sent == 0 {
                        frame::push_payload_extra(&mut delta, id, [turn, spoken_us, received_us], &short_tail);
                    } else {
                        frame::push_payload(&mut delta, id, &ai.tail);
                    }
                    delta.push_str("\"}");
                    ws.feed(Message::text(delta)).await.context("sending audio")?;
                    if sent % TRANSCRIPT_EVERY == TRANSCRIPT_EVERY - 1 {
                        ws.feed(Message::text(transcript_delta(seq, turn))).await?;
                    }
                    down.sent(id, &window);
                    seq += 1;
                    sent += 1;
                    if sent == AGENT_FRAMES {
                        break;
                    }
                }
                if sent == AGENT_FRAMES {
                    replying = None;
                    for e in [
                        audio_done(event, turn),
                        transcript_done(event, turn, AGENT_SAYS),
                        output_item(event, turn, "done", "completed"),
                        response_done(event, turn, "completed"),
                    ] {
                        ws.feed(Message::text(e)).await?;
                    }
                } else {
                    replying = Some(sent);
                }
                ws.flush().await.context("sending audio")?;
            }
        }
    }
}

const AGENT_SAYS: &str =
    "Sure, let me check that for you. Your order shipped yesterday and should arrive on Tuesday.";

fn response_id(turn: u32) -> String {
    format!("resp_{turn}")
}

fn item_id(turn: u32) -> String {
    format!("item_a{turn}")
}

fn speech_started(event: u32, turn: u32, seq: u32) -> String {
    format!(
        r#"{{"type":"input_audio_buffer.speech_started","event_id":"event_t{event}","audio_start_ms":{},"item_id":"item_u{turn}"}}"#,
        u64::from(seq) * frame::FRAME_MS
    )
}

fn speech_stopped(event: u32, turn: u32, seq: u32) -> String {
    format!(
        r#"{{"type":"input_audio_buffer.speech_stopped","event_id":"event_t{event}","audio_end_ms":{},"item_id":"item_u{turn}"}}"#,
        u64::from(seq) * frame::FRAME_MS
    )
}

fn committed(event: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"input_audio_buffer.committed","event_id":"event_t{event}","previous_item_id":null,"item_id":"item_u{turn}"}}"#
    )
}

fn user_item_added(event: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"conversation.item.added","event_id":"event_t{event}","previous_item_id":null,"item":{{"id":"item_u{turn}","type":"message","object":"realtime.item","status":"completed","role":"user","content":[{{"type":"input_audio","transcript":null}}]}}}}"#
    )
}

fn transcription_completed(event: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"conversation.item.input_audio_transcription.completed","event_id":"event_t{event}","item_id":"item_u{turn}","content_index":0,"transcript":"Hi, I am calling about my order, number {turn}.","usage":{{"type":"duration","seconds":2}}}}"#
    )
}

fn response_created(event: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"response.created","event_id":"event_t{event}","response":{{"id":"{}","object":"realtime.response","status":"in_progress","output":[]}}}}"#,
        response_id(turn)
    )
}

fn output_item(event: u32, turn: u32, what: &str, status: &str) -> String {
    format!(
        r#"{{"type":"response.output_item.{what}","event_id":"event_t{event}","response_id":"{}","output_index":0,"item":{{"id":"{}","type":"message","object":"realtime.item","status":"{status}","role":"assistant","content":[]}}}}"#,
        response_id(turn),
        item_id(turn)
    )
}

fn transcript_delta(seq: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"response.output_audio_transcript.delta","event_id":"event_x{seq}","response_id":"{}","item_id":"{}","output_index":0,"content_index":0,"delta":"some words "}}"#,
        response_id(turn),
        item_id(turn)
    )
}

fn audio_done(event: u32, turn: u32) -> String {
    format!(
        r#"{{"type":"response.output_audio.done","event_id":"event_t{event}","response_id":"{}","item_id":"{}","output_index":0,"content_index":0}}"#,
        response_id(turn),
        item_id(turn)
    )
}

fn transcript_done(event: u32, turn: u32, transcript: &str) -> String {
    format!(
        r#"{{"type":"response.output_audio_transcript.done","event_id":"event_t{event}","response_id":"{}","item_id":"{}","output_index":0,"content_index":0,"transcript":"{transcript}"}}"#,
        response_id(turn),
        item_id(turn)
    )
}

fn response_done(event: u32, turn: u32, status: &str) -> String {
    let details = if status == "cancelled" {
        r#","status_details":{"type":"cancelled","reason":"turn_detected"}"#
    } else {
        ""
    };
    format!(
        r#"{{"type":"response.done","event_id":"event_t{event}","response":{{"id":"{}","object":"realtime.response","status":"{status}"{details},"output":[]}}}}"#,
        response_id(turn)
    )
}

fn truncated(event: u32, item: &str) -> String {
    format!(
        r#"{{"type":"conversation.item.truncated","event_id":"event_t{event}","item_id":"{item}","content_index":0,"audio_end_ms":0}}"#
    )
}

/// Checks the turn's events against the project's parser, so a format drift fails the
/// bench at once instead of going unnoticed by the node.
pub fn self_check() -> anyhow::Result<()> {
    let events = [
        speech_started(1, 2, 3),
        speech_stopped(1, 2, 3),
        committed(1, 2),
        user_item_added(1, 2),
        transcription_completed(1, 2),
        response_created(1, 2),
        output_item(1, 2, "added", "in_progress"),
        transcript_delta(1, 2),
        audio_done(1, 2),
        transcript_done(1, 2, AGENT_SAYS),
        output_item(1, 2, "done", "completed"),
        response_done(1, 2, "completed"),
        response_done(1, 2, "cancelled"),
        truncated(1, "item_a2"),
    ];
    let mut kinds = Vec::new();
    for e in &events {
        let parsed = ServerEvent::parse(e).with_context(|| format!("turn event: {e}"))?;
        ensure!(
            !matches!(parsed, ServerEvent::Unknown(_)),
            "turn event not recognized: {e}"
        );
        kinds.push(format!("{parsed:?}").chars().take(30).collect::<String>());
    }
    let ok = |ev: &str, prefix: &str| matches!(ServerEvent::parse(ev), Ok(ref p) if format!("{p:?}").starts_with(prefix));
    ensure!(
        ok(&events[0], "InputAudioBufferSpeechStarted")
            && ok(&events[1], "InputAudioBufferSpeechStopped")
            && ok(&events[4], "InputAudioTranscriptionCompleted")
            && ok(&events[9], "ResponseOutputAudioTranscriptDone")
            && ok(&events[11], "ResponseDone"),
        "turn events parse as other kinds: {kinds:?}"
    );
    Ok(())
}

/// What the node wrote to the store about the calls, read after it stopped.
#[derive(Debug, Default)]
pub struct Stored {
    pub calls: u64,
    /// Calls whose record was finalized (ended, with an outcome).
    pub finalized: u64,
    /// Turns the node timed (the outcome's latency), summed over the calls.
    pub timed_turns: u64,
    /// Transcript turns stored, by speaker.
    pub caller_lines: u64,
    pub agent_lines: u64,
}

pub async fn read_store(data_dir: &std::path::Path, sids: &[String]) -> anyhow::Result<Stored> {
    use hotline_core::CallSid;
    use hotline_core::model::Speaker;
    let stores = hotline_store::Stores::local(data_dir).context("opening the local store")?;
    let mut stored = Stored::default();
    for sid in sids {
        let sid = CallSid::parse(sid)?;
        let Some(call) = stores.calls.get_call(&sid).await? else {
            continue;
        };
        stored.calls += 1;
        if let Some(outcome) = call.outcome.filter(|_| call.ended_at.is_some()) {
            stored.finalized += 1;
            stored.timed_turns += outcome.latency.map_or(0, |l| u64::from(l.turns));
        }
        for turn in stores.calls.turns(&sid).await? {
            match turn.speaker {
                Speaker::Caller => stored.caller_lines += 1,
                Speaker::Agent => stored.agent_lines += 1,
            }
        }
    }
    Ok(stored)
}
