//! Asking the agent's LLM for the answer to one text, with the contact's history.

use chrono::{DateTime, Utc};
use hotline_core::model::{Agent, Call, Channel, Contact, Message};
use hotline_core::ports::StoreResult;
use hotline_core::sms::{self, HISTORY_CALLS, HISTORY_TEXTS, MAX_REPLY_CHARS};
use hotline_llm::{LlmError, TextRequest};

use crate::Deps;

/// How many of the organization's newest calls are searched for the contact's. There
/// is no per-contact call index yet; a contact whose calls are older than this many of
/// the organization's is answered without them.
const CALLS_SEARCHED: usize = 100;
/// Bound on the answer's tokens: more than 1,500 characters' worth, so a long answer is
/// cut at a word by hotline rather than mid-sentence by the model.
const MAX_TOKENS: u32 = 600;

/// The contact's recent calls with the organization, newest first.
pub async fn recent_calls(deps: &Deps, contact: &Contact) -> StoreResult<Vec<Call>> {
    let phone = contact.phone.as_str();
    Ok(deps
        .calls
        .list_calls(&contact.org, CALLS_SEARCHED)
        .await?
        .into_iter()
        .filter(|c| {
            c.contact.as_ref() == Some(&contact.phone)
                || c.from.as_str() == phone
                || c.to.as_str() == phone
        })
        .take(HISTORY_CALLS)
        .collect())
}

/// The contact's earlier texts, newest first, without `current`.
pub async fn thread(deps: &Deps, current: &Message) -> StoreResult<Vec<Message>> {
    Ok(deps
        .messages
        .conversation(
            &current.org,
            &current.contact,
            Channel::Sms,
            HISTORY_TEXTS + 1,
        )
        .await?
        .into_iter()
        .filter(|m| m.sid != current.sid)
        .take(HISTORY_TEXTS)
        .collect())
}

/// What the agent answers `text`, cut to one `<Message>`.
pub async fn ask(
    deps: &Deps,
    agent: &Agent,
    contact: &Contact,
    calls: &[Call],
    thread: &[Message],
    text: &str,
    now: DateTime<Utc>,
) -> Result<String, LlmError> {
    let prompt = sms::prompt(&agent.instructions, contact, calls, thread, text, now);
    let answer = deps
        .llm
        .text(&TextRequest {
            model: deps.model.clone(),
            system: prompt.system,
            messages: prompt
                .turns
                .into_iter()
                .map(|(role, content)| (role.to_owned(), content))
                .collect(),
            max_tokens: MAX_TOKENS,
        })
        .await?;
    Ok(sms::cut_at_word(&answer, MAX_REPLY_CHARS))
}
