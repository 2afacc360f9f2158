//! `POST /api/v1/messages`: text a person from one of the organization's numbers,
//! through the one sending path every sender shares (`hotline_core::outbox`).

use chrono::Utc;
use hotline_core::E164;
use hotline_core::model::Message;
use hotline_core::outbox::{Outbox, OutboxError, SendError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::{Deps, json};

/// Longest text taken, in characters: ten messages' worth.
const MAX_TEXT_CHARS: usize = 16_000;

/// A text to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The person's number, E.164.
    pub to: String,
    /// The text; over 1,600 characters it is sent as numbered parts cut between words.
    pub body: String,
    /// One of the organization's numbers with texts on; default the first one.
    #[serde(default)]
    pub from: Option<String>,
}

/// One message as sent (a long text is several).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    /// Twilio's `SM…` SID.
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    /// `queued`, `sending`, `sent`, `delivered`, `undelivered` or `failed`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesSent {
    pub messages: Vec<MessageOut>,
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> Self {
        Self {
            sid: m.sid.to_string(),
            to: m.contact.to_string(),
            from: m.number.to_string(),
            body: m.body,
            status: m.delivery.map_or("queued", |d| d.as_str()).to_owned(),
        }
    }
}

/// Texts a person. Refused (409) when they opted out with STOP.
#[utoipa::path(post, path = "/api/v1/messages", operation_id = "sendMessage", tag = "messages",
    security(("bearer" = [])),
    request_body = SendMessage,
    responses(
        (status = 201, body = MessagesSent),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person opted out of texts", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let write: SendMessage = json_body(req)?;
    let to = E164::parse(write.to.trim()).map_err(|e| ApiError::BadRequest(format!("to: {e}")))?;
    let from = write
        .from
        .as_deref()
        .map(|f| E164::parse(f.trim()).map_err(|e| ApiError::BadRequest(format!("from: {e}"))))
        .transpose()?;
    if write.body.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "body: at most {MAX_TEXT_CHARS} characters"
        )));
    }
    let org = deps
        .directory
        .get_org(&caller.org)
        .await?
        .ok_or_else(|| ApiError::Internal("the API key's organization is missing".into()))?;
    let outbox = Outbox {
        directory: deps.directory.as_ref(),
        contacts: deps.contacts.as_ref(),
        messages: deps.messages.as_ref(),
        sender: deps.texts.as_ref(),
        status_callback: deps.status_callback.clone(),
    };
    let sent = outbox
        .send(&org, from.as_ref(), &to, &write.body, Utc::now())
        .await
        .map_err(refusal)?;
    info!(parts = sent.len(), "text sent");
    // Who texted whom and in how many parts; never the body.
    crate::audit::record(
        deps,
        caller,
        "message.send",
        &format!("text to {to}"),
        None,
        Some(serde_json::json!({ "parts": sent.len() })),
    )
    .await;
    let messages = sent.into_iter().map(MessageOut::from).collect();
    Ok(json(StatusCode::CREATED, &MessagesSent { messages }))
}

fn refusal(e: OutboxError) -> ApiError {
    match e {
        OutboxError::Invalid(_) | OutboxError::NotOurNumber(_) | OutboxError::NoSmsNumber => {
            ApiError::BadRequest(e.to_string())
        }
        OutboxError::OptedOut(_) => ApiError::Conflict(e.to_string()),
        OutboxError::Send {
            error: SendError::Rejected(_),
            sent: 0,
            ..
        } => ApiError::BadRequest(e.to_string()),
        OutboxError::Send { .. } => ApiError::Upstream(e.to_string()),
        OutboxError::Store(s) => s.into(),
    }
}
