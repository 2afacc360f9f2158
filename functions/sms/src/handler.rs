//! `POST /twilio/sms`: check who is asking, find the number and the contact, answer the
//! text once, render TwiML.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hotline_core::E164;
use hotline_core::model::{Channel, Contact, Message, MessageDirection, Organization, PhoneNumber};
use hotline_core::outbox::TextSender;
use hotline_core::ports::{Calls, Contacts, Created, Directory, Messages, StoreError};
use hotline_core::routes;
use hotline_core::sms::OptKeyword;
use hotline_llm::{LlmError, OpenAiRest};
use hotline_twilio::MessagingResponse;
use hotline_webhook::{Verified, WebhookConfig, WebhookError, error_response, verify};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info, info_span, warn};

use crate::InboundSms;
use crate::{late, reply};

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: WebhookConfig,
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub contacts: Arc<dyn Contacts>,
    pub messages: Arc<dyn Messages>,
    pub llm: OpenAiRest,
    /// The chat model answering texts.
    pub model: String,
    /// How long whoever answers a text holds it before a retry may answer instead:
    /// longer than the LLM may take.
    pub claim: Duration,
    /// How long a retry waits for the answer being made by the first delivery.
    pub wait: Duration,
    /// How long the answer may take to go back in the TwiML; a later one is texted.
    pub reply_budget: Duration,
    /// Sends a late answer (Twilio's Messages API with the organization's account).
    pub texts: Arc<dyn TextSender>,
}

/// Why a text was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// Refused before the text was looked at, or the store failed.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The LLM did not answer; the claim is released so Twilio's retry may try again.
    #[error("llm: {0}")]
    Llm(#[from] LlmError),
    /// The answer came too late for the TwiML and could not be texted either.
    #[error("texting a late answer: {0}")]
    Late(hotline_core::outbox::OutboxError),
}

impl SmsError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Webhook(e) => e.status(),
            Self::Llm(_) | Self::Late(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl From<StoreError> for SmsError {
    fn from(e: StoreError) -> Self {
        Self::Webhook(WebhookError::Store(e))
    }
}

/// Answers one incoming text with TwiML: `<Response/>` when nothing is to be sent back,
/// else one `<Message>`; a clear 4xx when refused, 502/503 when the LLM or the store
/// failed.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "sms",
        message_sid = tracing::field::Empty,
        org = tracing::field::Empty,
    );
    match answer(deps, &req).instrument(span.clone()).await {
        Ok(twiml) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(Body::Text(twiml.render()))
            .unwrap_or_default(),
        Err(e) => error_response(&span, "sms", e.status(), &e),
    }
}

async fn answer(deps: &Deps, req: &Request) -> Result<MessagingResponse, SmsError> {
    let Verified { org, form } =
        verify(deps.directory.as_ref(), &deps.config, routes::SMS, req).await?;
    let text = InboundSms::from_form(&form).map_err(WebhookError::Malformed)?;
    let span = tracing::Span::current();
    span.record("message_sid", text.sid.as_str());
    span.record("org", org.id.as_str());

    // The organization is the number's: a number of another organization, or one
    // hotline does not route, gets no answer from this one.
    let number = match deps.directory.get_number(&text.to).await? {
        Some(n) if n.org == org.id => n,
        _ => {
            info!("text to a number this organization does not route; not answered");
            return Ok(MessagingResponse::empty());
        }
    };
    let Some(from) = text.from.clone() else {
        info!("text from a sender that is not a phone number; not answered");
        return Ok(MessagingResponse::empty());
    };
    // Opt-out words are honoured whatever the number's settings, and never answered:
    // Twilio answers them itself on long codes.
    if let Some(keyword) = OptKeyword::parse(&text.body) {
        let changed = record_opt(deps, &org, &from, keyword).await?;
        info!(?keyword, changed, "opt-out keyword recorded");
        return Ok(MessagingResponse::empty());
    }
    if !number.sms {
        info!("texts to this number are turned off");
        return Ok(match &number.sms_disabled_message {
            Some(m) => MessagingResponse::message(m.clone()),
            None => MessagingResponse::empty(),
        });
    }
    let contact = find_or_create_contact(deps, &org, &from).await?;
    let stored = claim(deps, &number, &from, &text).await?;
    let mut message = match stored {
        Claim::Answered(reply) => return Ok(respond(reply)),
        Claim::Busy => {
            return Ok(match wait_for_reply(deps, &org, &text).await? {
                Some(reply) => respond(reply),
                None => {
                    warn!("a retry found the text still being answered; nothing sent back");
                    MessagingResponse::empty()
                }
            });
        }
        Claim::Ours(message) => message,
    };
    if contact.sms_opted_out {
        // Twilio would refuse to deliver an answer; the text is kept, not answered.
        info!("text from an opted-out contact stored, not answered");
        return Ok(finish(deps, &mut message, String::new()).await?);
    }
    if text.body.trim().is_empty() && text.media == 0 {
        return Ok(finish(deps, &mut message, String::new()).await?);
    }
    let agent = deps
        .directory
        .get_agent(&org.id, number.texting_agent())
        .await?
        .filter(|a| a.enabled);
    let Some(agent) = agent else {
        warn!(agent = %number.texting_agent(), "the texting agent is missing or disabled; not answered");
        return Ok(finish(deps, &mut message, String::new()).await?);
    };
    let calls = reply::recent_calls(deps, &contact).await?;
    let thread = reply::thread(deps, &message).await?;
    let said = said(&text);
    let ask = reply::ask(deps, &agent, &contact, &calls, &thread, &said, Utc::now());
    tokio::pin!(ask);
    let in_time = tokio::select! {
        answer = &mut ask => Some(answer),
        () = tokio::time::sleep(deps.reply_budget) => None,
    };
    let Some(answer) = in_time else {
        // Twilio stops waiting at 15 s: the answer goes out as a text of its own.
        let answer = ask.await;
        return late::send(deps, &org, &number, &mut message, answer).await;
    };
    match answer {
        Ok(answer) => {
            info!(
                calls = calls.len(),
                texts = thread.len(),
                reply_chars = answer.chars().count(),
                "text answered"
            );
            Ok(finish(deps, &mut message, answer).await?)
        }
        Err(e) => {
            release(deps, message).await;
            Err(e.into())
        }
    }
}

/// The text as the LLM reads it: media it cannot see are named, not dropped silently.
fn said(text: &InboundSms) -> String {
    match (text.body.trim().is_empty(), text.media) {
        (_, 0) => text.body.clone(),
        (true, n) => format!("[sent {n} attachment(s) without text; you cannot see them]"),
        (false, n) => format!(
            "{}\n[with {n} attachment(s); you cannot see them]",
            text.body
        ),
    }
}

fn respond(reply: String) -> MessagingResponse {
    if reply.is_empty() {
        MessagingResponse::empty()
    } else {
        MessagingResponse::message(reply)
    }
}

/// Where this delivery of a text stands.
enum Claim {
    /// Answered before (a retry): the stored answer.
    Answered(String),
    /// Another delivery holds it and is answering now.
    Busy,
    /// This delivery answers it.
    Ours(Message),
}

/// Stores the text with a claim on answering it, or finds it stored. A claim that ran
/// out (its holder died) is taken over by a versioned write, so of two retries one wins.
async fn claim(
    deps: &Deps,
    number: &PhoneNumber,
    from: &E164,
    text: &InboundSms,
) -> Result<Claim, StoreError> {
    let now = Utc::now();
    let until = now + deps.claim;
    let message = Message {
        sid: text.sid.clone(),
        org: number.org.clone(),
        contact: from.clone(),
        channel: Channel::Sms,
        direction: MessageDirection::Inbound,
        number: number.number.clone(),
        body: text.body.clone(),
        media: text.media,
        at: now,
        agent: Some(number.texting_agent().clone()),
        claimed_until: Some(until),
        reply: None,
        replied_at: None,
        reply_texted: false,
        delivery: None,
        version: 0,
    };
    let stored = match deps.messages.create_message(&message).await? {
        Created::New(m) => return Ok(Claim::Ours(m)),
        Created::Existing(m) => m,
    };
    if let Some(reply) = stored.reply {
        // An answer texted separately is not sent a second time in TwiML.
        return Ok(Claim::Answered(if stored.reply_texted {
            String::new()
        } else {
            reply
        }));
    }
    if stored.claimed_until.is_some_and(|t| t > now) {
        return Ok(Claim::Busy);
    }
    let taken = Message {
        claimed_until: Some(until),
        ..stored
    };
    match deps.messages.update_message(&taken).await {
        Ok(m) => Ok(Claim::Ours(m)),
        Err(StoreError::Conflict(_)) => Ok(Claim::Busy),
        Err(e) => Err(e),
    }
}

/// Polls for the answer another delivery is making, up to `deps.wait`.
async fn wait_for_reply(
    deps: &Deps,
    org: &Organization,
    text: &InboundSms,
) -> Result<Option<String>, StoreError> {
    let deadline = tokio::time::Instant::now() + deps.wait;
    loop {
        let stored = deps.messages.get_message(&org.id, &text.sid).await?;
        if let Some(m) = stored.filter(|m| m.reply.is_some()) {
            return Ok(Some(if m.reply_texted {
                String::new()
            } else {
                m.reply.unwrap_or_default()
            }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stores the answer on the text and returns what to send back. If another delivery
/// took the claim over and answered first, its answer is the one sent.
async fn finish(
    deps: &Deps,
    message: &mut Message,
    answer: String,
) -> Result<MessagingResponse, StoreError> {
    message.reply = Some(answer.clone());
    message.replied_at = Some(Utc::now());
    message.claimed_until = None;
    match deps.messages.update_message(message).await {
        Ok(_) => Ok(respond(answer)),
        Err(StoreError::Conflict(_)) => {
            let stored = deps
                .messages
                .get_message(&message.org, &message.sid)
                .await?;
            Ok(respond(stored.and_then(|m| m.reply).unwrap_or(answer)))
        }
        Err(e) => Err(e),
    }
}

/// Gives up the claim after a failure, so Twilio's retry may answer at once. Best
/// effort: if it fails, the claim runs out by itself.
pub(crate) async fn release(deps: &Deps, message: Message) {
    let released = Message {
        claimed_until: None,
        ..message
    };
    if let Err(e) = deps.messages.update_message(&released).await {
        warn!(error = %e, "could not release the claim on a text");
    }
}

async fn find_or_create_contact(
    deps: &Deps,
    org: &Organization,
    phone: &E164,
) -> Result<Contact, StoreError> {
    if let Some(c) = deps.contacts.get_contact(&org.id, phone).await? {
        return Ok(c);
    }
    let created = deps
        .contacts
        .create_contact(&Contact::new(org.id.clone(), phone.clone(), Utc::now()))
        .await?;
    Ok(created.into_inner())
}

/// Applies an opt-out or opt-in word to the contact (created if new), by versioned
/// read-modify-write. Whether anything changed.
async fn record_opt(
    deps: &Deps,
    org: &Organization,
    phone: &E164,
    keyword: OptKeyword,
) -> Result<bool, StoreError> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let mut contact = find_or_create_contact(deps, org, phone).await?;
        if !keyword.apply(&mut contact) {
            return Ok(false);
        }
        match deps.contacts.update_contact(&contact).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}
