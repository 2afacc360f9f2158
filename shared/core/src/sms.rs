//! What an inbound text means and what the answer may look like: the opt-out words
//! carriers and Twilio honour, the prompt the agent's LLM sees (the contact's calls and
//! texts, newest first, within a budget) and the cut that keeps an answer one TwiML
//! `<Message>` long.

use chrono::{DateTime, Utc};

use crate::model::{AnalysisResult, Call, Contact, Message, MessageDirection};

/// Longest answer sent back, in characters: Twilio takes 1,600 per message; the margin
/// keeps an answer clear of it whatever the counting.
pub const MAX_REPLY_CHARS: usize = 1500;
/// How much of the contact's history the prompt carries, in characters (about 2,000
/// tokens): the newest first, the rest left out.
pub const HISTORY_BUDGET_CHARS: usize = 8000;
/// Most calls and texts looked at for the history.
pub const HISTORY_CALLS: usize = 5;
pub const HISTORY_TEXTS: usize = 20;

/// A text that is one of the words Twilio's standard opt-out handling reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKeyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT.
    Out,
    /// START, UNSTOP.
    In,
}

impl OptKeyword {
    /// The keyword a whole text is, as Twilio matches them: the body alone, trimmed,
    /// in any case. "Stop calling me at work" is a message, not an opt-out.
    pub fn parse(body: &str) -> Option<Self> {
        let word = body.trim().to_ascii_uppercase();
        match word.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Self::Out),
            "START" | "UNSTOP" => Some(Self::In),
            _ => None,
        }
    }

    /// Applies the keyword to the contact; whether anything changed.
    pub fn apply(self, contact: &mut Contact) -> bool {
        let out = self == Self::Out;
        let changed = contact.sms_opted_out != out;
        contact.sms_opted_out = out;
        changed
    }
}

/// `text` trimmed and at most `max` characters long: cut at the last whitespace that
/// fits, so no word is broken, or mid-word only when a single word is longer than `max`.
pub fn cut_at_word(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    // Byte index of the first character that does not fit.
    let end = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    let head = &text[..end];
    let next_is_space = text[end..].starts_with(char::is_whitespace);
    let cut = if next_is_space {
        head
    } else {
        match head.rfind(char::is_whitespace) {
            Some(i) => &head[..i],
            None => head,
        }
    };
    cut.trim_end().to_owned()
}

/// The chat the agent's LLM is asked to continue: a system message, then the text thread
/// oldest first as user/assistant turns, ending with the text to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPrompt {
    pub system: String,
    /// `(role, content)`, role `user` or `assistant`.
    pub turns: Vec<(&'static str, String)>,
}

/// What the LLM is told when it answers a text for `instructions`' agent.
pub fn prompt(
    instructions: &str,
    contact: &Contact,
    calls: &[Call],
    thread: &[Message],
    text: &str,
    now: DateTime<Utc>,
) -> SmsPrompt {
    let mut budget = HISTORY_BUDGET_CHARS;
    let mut system = format!(
        "{instructions}\n\nYou are answering a text message (SMS), not a call. Reply in plain \
         text, briefly: one to three short sentences, no markdown, at most {MAX_REPLY_CHARS} \
         characters. It is now {}.",
        now.format("%Y-%m-%d %H:%M UTC")
    );
    let mut about = Vec::new();
    for (label, value) in [
        ("Name", &contact.name),
        ("Company", &contact.company),
        ("Notes", &contact.notes),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            about.push(format!("{label}: {v}"));
        }
    }
    if let Some(block) = take(&mut budget, about.join("\n")) {
        system.push_str("\n\nWhat we know about this person:\n");
        system.push_str(&block);
    }
    // Newest first: when the budget runs out, older calls are the ones left out.
    let mut recent = Vec::new();
    for call in calls {
        match take(&mut budget, call_lines(call)) {
            Some(lines) => recent.push(lines),
            None => break,
        }
    }
    if !recent.is_empty() {
        system.push_str("\n\nTheir recent phone calls with us, newest first:\n");
        system.push_str(&recent.join("\n"));
    }
    let mut turns = Vec::new();
    for message in thread {
        let mut pair = Vec::new();
        let said = |m: &Message| {
            let media = if m.media > 0 { " [with media]" } else { "" };
            format!("{}{media}", m.body)
        };
        match message.direction {
            MessageDirection::Inbound => {
                pair.push(("user", said(message)));
                if let Some(reply) = message
                    .reply
                    .as_deref()
                    .filter(|r| !r.is_empty() && !message.reply_texted)
                {
                    pair.push(("assistant", reply.to_owned()));
                }
            }
            MessageDirection::Outbound => pair.push(("assistant", said(message))),
        }
        let size = pair.iter().map(|(_, c)| c.chars().count()).sum::<usize>();
        if size > budget {
            break;
        }
        budget -= size;
        // `thread` is newest first; the chat runs oldest first.
        turns.splice(0..0, pair);
    }
    turns.push(("user", text.to_owned()));
    SmsPrompt { system, turns }
}

/// `block` if it fits in what is left of the budget, which it then uses up.
pub(crate) fn take(budget: &mut usize, block: String) -> Option<String> {
    let size = block.chars().count();
    if block.is_empty() || size > *budget {
        return None;
    }
    *budget -= size;
    Some(block)
}

/// A call as the LLM reads it: when, how long, what the analyzers found, the to-dos.
pub(crate) fn call_lines(call: &Call) -> String {
    let mut out = format!(
        "- {} call on {}",
        direction(call),
        call.started_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(secs) = call.duration_secs() {
        out.push_str(&format!(" ({secs} s)"));
    }
    for (name, result) in &call.post_call.analysis {
        if let AnalysisResult::Ok { value, .. } = result {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("\n  {name}: {}", cut_at_word(&value, 600)));
        }
    }
    if let Some(facts) = &call.post_call.contact_facts
        && let Some(notes) = facts.notes.as_deref().filter(|n| !n.trim().is_empty())
    {
        out.push_str(&format!("\n  learned: {}", cut_at_word(notes, 300)));
    }
    for todo in call.post_call.todos.iter().flatten() {
        out.push_str(&format!("\n  to-do: {todo}"));
    }
    out
}

fn direction(call: &Call) -> &'static str {
    match call.direction {
        crate::model::Direction::Inbound => "inbound",
        _ => "outbound",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_keyword_opts_out_or_in() {
        for word in [
            "STOP",
            "stop",
            " Quit\n",
            "StopAll",
            "unsubscribe",
            "cancel",
            "END",
        ] {
            assert_eq!(OptKeyword::parse(word), Some(OptKeyword::Out), "{word:?}");
        }
        for word in ["START", "unstop "] {
            assert_eq!(OptKeyword::parse(word), Some(OptKeyword::In), "{word:?}");
        }
        for text in ["stop calling me", "STOP.", "", "help", "restart"] {
            assert_eq!(OptKeyword::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn long_text_is_cut_between_words() {
        let text = "word ".repeat(400);
        let cut = cut_at_word(&text, MAX_REPLY_CHARS);
        assert!(cut.chars().count() <= MAX_REPLY_CHARS);
        assert!(cut.ends_with("word"), "{}", &cut[cut.len() - 10..]);
        assert_eq!(cut_at_word("  short  ", 10), "short");
        assert_eq!(cut_at_word("abc def", 5), "abc");
        assert_eq!(cut_at_word("abc def", 3), "abc");
        assert_eq!(cut_at_word("abcdefgh", 4), "abcd");
        // Characters, not bytes: emoji count once and are never split.
        let emoji = "😀 ".repeat(1000);
        let cut = cut_at_word(&emoji, MAX_REPLY_CHARS);
        assert!(cut.chars().count() <= MAX_REPLY_CHARS);
        assert!(cut.ends_with('😀'));
    }
}
