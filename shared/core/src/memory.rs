//! One memory per contact for the voice agent: what the realtime model is told at the
//! start of a call about the person on the line, from their earlier calls (summaries,
//! what was learned, to-dos) and texts with the same organization. Newest first within
//! a budget, so a long history costs a bounded share of the session's context.

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::ids::MessageSid;
use crate::model::{Call, Channel, Contact, Direction, Message, MessageDirection, Speaker, Turn};
use crate::sms::{call_lines, cut_at_word, take};

/// How much history the instructions carry, in characters (about 1,500 tokens).
pub const REALTIME_BUDGET_CHARS: usize = 6000;
/// Most earlier calls and texts looked at.
pub const RECENT_CALLS: usize = 5;
pub const RECENT_TEXTS: usize = 20;
/// Longest single text quoted.
const TEXT_CHARS: usize = 400;

/// The agent's instructions followed by what is known of the caller, or the
/// instructions alone when nothing is. `calls` and `texts` are newest first and the
/// caller's own, within the call's organization (the caller of this function reads them
/// through the organization's keys).
pub fn instructions_with_history(
    instructions: &str,
    contact: Option<&Contact>,
    calls: &[Call],
    texts: &[Message],
    now: DateTime<Utc>,
) -> String {
    let mut budget = REALTIME_BUDGET_CHARS;
    let mut sections = Vec::new();
    if let Some(contact) = contact {
        let about: Vec<String> = [
            ("Name", &contact.name),
            ("Company", &contact.company),
            ("Notes", &contact.notes),
        ]
        .into_iter()
        .filter_map(|(label, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{label}: {}", cut_at_word(v, TEXT_CHARS)))
        })
        .collect();
        if let Some(block) = take(&mut budget, about.join("\n")) {
            sections.push(format!("What we know about the caller:\n{block}"));
        }
    }
    let mut recent = Vec::new();
    for call in calls.iter().take(RECENT_CALLS) {
        match take(&mut budget, call_lines(call)) {
            Some(lines) => recent.push(lines),
            None => break,
        }
    }
    if !recent.is_empty() {
        sections.push(format!(
            "Their earlier phone calls with us, newest first:\n{}",
            recent.join("\n")
        ));
    }
    let mut thread = Vec::new();
    for text in texts.iter().take(RECENT_TEXTS) {
        match take(&mut budget, text_lines(text)) {
            Some(lines) => thread.push(lines),
            None => break,
        }
    }
    if !thread.is_empty() {
        sections.push(format!(
            "Their recent text messages (SMS) with us, newest first:\n{}",
            thread.join("\n")
        ));
    }
    if sections.is_empty() {
        return instructions.to_owned();
    }
    format!(
        "{instructions}\n\n# The caller's history with us\nIt is now {}. Use what helps; do not \
         read it out, and do not mention it unless it is relevant.\n\n{}",
        now.format("%Y-%m-%d %H:%M UTC"),
        sections.join("\n\n")
    )
}

/// A call's turn as a message of the contact's `phone` conversation, so calls and texts
/// are one history: the caller's words inbound, the agent's outbound, at the moment they
/// were said. `None` when the call has no phone number on either side or the turn is
/// empty. Its SID is derived from the call's SID and the turn's number (a SHA-256, in
/// Twilio's `SM` + 32 hex shape, never a real Twilio SID), so storing the turns again is
/// a no-op.
pub fn phone_message(call: &Call, turn: &Turn) -> Option<Message> {
    let contact = call.contact.clone()?;
    let ours = match call.direction {
        Direction::Inbound => call.to.phone(),
        _ => call.from.phone(),
    }?
    .clone();
    if turn.text.trim().is_empty() {
        return None;
    }
    let digest = Sha256::digest(format!("{}#{}", call.sid, turn.seq).as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let sid = MessageSid::parse(&format!("SM{hex}")).ok()?;
    let start = call.answered_at.unwrap_or(call.started_at);
    Some(Message {
        sid,
        org: call.org.clone(),
        contact,
        channel: Channel::Phone,
        direction: match turn.speaker {
            Speaker::Caller => MessageDirection::Inbound,
            Speaker::Agent => MessageDirection::Outbound,
        },
        number: ours,
        body: turn.text.clone(),
        media: 0,
        at: start + TimeDelta::milliseconds(i64::try_from(turn.offset_ms).unwrap_or(i64::MAX)),
        agent: Some(call.agent.clone()),
        claimed_until: None,
        reply: None,
        replied_at: None,
        reply_texted: false,
        delivery: None,
        version: 0,
    })
}

/// A text and, for an inbound one, the answer it got.
fn text_lines(m: &Message) -> String {
    let when = m.at.format("%Y-%m-%d %H:%M UTC");
    let body = cut_at_word(&m.body, TEXT_CHARS);
    match m.direction {
        MessageDirection::Inbound => {
            let mut out = format!("- {when} they texted: {body}");
            // A reply texted separately is listed as its own outbound text.
            if let Some(reply) = m
                .reply
                .as_deref()
                .filter(|r| !r.is_empty() && !m.reply_texted)
            {
                out.push_str(&format!(
                    "\n  we replied: {}",
                    cut_at_word(reply, TEXT_CHARS)
                ));
            }
            out
        }
        MessageDirection::Outbound => format!("- {when} we texted: {body}"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::{E164, MessageSid, OrgId};
    use crate::model::Channel;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_210_800 + secs, 0)
            .single()
            .expect("time")
    }

    fn text(n: u32, body: &str, direction: MessageDirection) -> Message {
        Message {
            sid: MessageSid::parse(&format!("SM{n:032x}")).expect("sid"),
            org: OrgId::parse("acme").expect("org"),
            contact: E164::parse("+14155550100").expect("phone"),
            channel: Channel::Sms,
            direction,
            number: E164::parse("+14155550111").expect("phone"),
            body: body.into(),
            media: 0,
            at: at(i64::from(n)),
            agent: None,
            claimed_until: None,
            reply: Some("See you then.".into()),
            replied_at: None,
            reply_texted: false,
            delivery: None,
            version: 0,
        }
    }

    #[test]
    fn a_calls_turns_become_phone_messages_with_stable_sids() {
        use crate::ids::{AgentId, CallSid, Party};
        use crate::model::{CallStatus, Direction};
        let caller = E164::parse("+14155550100").expect("phone");
        let call = Call {
            sid: CallSid::parse(&format!("CA{:032x}", 7)).expect("sid"),
            org: OrgId::parse("acme").expect("org"),
            agent: AgentId::parse("front-desk").expect("agent"),
            from: Party::Phone(caller.clone()),
            to: Party::parse("+14155550111").expect("to"),
            direction: Direction::Inbound,
            status: CallStatus::Completed,
            started_at: at(0),
            answered_at: Some(at(2)),
            ended_at: Some(at(60)),
            contact: Some(caller.clone()),
            greeting: None,
            stream_token: "t".into(),
            transfers: Vec::new(),
            outcome: None,
            recording: None,
            post_call: Default::default(),
            outbound: None,
            version: 0,
        };
        let turn = |seq, speaker, text: &str| Turn {
            seq,
            speaker,
            text: text.into(),
            offset_ms: u64::from(seq) * 1500,
        };
        let said = phone_message(
            &call,
            &turn(1, Speaker::Caller, "I need to move my cleaning"),
        )
        .expect("a message");
        assert_eq!(said.channel, Channel::Phone);
        assert_eq!(said.direction, MessageDirection::Inbound);
        assert_eq!(said.contact, caller);
        assert_eq!(said.number.as_str(), "+14155550111");
        assert_eq!(said.at, at(2) + TimeDelta::milliseconds(1500));
        let again = phone_message(
            &call,
            &turn(1, Speaker::Caller, "I need to move my cleaning"),
        )
        .expect("a message");
        assert_eq!(said.sid, again.sid, "the same turn, the same sid");
        let answer =
            phone_message(&call, &turn(2, Speaker::Agent, "Tuesday at three?")).expect("a message");
        assert_eq!(answer.direction, MessageDirection::Outbound);
        assert_ne!(answer.sid, said.sid);
        assert!(phone_message(&call, &turn(3, Speaker::Agent, "  ")).is_none());
        let withheld = Call {
            contact: None,
            ..call
        };
        assert!(phone_message(&withheld, &turn(1, Speaker::Caller, "hi")).is_none());
    }

    #[test]
    fn no_history_leaves_the_instructions_alone() {
        assert_eq!(
            instructions_with_history("Be kind.", None, &[], &[], at(0)),
            "Be kind."
        );
    }

    #[test]
    fn texts_are_listed_newest_first_with_their_answers() {
        let texts = [
            text(2, "Can I move it to 4pm?", MessageDirection::Inbound),
            text(
                1,
                "Your cleaning is on Tuesday at 3pm",
                MessageDirection::Outbound,
            ),
        ];
        let out = instructions_with_history("Be kind.", None, &[], &texts, at(10));
        assert!(
            out.starts_with("Be kind.\n\n# The caller's history"),
            "{out}"
        );
        let newest = out
            .find("they texted: Can I move it to 4pm?")
            .expect("inbound");
        let older = out
            .find("we texted: Your cleaning is on Tuesday")
            .expect("outbound");
        assert!(newest < older, "{out}");
        assert!(out.contains("we replied: See you then."));
    }

    #[test]
    fn a_long_history_stays_within_the_budget_keeping_the_newest() {
        let texts: Vec<Message> = (0..200)
            .rev()
            .map(|n| {
                text(
                    n,
                    &format!("message {n} {}", "x ".repeat(150)),
                    MessageDirection::Inbound,
                )
            })
            .collect();
        let out = instructions_with_history("Be kind.", None, &[], &texts, at(0));
        assert!(out.chars().count() <= "Be kind.".len() + REALTIME_BUDGET_CHARS + 300);
        assert!(out.contains("message 199 "), "the newest is kept");
        assert!(!out.contains("message 0 "), "the oldest is left out");
    }
}
