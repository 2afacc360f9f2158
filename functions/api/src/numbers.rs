//! `/api/v1/numbers`: the organization's phone numbers, one in full, and changing who
//! answers it (buying and releasing: `provisioning`).

use hotline_core::AgentId;
use hotline_core::model::PhoneNumber;
use hotline_core::ports::StoreError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::organization::nullable;
use crate::problem::{ApiError, Problem};
use crate::provisioning::path_number;
use crate::views::{AnalyzerBody, NumberList, NumberOut};
use crate::{Deps, audit, json};

/// Longest disabled message: one TwiML `<Message>` answer, as hotline.yaml allows.
const MAX_SMS_CHARS: usize = hotline_core::sms::MAX_REPLY_CHARS;

/// The organization's numbers and the agent each one rings.
#[utoipa::path(get, path = "/api/v1/numbers", operation_id = "listNumbers", tag = "numbers",
    security(("bearer" = [])),
    responses(
        (status = 200, body = NumberList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let numbers = deps
        .directory
        .list_numbers(&caller.org)
        .await?
        .into_iter()
        .filter(|n| n.org == caller.org)
        .map(|n| NumberOut {
            number: n.number.to_string(),
            agent: n.agent.to_string(),
            enabled: n.enabled,
            analyzers: n.analyzers.iter().map(|a| a.name.clone()).collect(),
        })
        .collect();
    Ok(json(StatusCode::OK, &NumberList { numbers }))
}

/// One number in full: who answers its calls and texts, and the analyzers of its own.
#[derive(Serialize, ToSchema)]
pub struct NumberDetail {
    pub number: String,
    pub agent: String,
    pub enabled: bool,
    /// Whether texts to it are answered.
    pub sms: bool,
    /// The agent that answers texts; `null`: the number's agent.
    pub sms_agent: Option<String>,
    /// Sent back to a text when `sms` is off; `null` answers nothing.
    pub sms_disabled_message: Option<String>,
    /// Run on its calls beside its agent's.
    pub analyzers: Vec<AnalyzerBody>,
    pub version: u64,
}

/// The fields to change; absent ones stay, `null` clears `sms_agent` or
/// `sms_disabled_message`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberPatch {
    pub agent: Option<String>,
    pub enabled: Option<bool>,
    pub sms: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sms_agent: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub sms_disabled_message: Option<Option<String>>,
    /// The version read: another one is a 409.
    pub version: Option<u64>,
}

fn detail(n: &PhoneNumber) -> NumberDetail {
    NumberDetail {
        number: n.number.to_string(),
        agent: n.agent.to_string(),
        enabled: n.enabled,
        sms: n.sms,
        sms_agent: n.sms_agent.as_ref().map(ToString::to_string),
        sms_disabled_message: n.sms_disabled_message.clone(),
        analyzers: n.analyzers.iter().map(crate::analyzers::body).collect(),
        version: n.version,
    }
}

async fn own_number(deps: &Deps, caller: &Caller, raw: &str) -> Result<PhoneNumber, ApiError> {
    let number = path_number(raw)?;
    deps.directory
        .get_number(&number)
        .await?
        .filter(|n| n.org == caller.org)
        .ok_or_else(|| ApiError::NotFound(format!("number {number}")))
}

/// One of the organization's numbers.
#[utoipa::path(get, path = "/api/v1/numbers/{e164}", operation_id = "getNumber", tag = "numbers",
    security(("bearer" = []), ("session" = [])),
    params(("e164" = String, Path, description = "The number, E.164 (`+` may be sent as `%2B`)")),
    responses(
        (status = 200, body = NumberDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, raw: &str) -> Result<Response<Body>, ApiError> {
    let n = own_number(deps, caller, raw).await?;
    Ok(json(StatusCode::OK, &detail(&n)))
}

/// The organization's agent named in `field`, or a 400.
async fn agent(deps: &Deps, caller: &Caller, field: &str, id: &str) -> Result<AgentId, ApiError> {
    let id = AgentId::parse(id).map_err(|e| ApiError::BadRequest(format!("{field}: {e}")))?;
    deps.directory
        .get_agent(&caller.org, &id)
        .await?
        .filter(|a| a.org == caller.org)
        .map(|a| a.id)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{field}: this organization has no agent {id}"))
        })
}

/// Routes a number to another agent, turns it or its texts on or off, sets who answers
/// texts and what a text gets when they are off. Twilio's side (webhooks) is unchanged.
#[utoipa::path(patch, path = "/api/v1/numbers/{e164}", operation_id = "patchNumber", tag = "numbers",
    security(("bearer" = []), ("session" = [])),
    params(("e164" = String, Path, description = "The number, E.164 (`+` may be sent as `%2B`)")),
    request_body = NumberPatch,
    responses(
        (status = 200, body = NumberDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the stored one", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    deps: &Deps,
    caller: &Caller,
    raw: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let patch: NumberPatch = json_body(req)?;
    let mut n = own_number(deps, caller, raw).await?;
    if patch.version.is_some_and(|v| v != n.version) {
        return Err(StoreError::Conflict(format!("number {}", n.number)).into());
    }
    let before = detail(&n);
    if let Some(id) = &patch.agent {
        n.agent = agent(deps, caller, "agent", id).await?;
    }
    if let Some(sms_agent) = &patch.sms_agent {
        n.sms_agent = match sms_agent {
            Some(id) => Some(agent(deps, caller, "sms_agent", id).await?),
            None => None,
        };
    }
    if let Some(message) = patch.sms_disabled_message {
        if let Some(m) = &message
            && (m.trim().is_empty() || m.chars().count() > MAX_SMS_CHARS)
        {
            return Err(ApiError::BadRequest(format!(
                "sms_disabled_message: 1 to {MAX_SMS_CHARS} characters"
            )));
        }
        n.sms_disabled_message = message;
    }
    if let Some(enabled) = patch.enabled {
        n.enabled = enabled;
    }
    if let Some(sms) = patch.sms {
        n.sms = sms;
    }
    let written = deps.directory.update_number(&n).await?;
    let after = detail(&written);
    audit::record(
        deps,
        caller,
        "number.update",
        &format!("number {}", written.number),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    )
    .await;
    Ok(json(StatusCode::OK, &after))
}
