//! The per-call state machine, free of sockets and clocks: each input (a Twilio event,
//! an AI event, a timer tick, a finished tool) becomes actions for the call loop.
//! Barge-in, marks, transcripts, tools and guardrails are all decided here.

use std::collections::{HashMap, VecDeque};

use hotline_core::E164;
use hotline_core::model::{CallLimits, EndReason, Latency, Speaker, Turn};

use super::latency::TurnClock;
use super::playback::{Playback, parse_mark};
use crate::provider::{Capabilities, ProviderCommand, ProviderEvent};

/// Inputs other than audio (audio has its own fast paths).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Twilio echoed a mark.
    Mark(String),
    Dtmf(char),
    Provider(ProviderEvent),
    /// Periodic check of the guardrails.
    Tick,
    /// A tool the loop ran has finished.
    ToolDone {
        call_id: String,
        output: String,
    },
    /// A tool the loop runs has taken [`TOOL_FILLER_AFTER_MS`] without finishing.
    ToolSlow {
        call_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Flush Twilio's playback buffer.
    TwilioClear,
    /// Send Twilio a mark (`m{seq}`) behind the audio sent so far.
    TwilioMark(u64),
    Provider(ProviderCommand),
    Persist(Turn),
    /// Run a tool that is not built in, without blocking the loop; answer with
    /// `Input::ToolDone`, and with `Input::ToolSlow` if it is still running after
    /// [`TOOL_FILLER_AFTER_MS`].
    RunTool {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// End the call through Twilio, then finish.
    Hangup(EndReason),
    /// Redirect the live call to a person, then finish.
    Transfer(E164),
}

/// Built-in tool names, as declared to the AI.
pub const END_CALL: &str = "end_call";
pub const TRANSFER_CALL: &str = "transfer_call";

/// How long a tool may run in silence before the caller is told, in a few words, that
/// the agent is on it: past a second and a half a quiet line sounds dropped.
pub const TOOL_FILLER_AFTER_MS: u64 = 1500;

/// Webhook tools one call may have running at once. A model that calls more (a loop, a
/// prompt injection) is told to wait instead of making the node a request amplifier.
pub const MAX_RUNNING_TOOLS: usize = 4;

/// Marks go out every this much agent audio (and after a response's last chunk): the
/// playback clock interpolates between echoes, so more would only cost frames.
pub const MARK_EVERY_MS: u64 = 100;

/// What to do with a chunk of agent audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// The caller interrupted its response: drop it.
    Drop,
    /// Forward it, then send this mark if any.
    Play { mark: Option<u64> },
}

/// How long a goodbye or a transfer may take before the call is ended regardless.
const ENDING_GRACE_MS: u64 = 15_000;

// What the call loop tells the AI goes in as system notes followed by a bare
// `response.create`: a response's own `instructions` would replace the agent's for that
// response, and the greeting or goodbye would lose its persona, language and company.
const GREET: &str =
    "The caller has just been connected. Greet them briefly and ask how you can help.";
const GOODBYE: &str =
    "The call is ending now. Say a short, friendly goodbye to the caller. Do not call any tools.";
const FILLER: &str = "A tool you called is still working. Tell the caller in a few words that you are checking, such as \"One moment, please.\" Do not guess its result and do not call any tools.";
const REPROMPT: &str = "The caller has been silent for a while. Briefly and kindly check whether they are still there.";

fn keypress_note(digit: char) -> String {
    format!("The caller pressed {digit} on their phone's keypad.")
}

/// An assistant item whose audio went to Twilio, placed on the playback timeline.
#[derive(Debug)]
struct SentItem {
    item_id: String,
    start_ms: u64,
    end_ms: u64,
}

#[derive(Debug)]
struct Ending {
    reason: EndReason,
    transfer_to: Option<E164>,
    /// A goodbye was asked for and has not finished yet.
    awaiting_goodbye: bool,
    goodbye_response: Option<String>,
    deadline: u64,
    done: bool,
}

#[derive(Debug)]
pub struct CallState {
    limits: CallLimits,
    /// What the provider does by itself (truncation, answering tool output, …).
    caps: Capabilities,
    transfer_to: Option<E164>,
    playback: Playback,
    /// Items sent to Twilio and not known to be fully heard, oldest first (the newest
    /// is always kept: more of its audio may come).
    items: VecDeque<SentItem>,
    /// Responses the caller interrupted while they were in progress: the provider
    /// cancels them, and whatever of their audio is still on its way is dropped.
    dropped: Vec<String>,
    active_response: Option<String>,
    /// A `response.create` was sent and its `response.created` has not come yet.
    creating: bool,
    /// A response to ask for once the active one is done.
    queued_response: bool,
    caller_speaking: bool,
    last_activity: u64,
    reprompted: bool,
    ending: Option<Ending>,
    next_turn: u32,
    /// When each item started, for the offsets of its turn.
    item_offsets: HashMap<String, u64>,
    /// Offset of the caller speech whose transcript has not arrived yet.
    caller_speech_at: Vec<u64>,
    /// Tools running for the AI, by call id: added on `RunTool`, gone on `ToolDone`.
    running_tools: Vec<String>,
    /// A filler was asked for since the last tool started: one is enough.
    filler_asked: bool,
    /// How long each turn waited for the agent.
    clock: TurnClock,
}

impl CallState {
    pub fn new(limits: CallLimits, transfer_to: Option<E164>) -> Self {
        // A stored agent may predate the cap (or come from a store nobody validated): no
        // call outlives what a deploy waits for, whatever the record says.
        let limits = CallLimits {
            max_duration_secs: limits.max_duration_secs.min(CallLimits::MAX_DURATION_SECS),
            ..limits
        };
        Self {
            limits,
            caps: Capabilities::FULL,
            transfer_to,
            playback: Playback::new(MARK_EVERY_MS),
            items: VecDeque::new(),
            dropped: Vec::new(),
            active_response: None,
            creating: false,
            queued_response: false,
            caller_speaking: false,
            last_activity: 0,
            reprompted: false,
            ending: None,
            next_turn: 0,
            item_offsets: HashMap::new(),
            caller_speech_at: Vec::new(),
            running_tools: Vec::new(),
            filler_asked: false,
            clock: TurnClock::default(),
        }
    }

    /// For a provider that does less than [`Capabilities::FULL`].
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// The call is connected. Without a greeting from Twilio the agent speaks first.
    pub fn connected(&mut self, greeted_by_twilio: bool, now: u64, out: &mut Vec<Action>) {
        self.last_activity = now;
        if !greeted_by_twilio {
            note(GREET.into(), out);
            self.request_response(out);
        }
    }

    /// An outbound call is connected to a person: the agent opens with `opening` (the
    /// call's greeting, rendered from its variables).
    pub fn connected_saying(&mut self, opening: &str, now: u64, out: &mut Vec<Action>) {
        self.last_activity = now;
        note(
            format!("The person you called has just answered. Open the call by saying: {opening}"),
            out,
        );
        self.request_response(out);
    }

    /// Transcript turns are numbered from `seq` on: a stream that continues a call
    /// (the caller back from a transfer) must not overwrite the earlier turns.
    pub fn with_first_turn(mut self, seq: u32) -> Self {
        self.next_turn = seq;
        self
    }

    /// The caller is back from a transfer that did not connect: the agent opens by
    /// telling them so.
    pub fn resumed_saying(&mut self, line: &str, now: u64, out: &mut Vec<Action>) {
        self.last_activity = now;
        note(
            format!(
                "The caller is back with you: the person you tried to transfer them to could not take the call. Tell them so, in your own words, for example: {line}"
            ),
            out,
        );
        self.request_response(out);
    }

    /// A chunk of agent audio (`bytes` of µ-law) arrived at `now`.
    pub fn agent_audio(
        &mut self,
        response_id: &str,
        item_id: &str,
        bytes: usize,
        now: u64,
    ) -> Chunk {
        if self.dropped.iter().any(|r| r == response_id) {
            return Chunk::Drop;
        }
        if self.items.back().is_none_or(|i| i.item_id != item_id) {
            self.item_offsets.entry(item_id.to_owned()).or_insert(now);
            let at = self.playback.sent_ms();
            self.items.push_back(SentItem {
                item_id: item_id.to_owned(),
                start_ms: at,
                end_ms: at,
            });
        }
        self.last_activity = now;
        let mark = self.playback.sent(bytes, now);
        self.clock.audio_sent(now, mark);
        if let Some(item) = self.items.back_mut() {
            item.end_ms = self.playback.sent_ms();
        }
        Chunk::Play { mark }
    }

    /// The turns' latency so far, with the provider's connect time.
    pub fn latency(&self, connect_ms: Option<u32>) -> Latency {
        self.clock.summary(connect_ms)
    }

    /// Whether the call is winding down (goodbye, transfer): new caller input is ignored.
    pub fn is_ending(&self) -> bool {
        self.ending.is_some()
    }

    pub fn handle(&mut self, input: Input, now: u64, out: &mut Vec<Action>) {
        match input {
            Input::Mark(name) => {
                if let Some(seq) = parse_mark(&name) {
                    self.playback.acked(seq, now);
                    self.clock.mark_echoed(seq, now);
                    self.forget_heard_items(now);
                }
                self.check_ending(now, out);
            }
            Input::Dtmf(digit) => {
                self.last_activity = now;
                self.persist(Speaker::Caller, format!("[pressed {digit}]"), now, out);
                if self.ending.is_none() {
                    note(keypress_note(digit), out);
                    self.request_response(out);
                }
            }
            Input::Provider(event) => self.provider_event(event, now, out),
            Input::Tick => self.tick(now, out),
            Input::ToolSlow { call_id } => self.tool_slow(&call_id, out),
            Input::ToolDone { call_id, output } => {
                self.running_tools.retain(|c| *c != call_id);
                out.push(Action::Provider(ProviderCommand::FunctionOutput {
                    call_id,
                    output,
                }));
                if self.ending.is_none() && !self.caps.answers_tool_output {
                    self.request_response(out);
                }
            }
        }
    }

    fn provider_event(&mut self, event: ProviderEvent, now: u64, out: &mut Vec<Action>) {
        match event {
            ProviderEvent::SpeechStarted => {
                self.clock.caller_started();
                self.caller_speaking = true;
                self.last_activity = now;
                self.reprompted = false;
                self.caller_speech_at.push(now);
                if self.ending.is_none() {
                    self.interrupt(now, out);
                }
            }
            // Barge-in from a provider that reports no speech events: the caller is
            // active, but when they stop is unknown, so nothing waits on it.
            ProviderEvent::Interrupted => {
                self.clock.caller_started();
                self.last_activity = now;
                self.reprompted = false;
                if self.ending.is_none() {
                    self.interrupt(now, out);
                }
            }
            ProviderEvent::SpeechStopped => {
                self.clock.caller_stopped(now);
                self.caller_speaking = false;
                self.last_activity = now;
            }
            ProviderEvent::ResponseStarted { response_id } => {
                self.creating = false;
                if let Some(ending) = &mut self.ending
                    && ending.awaiting_goodbye
                    && ending.goodbye_response.is_none()
                {
                    ending.goodbye_response = Some(response_id.clone());
                }
                self.active_response = Some(response_id);
            }
            ProviderEvent::AudioDone { .. } => self.mark_rest(out),
            ProviderEvent::ResponseDone { response_id, .. } => {
                self.mark_rest(out);
                if self.active_response.as_deref() == Some(&response_id) {
                    self.active_response = None;
                }
                // A finished response sends no more audio.
                self.dropped.retain(|r| *r != response_id);
                if let Some(ending) = &mut self.ending
                    && ending.goodbye_response.as_deref() == Some(&response_id)
                {
                    ending.awaiting_goodbye = false;
                }
                if std::mem::take(&mut self.queued_response) {
                    self.request_response(out);
                }
                self.check_ending(now, out);
            }
            ProviderEvent::CallerTranscript { text, .. } => {
                let at = if self.caller_speech_at.is_empty() {
                    now
                } else {
                    self.caller_speech_at.remove(0)
                };
                self.persist(Speaker::Caller, text, at, out);
            }
            ProviderEvent::AgentTranscript { item_id, text } => {
                let at = self.item_offsets.remove(&item_id).unwrap_or(now);
                self.persist(Speaker::Agent, text, at, out);
            }
            ProviderEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => self.function_call(call_id, name, arguments, now, out),
            // A refused `response.create` (one already active) must not leave us waiting
            // for a response that will never come.
            ProviderEvent::Error { .. } => {
                self.creating = false;
                self.check_ending(now, out);
            }
            ProviderEvent::Ready | ProviderEvent::Other => {}
        }
    }

    /// Marks the end of the agent audio sent so far, so its echo says it all played.
    fn mark_rest(&mut self, out: &mut Vec<Action>) {
        if let Some(seq) = self.playback.mark_rest() {
            self.clock.mark_sent(seq);
            out.push(Action::TwilioMark(seq));
        }
    }

    /// The caller spoke over the agent. The session lets the provider cancel the
    /// response in progress (`interrupt_response`), so what is left of its audio is
    /// dropped, even if none of it played yet. What Twilio has not played is flushed,
    /// the item the caller was hearing is cut where they stopped hearing it, and items
    /// queued behind it are cut to nothing: the AI must not believe it said them.
    fn interrupt(&mut self, now: u64, out: &mut Vec<Action>) {
        if let Some(active) = &self.active_response
            && !self.dropped.contains(active)
        {
            self.dropped.push(active.clone());
        }
        if !self.playback.is_playing() {
            return;
        }
        let heard = self.playback.cleared(now);
        out.push(Action::TwilioClear);
        let items = std::mem::take(&mut self.items);
        if !self.caps.truncate {
            return;
        }
        // The item being heard: the last one that had started playing.
        let hearing = items.iter().rposition(|i| i.start_ms <= heard).unwrap_or(0);
        for item in items.into_iter().skip(hearing) {
            out.push(Action::Provider(ProviderCommand::Truncate {
                audio_end_ms: heard.clamp(item.start_ms, item.end_ms) - item.start_ms,
                item_id: item.item_id,
            }));
        }
    }

    /// Drops the items the caller has heard to the end, keeping the newest.
    fn forget_heard_items(&mut self, now: u64) {
        let heard = self.playback.position(now);
        while self.items.len() > 1 && self.items.front().is_some_and(|i| i.end_ms <= heard) {
            self.items.pop_front();
        }
    }

    fn function_call(
        &mut self,
        call_id: String,
        name: String,
        arguments: String,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        let ok = || r#"{"ok":true}"#.to_owned();
        match name.as_str() {
            // A provider that answers tool output by itself would answer a separate
            // goodbye request twice: the output asks for the goodbye instead, and its
            // answer is awaited as the goodbye.
            END_CALL if self.caps.answers_tool_output => {
                out.push(Action::Provider(ProviderCommand::FunctionOutput {
                    call_id,
                    output: serde_json::json!({"ok": true, "next": GOODBYE}).to_string(),
                }));
                self.begin_ending(EndReason::AgentEnded, None, false, now, out);
                if let Some(ending) = &mut self.ending {
                    ending.awaiting_goodbye = true;
                }
                self.creating = true;
            }
            END_CALL => {
                out.push(Action::Provider(ProviderCommand::FunctionOutput {
                    call_id,
                    output: ok(),
                }));
                self.begin_ending(EndReason::AgentEnded, None, true, now, out);
            }
            TRANSFER_CALL => match self.transfer_to.clone() {
                Some(to) => {
                    out.push(Action::Provider(ProviderCommand::FunctionOutput {
                        call_id,
                        output: ok(),
                    }));
                    self.begin_ending(EndReason::Transferred, Some(to), false, now, out);
                }
                None => out.push(Action::Provider(ProviderCommand::FunctionOutput {
                    call_id,
                    output: r#"{"ok":false,"error":"transfer is not configured for this agent"}"#
                        .to_owned(),
                })),
            },
            _ if self.running_tools.len() >= MAX_RUNNING_TOOLS => {
                out.push(Action::Provider(ProviderCommand::FunctionOutput {
                    call_id,
                    output: r#"{"ok":false,"error":"too many tools are running already: wait for their answers"}"#
                        .to_owned(),
                }));
            }
            _ => {
                self.running_tools.push(call_id.clone());
                self.filler_asked = false;
                out.push(Action::RunTool {
                    call_id,
                    name,
                    arguments,
                });
            }
        }
    }

    /// A tool is slow. If the line is quiet — nobody speaking, nothing playing, no
    /// response on its way — the AI says a short filler, once per wait. Otherwise the
    /// caller already hears something, or is talking (their turn gets its own answer).
    fn tool_slow(&mut self, call_id: &str, out: &mut Vec<Action>) {
        let quiet = !self.caller_speaking
            && !self.playback.is_playing()
            && self.active_response.is_none()
            && !self.creating
            && !self.queued_response;
        if !self.running_tools.iter().any(|c| c == call_id)
            || self.filler_asked
            || self.ending.is_some()
            || !quiet
        {
            return;
        }
        self.filler_asked = true;
        note(FILLER.into(), out);
        self.request_response(out);
    }

    fn tick(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.ending.is_none() && now >= u64::from(self.limits.max_duration_secs) * 1000 {
            self.begin_ending(EndReason::MaxDuration, None, true, now, out);
        }
        let busy = self.caller_speaking
            || self.playback.is_playing()
            || self.active_response.is_some()
            || self.creating;
        if busy {
            self.last_activity = now;
        } else if self.ending.is_none()
            && now.saturating_sub(self.last_activity)
                >= u64::from(self.limits.silence_timeout_secs) * 1000
        {
            self.last_activity = now;
            if self.reprompted {
                self.begin_ending(EndReason::Silence, None, true, now, out);
            } else {
                self.reprompted = true;
                note(REPROMPT.into(), out);
                self.request_response(out);
            }
        }
        if let Some(ending) = &mut self.ending
            && !ending.done
            && now >= ending.deadline
        {
            ending.done = true;
            out.push(match ending.transfer_to.clone() {
                Some(to) => Action::Transfer(to),
                None => Action::Hangup(ending.reason),
            });
        } else {
            self.check_ending(now, out);
        }
    }

    fn begin_ending(
        &mut self,
        reason: EndReason,
        transfer_to: Option<E164>,
        goodbye: bool,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        if self.ending.is_some() {
            return;
        }
        self.ending = Some(Ending {
            reason,
            transfer_to,
            awaiting_goodbye: goodbye,
            goodbye_response: None,
            deadline: now + ENDING_GRACE_MS,
            done: false,
        });
        if goodbye {
            note(GOODBYE.into(), out);
            self.request_response(out);
        }
        self.check_ending(now, out);
    }

    /// Ends the call once the goodbye (if any) is done and the caller has heard it all.
    fn check_ending(&mut self, _now: u64, out: &mut Vec<Action>) {
        let quiet = self.active_response.is_none()
            && !self.creating
            && !self.queued_response
            && !self.playback.is_playing();
        let Some(ending) = &mut self.ending else {
            return;
        };
        if ending.done || ending.awaiting_goodbye || !quiet {
            return;
        }
        ending.done = true;
        out.push(match ending.transfer_to.clone() {
            Some(to) => Action::Transfer(to),
            None => Action::Hangup(ending.reason),
        });
    }

    /// Asks for a response now, or after the active one: only one may run at a time.
    /// Whatever it should address went into the conversation before, as a note.
    fn request_response(&mut self, out: &mut Vec<Action>) {
        if self.active_response.is_some() || self.creating {
            self.queued_response = true;
            return;
        }
        self.creating = true;
        out.push(Action::Provider(ProviderCommand::CreateResponse {
            instructions: None,
        }));
    }

    fn persist(&mut self, speaker: Speaker, text: String, offset_ms: u64, out: &mut Vec<Action>) {
        if text.trim().is_empty() {
            return;
        }
        let seq = self.next_turn;
        self.next_turn += 1;
        out.push(Action::Persist(Turn {
            seq,
            speaker,
            text,
            offset_ms,
        }));
    }
}

/// Tells the AI something as the system, right away: a note is a fact of the call, and
/// joins the conversation even while a response is in progress.
fn note(text: String, out: &mut Vec<Action>) {
    out.push(Action::Provider(ProviderCommand::SystemNote(text)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CallLimits {
        CallLimits {
            max_duration_secs: 600,
            silence_timeout_secs: 10,
        }
    }

    fn state() -> CallState {
        CallState::new(limits(), Some(E164::parse("+14155550199").expect("e164")))
    }

    /// Plays a chunk that must be forwarded; returns its mark, if one was due.
    fn play(s: &mut CallState, response: &str, item: &str, bytes: usize, now: u64) -> Option<u64> {
        match s.agent_audio(response, item, bytes, now) {
            Chunk::Play { mark } => mark,
            Chunk::Drop => panic!("chunk of {response} dropped"),
        }
    }

    fn run(s: &mut CallState, input: Input, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        s.handle(input, now, &mut out);
        out
    }

    fn ev(e: ProviderEvent) -> Input {
        Input::Provider(e)
    }

    fn started(id: &str) -> Input {
        ev(ProviderEvent::ResponseStarted {
            response_id: id.into(),
        })
    }

    fn done(id: &str) -> Input {
        ev(ProviderEvent::ResponseDone {
            response_id: id.into(),
            status: "completed".into(),
        })
    }

    /// A bare `response.create`: the agent's own instructions stay in force.
    fn create() -> Action {
        Action::Provider(ProviderCommand::CreateResponse { instructions: None })
    }

    fn system(text: &str) -> Action {
        Action::Provider(ProviderCommand::SystemNote(text.into()))
    }

    #[test]
    fn without_a_twilio_greeting_the_agent_speaks_first() {
        let mut s = state();
        let mut out = Vec::new();
        s.connected(false, 0, &mut out);
        assert_eq!(out, [system(GREET), create()]);
        let mut out = Vec::new();
        state().connected(true, 0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_answered_outbound_call_opens_with_its_rendered_greeting() {
        let mut s = state();
        let mut out = Vec::new();
        s.connected_saying("Hi Ada, this is Acme.", 0, &mut out);
        assert_eq!(
            out,
            vec![
                system(
                    "The person you called has just answered. Open the call by saying: Hi Ada, this is Acme."
                ),
                create()
            ]
        );
    }

    #[test]
    fn a_caller_back_from_a_transfer_hears_why_and_the_transcript_goes_on() {
        let mut s = state().with_first_turn(7);
        let mut out = Vec::new();
        s.resumed_saying("Nobody answered.", 0, &mut out);
        assert_eq!(
            out,
            vec![
                system(
                    "The caller is back with you: the person you tried to transfer them to could not take the call. Tell them so, in your own words, for example: Nobody answered."
                ),
                create()
            ]
        );
        let out = run(
            &mut s,
            ev(ProviderEvent::CallerTranscript {
                item_id: "u1".into(),
                text: "Okay".into(),
            }),
            500,
        );
        assert!(
            matches!(&out[..], [Action::Persist(Turn { seq: 7, .. })]),
            "{out:?}"
        );
    }

    #[test]
    fn no_response_request_replaces_the_agents_own_instructions() {
        let mut s = state();
        let mut out = Vec::new();
        // Greeting, a keypress, a tool result, a silence reprompt, then a goodbye.
        s.connected(false, 0, &mut out);
        out.extend(run(&mut s, started("r1"), 10));
        out.extend(run(&mut s, done("r1"), 20));
        out.extend(run(&mut s, Input::Dtmf('3'), 30));
        out.extend(run(&mut s, started("r2"), 40));
        out.extend(run(&mut s, done("r2"), 50));
        out.extend(run(
            &mut s,
            Input::ToolDone {
                call_id: "c1".into(),
                output: "{}".into(),
            },
            60,
        ));
        out.extend(run(&mut s, started("r3"), 70));
        out.extend(run(&mut s, done("r3"), 80));
        out.extend(run(&mut s, Input::Tick, 10_080));
        out.extend(run(&mut s, started("r4"), 10_090));
        out.extend(run(&mut s, done("r4"), 10_100));
        out.extend(run(&mut s, Input::Tick, 20_100));
        let creates: Vec<&Action> = out
            .iter()
            .filter(|a| matches!(a, Action::Provider(ProviderCommand::CreateResponse { .. })))
            .collect();
        assert_eq!(creates.len(), 5, "{out:?}");
        assert!(creates.iter().all(|a| **a == create()), "{out:?}");
        let notes: Vec<&Action> = out
            .iter()
            .filter(|a| matches!(a, Action::Provider(ProviderCommand::SystemNote(_))))
            .collect();
        assert_eq!(
            notes,
            [
                &system(GREET),
                &system(&keypress_note('3')),
                &system(REPROMPT),
                &system(GOODBYE)
            ]
        );
    }

    #[test]
    fn barge_in_clears_twilio_and_truncates_at_what_was_heard() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        // 1 s of audio in 100 ms chunks, sent at t=1000 faster than real time.
        let marks: Vec<u64> = (0..10)
            .map(|_| play(&mut s, "r1", "i1", 800, 1000).expect("a mark per 100 ms"))
            .collect();
        // Twilio played three chunks; the third echo came at t=1300.
        run(&mut s, Input::Mark(format!("m{}", marks[2])), 1300);
        let out = run(&mut s, ev(ProviderEvent::SpeechStarted), 1340);
        assert_eq!(
            out,
            [
                Action::TwilioClear,
                Action::Provider(ProviderCommand::Truncate {
                    item_id: "i1".into(),
                    audio_end_ms: 340,
                }),
            ]
        );
        // The rest of the interrupted response is dropped; a new one plays.
        assert_eq!(s.agent_audio("r1", "i1", 800, 1350), Chunk::Drop);
        assert!(play(&mut s, "r2", "i2", 800, 2000).is_some());
    }

    #[test]
    fn barge_in_truncates_the_item_being_heard_not_the_newest() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        // Two items of one response, 1 s each, sent at once: the second queues.
        play(&mut s, "r1", "i1", 8000, 0);
        play(&mut s, "r1", "i2", 8000, 0);
        let out = run(&mut s, ev(ProviderEvent::SpeechStarted), 300);
        assert_eq!(
            out,
            [
                Action::TwilioClear,
                Action::Provider(ProviderCommand::Truncate {
                    item_id: "i1".into(),
                    audio_end_ms: 300,
                }),
                // Never heard: the AI must not believe it said any of it.
                Action::Provider(ProviderCommand::Truncate {
                    item_id: "i2".into(),
                    audio_end_ms: 0,
                }),
            ]
        );
    }

    #[test]
    fn items_heard_to_the_end_are_not_truncated() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        let m = play(&mut s, "r1", "i1", 1600, 0).expect("mark"); // 200 ms
        play(&mut s, "r1", "i2", 8000, 0);
        run(&mut s, Input::Mark(format!("m{m}")), 200);
        let out = run(&mut s, ev(ProviderEvent::SpeechStarted), 700);
        assert_eq!(
            out,
            [
                Action::TwilioClear,
                Action::Provider(ProviderCommand::Truncate {
                    item_id: "i2".into(),
                    audio_end_ms: 500,
                }),
            ]
        );
    }

    #[test]
    fn a_response_interrupted_before_any_of_it_played_is_dropped() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        // The caller speaks while the AI is still thinking: nothing to clear or cut.
        assert!(run(&mut s, ev(ProviderEvent::SpeechStarted), 100).is_empty());
        // The provider cancels r1; the audio it had already sent never plays.
        assert_eq!(s.agent_audio("r1", "i1", 800, 120), Chunk::Drop);
        run(
            &mut s,
            ev(ProviderEvent::ResponseDone {
                response_id: "r1".into(),
                status: "cancelled".into(),
            }),
            130,
        );
        run(&mut s, started("r2"), 900);
        assert!(play(&mut s, "r2", "i2", 800, 1000).is_some());
    }

    #[test]
    fn after_an_underrun_barge_in_counts_only_what_played_since() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        // 60 ms, unmarked, then the buffer runs dry for almost a second.
        play(&mut s, "r1", "i1", 480, 0);
        play(&mut s, "r1", "i2", 8000, 1000);
        let out = run(&mut s, ev(ProviderEvent::SpeechStarted), 1100);
        assert_eq!(
            out,
            [
                Action::TwilioClear,
                Action::Provider(ProviderCommand::Truncate {
                    item_id: "i2".into(),
                    audio_end_ms: 100,
                }),
            ]
        );
    }

    fn gemini_like() -> CallState {
        state().with_capabilities(Capabilities {
            speech_events: false,
            truncate: false,
            answers_tool_output: true,
            ..Capabilities::FULL
        })
    }

    #[test]
    fn an_interruption_without_truncation_clears_twilio_and_drops_the_reply() {
        let mut s = gemini_like();
        run(&mut s, started("r1"), 0);
        play(&mut s, "r1", "r1", 8000, 0);
        let out = run(&mut s, ev(ProviderEvent::Interrupted), 300);
        assert_eq!(out, [Action::TwilioClear], "no truncate: {out:?}");
        assert_eq!(s.agent_audio("r1", "r1", 160, 310), Chunk::Drop);
        // The caller is not taken to be talking until some "speech stopped".
        run(&mut s, done("r1"), 320);
        assert_eq!(
            run(&mut s, Input::Tick, 10_400),
            [system(REPROMPT), create()],
            "silence is still noticed"
        );
    }

    #[test]
    fn end_call_on_a_provider_that_answers_tool_output_awaits_its_goodbye() {
        let mut s = gemini_like();
        run(&mut s, started("g1"), 0);
        let out = run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: END_CALL.into(),
                arguments: "{}".into(),
            }),
            10,
        );
        assert!(
            matches!(&out[..], [Action::Provider(ProviderCommand::FunctionOutput { output, .. })] if output.contains("goodbye")),
            "{out:?}"
        );
        assert!(
            run(&mut s, done("g1"), 20).is_empty(),
            "the goodbye is coming"
        );
        run(&mut s, started("g2"), 30);
        let m = play(&mut s, "g2", "g2", 800, 40).expect("goodbye audio");
        assert!(run(&mut s, done("g2"), 50).is_empty(), "still playing");
        assert_eq!(
            run(&mut s, Input::Mark(format!("m{m}")), 200),
            [Action::Hangup(EndReason::AgentEnded)]
        );
    }

    #[test]
    fn a_provider_that_answers_tool_output_is_not_asked_to() {
        let mut s = gemini_like();
        tool_call(&mut s, "c1", 0);
        let out = run(&mut s, tool_done("c1"), 5);
        assert!(
            matches!(
                &out[..],
                [Action::Provider(ProviderCommand::FunctionOutput { .. })]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn speech_while_nothing_plays_interrupts_nothing() {
        let mut s = state();
        let m = play(&mut s, "r1", "i1", 800, 0).expect("mark");
        run(&mut s, Input::Mark(format!("m{m}")), 100);
        assert!(run(&mut s, ev(ProviderEvent::SpeechStarted), 500).is_empty());
    }

    #[test]
    fn truncation_counts_from_the_start_of_the_interrupted_item() {
        let mut s = state();
        let a = play(&mut s, "r1", "i1", 1600, 0).expect("mark"); // 200 ms
        run(&mut s, Input::Mark(format!("m{a}")), 200);
        play(&mut s, "r1", "i2", 1600, 200);
        let out = run(&mut s, ev(ProviderEvent::SpeechStarted), 250);
        assert!(out.contains(&Action::Provider(ProviderCommand::Truncate {
            item_id: "i2".into(),
            audio_end_ms: 50,
        })));
    }

    #[test]
    fn the_audio_after_the_last_mark_is_marked_when_the_response_ends() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        // 20 ms chunks: marks at 100 and 200 ms, 60 ms left unmarked.
        let marks: Vec<_> = (0..13)
            .filter_map(|_| play(&mut s, "r1", "i1", 160, 0))
            .collect();
        assert_eq!(marks, [0, 1]);
        let out = run(
            &mut s,
            ev(ProviderEvent::AudioDone {
                response_id: "r1".into(),
            }),
            5,
        );
        assert_eq!(out, [Action::TwilioMark(2)]);
        assert!(run(&mut s, done("r1"), 6).is_empty(), "marked once");
    }

    #[test]
    fn end_call_says_goodbye_then_hangs_up_once_it_was_heard() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        let out = run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: END_CALL.into(),
                arguments: "{}".into(),
            }),
            10,
        );
        assert!(matches!(
            &out[..],
            [Action::Provider(ProviderCommand::FunctionOutput { .. }), note] if *note == system(GOODBYE)
        ));
        // The goodbye is asked for once the tool-calling response is done.
        let out = run(&mut s, done("r1"), 20);
        assert_eq!(out, [create()]);
        run(&mut s, started("r2"), 30);
        let m = play(&mut s, "r2", "i9", 8000, 40).expect("goodbye audio");
        assert!(run(&mut s, done("r2"), 50).is_empty(), "still playing");
        assert!(s.is_ending());
        let out = run(&mut s, Input::Mark(format!("m{m}")), 1040);
        assert_eq!(out, [Action::Hangup(EndReason::AgentEnded)]);
        assert!(
            run(&mut s, Input::Tick, 20_000).is_empty(),
            "only one hang-up"
        );
    }

    #[test]
    fn a_goodbye_that_never_comes_still_ends_the_call() {
        let mut s = state();
        let mut out = Vec::new();
        s.handle(
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: END_CALL.into(),
                arguments: "{}".into(),
            }),
            0,
            &mut out,
        );
        assert!(run(&mut s, Input::Tick, 5_000).is_empty());
        assert_eq!(
            run(&mut s, Input::Tick, ENDING_GRACE_MS),
            [Action::Hangup(EndReason::AgentEnded)]
        );
    }

    #[test]
    fn transfer_waits_for_the_agent_to_finish_speaking() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        let m = play(&mut s, "r1", "i1", 800, 0).expect("audio");
        run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: TRANSFER_CALL.into(),
                arguments: r#"{"reason":"billing"}"#.into(),
            }),
            10,
        );
        assert!(run(&mut s, done("r1"), 20).is_empty());
        assert_eq!(
            run(&mut s, Input::Mark(format!("m{m}")), 100),
            [Action::Transfer(E164::parse("+14155550199").expect("e164"))]
        );
    }

    #[test]
    fn transfer_without_a_target_is_refused_to_the_ai() {
        let mut s = CallState::new(limits(), None);
        let out = run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: TRANSFER_CALL.into(),
                arguments: "{}".into(),
            }),
            0,
        );
        assert!(
            matches!(&out[..], [Action::Provider(ProviderCommand::FunctionOutput { output, .. })] if output.contains("not configured"))
        );
        assert!(!s.is_ending());
    }

    #[test]
    fn other_tools_run_and_their_result_gets_a_response() {
        let mut s = state();
        let out = run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c1".into(),
                name: "lookup_order".into(),
                arguments: "{\"id\":7}".into(),
            }),
            0,
        );
        assert_eq!(
            out,
            [Action::RunTool {
                call_id: "c1".into(),
                name: "lookup_order".into(),
                arguments: "{\"id\":7}".into(),
            }]
        );
        let out = run(
            &mut s,
            Input::ToolDone {
                call_id: "c1".into(),
                output: "{}".into(),
            },
            5,
        );
        assert_eq!(
            out,
            [
                Action::Provider(ProviderCommand::FunctionOutput {
                    call_id: "c1".into(),
                    output: "{}".into(),
                }),
                create(),
            ]
        );
    }

    fn tool_call(s: &mut CallState, call_id: &str, now: u64) -> Vec<Action> {
        run(
            s,
            ev(ProviderEvent::FunctionCall {
                call_id: call_id.into(),
                name: "lookup_order".into(),
                arguments: "{}".into(),
            }),
            now,
        )
    }

    fn slow(call_id: &str) -> Input {
        Input::ToolSlow {
            call_id: call_id.into(),
        }
    }

    fn tool_done(call_id: &str) -> Input {
        Input::ToolDone {
            call_id: call_id.into(),
            output: r#"{"status":"shipped"}"#.into(),
        }
    }

    #[test]
    fn a_slow_tool_on_a_quiet_line_gets_one_filler_then_its_answer() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        tool_call(&mut s, "c1", 10);
        run(&mut s, done("r1"), 20);
        assert_eq!(
            run(&mut s, slow("c1"), TOOL_FILLER_AFTER_MS),
            [system(FILLER), create()]
        );
        assert!(run(&mut s, slow("c1"), 1600).is_empty(), "one filler");
        run(&mut s, started("r2"), 1600);
        // The answer comes while the filler is spoken: its response waits for it.
        let out = run(&mut s, tool_done("c1"), 2000);
        assert!(
            matches!(
                &out[..],
                [Action::Provider(ProviderCommand::FunctionOutput { .. })]
            ),
            "{out:?}"
        );
        assert_eq!(run(&mut s, done("r2"), 2500), [create()]);
    }

    #[test]
    fn a_call_runs_a_bounded_number_of_tools_at_once() {
        let mut s = state();
        for i in 0..MAX_RUNNING_TOOLS {
            let out = tool_call(&mut s, &format!("c{i}"), 0);
            assert!(matches!(&out[..], [Action::RunTool { .. }]), "{out:?}");
        }
        let out = tool_call(&mut s, "c9", 0);
        assert!(
            matches!(&out[..], [Action::Provider(ProviderCommand::FunctionOutput { call_id, output })]
                if call_id == "c9" && output.contains("too many tools")),
            "{out:?}"
        );
        run(&mut s, tool_done("c0"), 10);
        let out = tool_call(&mut s, "c10", 20);
        assert!(matches!(&out[..], [Action::RunTool { .. }]), "{out:?}");
    }

    #[test]
    fn a_tool_that_answered_gets_no_filler() {
        let mut s = state();
        tool_call(&mut s, "c1", 0);
        run(&mut s, tool_done("c1"), 500);
        run(&mut s, started("r2"), 510);
        run(&mut s, done("r2"), 520);
        assert!(run(&mut s, slow("c1"), TOOL_FILLER_AFTER_MS).is_empty());
    }

    #[test]
    fn no_filler_over_the_agent_or_the_caller() {
        // The agent is still speaking (it said "let me check" and called the tool).
        let mut s = state();
        run(&mut s, started("r1"), 0);
        play(&mut s, "r1", "i1", 16_000, 0); // 2 s
        tool_call(&mut s, "c1", 10);
        run(&mut s, done("r1"), 20);
        assert!(run(&mut s, slow("c1"), TOOL_FILLER_AFTER_MS).is_empty());
        // The caller is talking: their turn is answered, not talked over.
        let mut s = state();
        tool_call(&mut s, "c1", 0);
        run(&mut s, ev(ProviderEvent::SpeechStarted), 1000);
        assert!(run(&mut s, slow("c1"), TOOL_FILLER_AFTER_MS).is_empty());
        // The call is ending: the goodbye is what the caller hears.
        let mut s = state();
        tool_call(&mut s, "c1", 0);
        run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c2".into(),
                name: END_CALL.into(),
                arguments: "{}".into(),
            }),
            10,
        );
        run(&mut s, started("r9"), 20);
        run(&mut s, done("r9"), 30);
        assert!(run(&mut s, slow("c1"), TOOL_FILLER_AFTER_MS).is_empty());
    }

    #[test]
    fn silence_reprompts_once_then_ends_the_call() {
        let mut s = state();
        let mut out = Vec::new();
        s.connected(true, 0, &mut out);
        assert!(run(&mut s, Input::Tick, 9_000).is_empty());
        let out = run(&mut s, Input::Tick, 10_000);
        assert_eq!(out, [system(REPROMPT), create()]);
        run(&mut s, started("r1"), 10_100);
        run(&mut s, done("r1"), 12_000);
        let out = run(&mut s, Input::Tick, 22_000);
        assert_eq!(out, [system(GOODBYE), create()]);
        assert!(s.is_ending());
    }

    #[test]
    fn caller_speech_resets_the_silence_reprompt() {
        let mut s = state();
        run(&mut s, Input::Tick, 10_000); // reprompt
        run(&mut s, started("r1"), 10_001);
        run(&mut s, done("r1"), 10_002);
        run(&mut s, ev(ProviderEvent::SpeechStarted), 11_000);
        run(&mut s, ev(ProviderEvent::SpeechStopped), 12_000);
        let out = run(&mut s, Input::Tick, 22_000);
        assert!(
            matches!(
                &out[..],
                [Action::Provider(ProviderCommand::SystemNote(_)), _]
            ),
            "reprompts again instead of hanging up: {out:?}"
        );
    }

    #[test]
    fn max_duration_ends_with_a_goodbye() {
        let mut s = state();
        let out = run(&mut s, Input::Tick, 600_000);
        assert_eq!(out, [system(GOODBYE), create()]);
        run(&mut s, started("r9"), 600_010);
        let out = run(&mut s, done("r9"), 600_500);
        assert_eq!(out, [Action::Hangup(EndReason::MaxDuration)]);
    }

    #[test]
    fn no_call_outlasts_the_cap_a_deploy_waits_for_whatever_the_agent_says() {
        let mut s = CallState::new(
            CallLimits {
                max_duration_secs: 4 * 3600,
                silence_timeout_secs: 20_000,
            },
            None,
        );
        let cap = u64::from(CallLimits::MAX_DURATION_SECS) * 1000;
        assert_eq!(run(&mut s, Input::Tick, cap - 1), []);
        assert_eq!(run(&mut s, Input::Tick, cap), [system(GOODBYE), create()]);
    }

    #[test]
    fn dtmf_reaches_the_ai_as_a_system_note_and_is_kept_as_a_turn() {
        let mut s = state();
        let out = run(&mut s, Input::Dtmf('5'), 1234);
        assert!(matches!(
            &out[0],
            Action::Persist(Turn {
                seq: 0,
                speaker: Speaker::Caller,
                offset_ms: 1234,
                ..
            })
        ));
        // Not as `user` text: the caller did not say it.
        assert!(
            matches!(&out[1], Action::Provider(ProviderCommand::SystemNote(t)) if t.contains("pressed 5"))
        );
        assert_eq!(out[2], create());
    }

    #[test]
    fn transcripts_become_turns_with_their_offsets() {
        let mut s = state();
        run(&mut s, ev(ProviderEvent::SpeechStarted), 1000);
        play(&mut s, "r1", "a1", 160, 3000);
        let out = run(
            &mut s,
            ev(ProviderEvent::AgentTranscript {
                item_id: "a1".into(),
                text: "How can I help?".into(),
            }),
            3500,
        );
        assert_eq!(
            out,
            [Action::Persist(Turn {
                seq: 0,
                speaker: Speaker::Agent,
                text: "How can I help?".into(),
                offset_ms: 3000,
            })]
        );
        let out = run(
            &mut s,
            ev(ProviderEvent::CallerTranscript {
                item_id: "u1".into(),
                text: "Book me in".into(),
            }),
            4000,
        );
        assert_eq!(
            out,
            [Action::Persist(Turn {
                seq: 1,
                speaker: Speaker::Caller,
                text: "Book me in".into(),
                offset_ms: 1000,
            })]
        );
    }

    #[test]
    fn only_one_response_is_requested_at_a_time() {
        let mut s = state();
        run(&mut s, started("r1"), 0);
        assert!(
            run(&mut s, Input::Dtmf('1'), 10)
                .iter()
                .all(|a| !matches!(a, Action::Provider(ProviderCommand::CreateResponse { .. })))
        );
        let out = run(&mut s, done("r1"), 20);
        assert_eq!(out, [create()]);
    }

    #[test]
    fn a_refused_response_create_does_not_block_the_ending() {
        let mut s = state();
        run(
            &mut s,
            ev(ProviderEvent::FunctionCall {
                call_id: "c".into(),
                name: END_CALL.into(),
                arguments: "{}".into(),
            }),
            0,
        );
        // The goodbye create was refused: nothing will ever say goodbye.
        let out = run(
            &mut s,
            ev(ProviderEvent::Error {
                code: Some("conversation_already_has_active_response".into()),
                message: "busy".into(),
            }),
            10,
        );
        assert!(out.is_empty(), "still waiting for the goodbye: {out:?}");
        assert_eq!(
            run(&mut s, Input::Tick, ENDING_GRACE_MS),
            [Action::Hangup(EndReason::AgentEnded)]
        );
    }
}
