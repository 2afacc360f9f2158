//! The built-in `send_sms` tool: the model texts the caller while talking (a link, an
//! address, a confirmation), from the number they called, through the one sending path
//! every text takes (`hotline_core::outbox`: opt-out refused, split at 1,600 characters,
//! stored in the caller's SMS conversation). The outcome goes back to the model as the
//! tool's output; the body is the caller's data and is never logged.

use chrono::Utc;
use hotline_core::E164;
use hotline_core::model::{Call, Direction, Organization, ToolKind, ToolSpec};
use hotline_core::outbox::{Outbox, OutboxError};
use hotline_twilio::messages::TwilioTexts;
use serde_json::json;
use tracing::{info, warn};

use crate::CallContext;
use crate::memory::caller_phone;

/// The names the agent's `send_sms` tools go by.
pub fn names(tools: &[ToolSpec]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| matches!(t.kind, ToolKind::SendSms))
        .map(|t| t.name.clone())
        .collect()
}

/// Texts the caller `arguments.body`; the JSON output the model reads.
pub async fn run(ctx: &CallContext, org: &Organization, record: &Call, arguments: &str) -> String {
    match send(ctx, org, record, arguments).await {
        Ok(parts) => {
            info!(parts, "send_sms: texted the caller");
            json!({"ok": true, "sent": true, "parts": parts}).to_string()
        }
        Err(why) => {
            info!(reason = %why, "send_sms: not sent");
            json!({"ok": false, "error": why}).to_string()
        }
    }
}

async fn send(
    ctx: &CallContext,
    org: &Organization,
    record: &Call,
    arguments: &str,
) -> Result<usize, String> {
    let body = serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| v.get("body").and_then(|b| b.as_str()).map(str::to_owned))
        .filter(|b| !b.trim().is_empty())
        .ok_or("give the text to send as {\"body\": \"…\"}")?;
    let Some(memory) = &ctx.memory else {
        return Err("texting is not available on this line".into());
    };
    let to =
        caller_phone(record).ok_or("the caller's number is unknown, so they cannot be texted")?;
    let from = our_number(record).ok_or("this call has no number of ours to text from")?;
    let sender = TwilioTexts(ctx.twilio.clone());
    let outbox = Outbox {
        directory: ctx.directory.as_ref(),
        contacts: memory.contacts.as_ref(),
        messages: memory.messages.as_ref(),
        sender: &sender,
        status_callback: memory.status_callback.clone(),
    };
    match outbox.send(org, Some(&from), &to, &body, Utc::now()).await {
        Ok(sent) => Ok(sent.len()),
        Err(e @ OutboxError::OptedOut(_)) => Err(format!(
            "{e}: the caller asked not to be texted; offer to tell them instead"
        )),
        Err(e @ (OutboxError::Store(_) | OutboxError::Send { .. })) => {
            warn!(error = %e, "send_sms failed");
            Err("the text could not be sent just now".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The organization's number on the call: the one called, or the one calling out.
fn our_number(call: &Call) -> Option<E164> {
    match call.direction {
        Direction::Inbound => call.to.phone().cloned(),
        _ => call.from.phone().cloned(),
    }
}
