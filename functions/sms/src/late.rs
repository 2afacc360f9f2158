//! An answer that misses the reply budget: Twilio stops waiting for the TwiML at 15 s,
//! so the answer goes out as a text of its own through the Messages API, by the same
//! path as every text hotline sends (`hotline_core::outbox`: opt-out, split, stored).
//!
//! Why the handler waits rather than queueing: a Lambda cannot keep working after it has
//! answered, and a queue would mean a second consumer of the post-call queue holding the
//! SMS prompt logic and a second LLM request for an answer already under way. The
//! function's timeout (40 s in the template) bounds the wait instead; API Gateway answers
//! Twilio at its 15 s integration timeout meanwhile (Twilio does not retry a messaging
//! webhook), and the text is answered once: the answer is stored on it as texted, so a
//! later delivery of the same `MessageSid` gets an empty `<Response/>`.

use chrono::Utc;
use hotline_core::model::{Message, Organization, PhoneNumber};
use hotline_core::outbox::{Outbox, OutboxError};
use hotline_core::ports::StoreError;
use hotline_core::routes;
use hotline_llm::LlmError;
use hotline_twilio::MessagingResponse;
use tracing::{info, warn};

use crate::Deps;
use crate::handler::{SmsError, release};

/// Texts `answer` (when there is one) to the person and records it on `message`.
pub async fn send(
    deps: &Deps,
    org: &Organization,
    number: &PhoneNumber,
    message: &mut Message,
    answer: Result<String, LlmError>,
) -> Result<MessagingResponse, SmsError> {
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            release(deps, message.clone()).await;
            return Err(e.into());
        }
    };
    if !answer.is_empty() {
        let outbox = Outbox {
            directory: deps.directory.as_ref(),
            contacts: deps.contacts.as_ref(),
            messages: deps.messages.as_ref(),
            sender: deps.texts.as_ref(),
            status_callback: Some(format!("{}{}", deps.config.public_url, routes::SMS_STATUS)),
        };
        match outbox
            .send(
                org,
                Some(&number.number),
                &message.contact,
                &answer,
                Utc::now(),
            )
            .await
        {
            Ok(sent) => info!(parts = sent.len(), "a late answer was texted"),
            // The person opted out while the answer was being made: nothing is sent.
            Err(OutboxError::OptedOut(_)) => info!("a late answer not texted: opted out"),
            Err(e @ OutboxError::Send { sent: 1.., .. }) => {
                warn!(error = %e, "a late answer was texted in part");
            }
            Err(e) => {
                release(deps, message.clone()).await;
                return Err(SmsError::Late(e));
            }
        }
    }
    message.reply = Some(answer);
    message.reply_texted = true;
    message.replied_at = Some(Utc::now());
    message.claimed_until = None;
    match deps.messages.update_message(message).await {
        Ok(_) => {}
        // Another delivery took the claim over meanwhile; the answer is sent either way.
        Err(StoreError::Conflict(_)) => warn!("the late answer's text was changed meanwhile"),
        Err(e) => return Err(e.into()),
    }
    Ok(MessagingResponse::empty())
}
