//! Outbound calls: `POST /api/v1/calls` places one (through `hotline_core::dial`, the
//! use case a campaign dialer shares), `POST /api/v1/calls/{sid}/end` hangs one up.
//! Listing the live ones is `GET /api/v1/calls?status=in-progress` (calls.rs).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use hotline_core::dial::{
    CallPlacer, DialError, DialPorts, DialRequest, DialUrls, PlaceError, place_call,
};
use hotline_core::{AgentId, CallSid, E164};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::{Deps, json};

/// The request header that makes a create idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// An outbound call to place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialBody {
    /// The number to call, E.164.
    pub to: String,
    /// The agent that talks.
    pub agent: String,
    /// One of the organization's numbers; default the first enabled one routed to the
    /// agent, else the first enabled one.
    #[serde(default)]
    pub from: Option<String>,
    /// Fill the agent's `{{name}}` placeholders (instructions, greeting, voicemail
    /// message): strings, numbers or booleans. A placeholder without a value is 422.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Twilio's answering-machine detection (default true): the agent stays silent until
    /// Twilio says a person answered; a machine gets the agent's voicemail message after
    /// the beep.
    #[serde(default)]
    pub machine_detection: Option<bool>,
}

/// A placed call.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialOut {
    /// Twilio's CallSid: `GET /api/v1/calls/{sid}` follows it.
    pub sid: String,
    /// hotline's id for what was asked.
    pub dial: String,
    pub to: String,
    pub from: String,
    pub agent: String,
    pub direction: String,
    pub status: String,
    pub machine_detection: bool,
}

/// The call placer the API uses: Twilio's Calls API at `TWILIO_API_BASE_URL`.
pub fn twilio_placer(setup: &crate::TwilioSetup) -> Arc<dyn CallPlacer> {
    Arc::new(hotline_twilio::calls::TwilioCalls(setup.client.clone()))
}

fn variables(
    raw: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    raw.into_iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "variables.{}: a string, number or boolean",
                        k.chars().take(64).collect::<String>()
                    )));
                }
            };
            Ok((k, value))
        })
        .collect()
}

fn refusal(e: DialError) -> ApiError {
    match e {
        DialError::Invalid(_)
        | DialError::UnknownAgent(_)
        | DialError::NotOurNumber(_)
        | DialError::NoNumber
        | DialError::Refused(_) => ApiError::BadRequest(e.to_string()),
        DialError::MissingVariables(_) | DialError::KeyReused => {
            ApiError::Unprocessable(e.to_string())
        }
        DialError::AgentDisabled(_) | DialError::InProgress => ApiError::Conflict(e.to_string()),
        DialError::Unavailable(_) => ApiError::Upstream(e.to_string()),
        DialError::Store(s) => s.into(),
    }
}

/// Places one outbound call.
#[utoipa::path(post, path = "/api/v1/calls", operation_id = "placeCall", tag = "calls",
    security(("bearer" = [])),
    request_body = DialBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "The same key places one call, whatever the retries: a repeat gets the first answer (Idempotent-Replayed: true)")),
    responses(
        (status = 201, body = DialOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The agent is disabled, or the same key is still being placed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A template variable is missing, or the key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: DialBody = json_body(req)?;
    let to = E164::parse(body.to.trim()).map_err(|e| ApiError::BadRequest(format!("to: {e}")))?;
    let agent = AgentId::parse(body.agent.trim())
        .map_err(|e| ApiError::BadRequest(format!("agent: {e}")))?;
    let from = body
        .from
        .as_deref()
        .map(|f| E164::parse(f.trim()).map_err(|e| ApiError::BadRequest(format!("from: {e}"))))
        .transpose()?;
    let idempotency_key = match req.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key: printable ASCII".into()))?
                .to_owned(),
        ),
    };
    let request = DialRequest {
        to,
        agent,
        from,
        variables: variables(body.variables)?,
        machine_detection: body.machine_detection.unwrap_or(true),
        idempotency_key,
        lead: None,
    };
    let base = deps.twilio.public_url.clone().ok_or_else(|| {
        ApiError::Unconfigured(
            "HOTLINE_PUBLIC_URL is not set, so Twilio could not reach the call's webhooks".into(),
        )
    })?;
    let org = deps
        .directory
        .get_org(&caller.org)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's organization is missing".into()))?;
    let ports = DialPorts {
        directory: deps.directory.as_ref(),
        calls: deps.calls.as_ref(),
        contacts: deps.contacts.as_ref(),
        dials: deps.dials.as_ref(),
        placer: deps.placer.as_ref(),
    };
    let placed = place_call(&ports, &org, &request, &DialUrls { base }, Utc::now())
        .await
        .map_err(refusal)?;
    if !placed.replayed {
        crate::audit::record(
            deps,
            caller,
            "call.place",
            &format!("call {}", placed.call.sid),
            None,
            Some(serde_json::json!({
                "to": placed.dial.to, "agent": placed.dial.agent,
                "from": placed.dial.from, "dial": placed.dial.id,
            })),
        )
        .await;
    }
    let out = DialOut {
        sid: placed.call.sid.to_string(),
        dial: placed.dial.id.clone(),
        to: placed.dial.to.to_string(),
        from: placed.dial.from.to_string(),
        agent: placed.dial.agent.to_string(),
        direction: "outbound-api".into(),
        status: serde_json::to_value(placed.call.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        machine_detection: placed.dial.machine_detection,
    };
    let mut resp = json(StatusCode::CREATED, &out);
    if placed.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Hangs up one of the organization's calls (or cancels it while it rings).
#[utoipa::path(post, path = "/api/v1/calls/{sid}/end", operation_id = "endCall", tag = "calls",
    security(("bearer" = [])),
    params(("sid" = String, Path, description = "Twilio's CallSid")),
    responses(
        (status = 202, description = "Twilio was told to end the call; its status callback records the end"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call is already over", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn end(deps: &Deps, caller: &Caller, sid: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let not_found =
        || ApiError::NotFound(format!("call {}", sid.chars().take(64).collect::<String>()));
    let sid = CallSid::parse(sid).map_err(|_| not_found())?;
    let call = deps
        .calls
        .get_call(&sid)
        .await?
        .filter(|c| c.org == caller.org)
        .ok_or_else(not_found)?;
    if call.status.is_terminal() {
        return Err(ApiError::Conflict(format!("call {sid} is already over")));
    }
    let org = deps
        .directory
        .get_org(&caller.org)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's organization is missing".into()))?;
    match deps.placer.hang_up(&org, &sid).await {
        Ok(()) => {}
        Err(PlaceError::NotFound) => return Err(not_found()),
        Err(PlaceError::Rejected(why)) => {
            return Err(ApiError::Conflict(format!("Twilio refused: {why}")));
        }
        Err(PlaceError::Unavailable(why)) => return Err(ApiError::Upstream(why)),
    }
    info!(call_sid = %sid, "call ended through the API");
    crate::audit::record(deps, caller, "call.end", &format!("call {sid}"), None, None).await;
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "sid": sid, "ending": true }),
    ))
}
