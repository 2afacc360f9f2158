//! `/api/v1/agents`: read and replace the organization's agents.

use hotline_core::AgentId;
use hotline_core::model::Agent;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::views::{AgentList, AgentOut, AgentWrite};
use crate::{Deps, json};

/// Largest agent body taken: instructions are long, but not this long.
const MAX_BODY: usize = 256 * 1024;

pub(crate) fn view(agent: &Agent) -> Result<AgentOut, ApiError> {
    let mut value = hotline_config::agent_json(agent);
    value["version"] = agent.version.into();
    serde_json::from_value(value).map_err(|e| ApiError::Internal(format!("agent view: {e}")))
}

fn agent_id(id: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(id).map_err(|_| {
        ApiError::NotFound(format!("agent {}", id.chars().take(64).collect::<String>()))
    })
}

/// The organization's agents.
#[utoipa::path(get, path = "/api/v1/agents", operation_id = "listAgents", tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AgentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let agents = deps
        .directory
        .list_agents(&caller.org)
        .await?
        .iter()
        .filter(|a| a.org == caller.org)
        .map(view)
        .collect::<Result<_, _>>()?;
    Ok(json(StatusCode::OK, &AgentList { agents }))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", operation_id = "getAgent", tag = "agents",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        (status = 200, body = AgentOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    let id = agent_id(id)?;
    let agent = deps
        .directory
        .get_agent(&caller.org, &id)
        .await?
        .filter(|a| a.org == caller.org)
        .ok_or_else(|| ApiError::NotFound(format!("agent {id}")))?;
    Ok(json(StatusCode::OK, &view(&agent)?))
}

/// Replaces an agent (or creates it, with `version` 0), checked as `hotline apply`
/// checks the configuration file.
#[utoipa::path(put, path = "/api/v1/agents/{id}", operation_id = "putAgent", tag = "agents",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    request_body = AgentWrite,
    responses(
        (status = 200, description = "Replaced", body = AgentOut),
        (status = 201, description = "Created", body = AgentOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the stored one", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let id = agent_id(id)?;
    let write: AgentWrite = json_body(req)?;
    let mut value = serde_json::to_value(&write).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("version");
        fields.insert("id".into(), id.as_str().into());
    }
    let mut agent = hotline_config::agent_from_json(&caller.org, value).map_err(|problems| {
        ApiError::BadRequest(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    agent.version = write.version;
    let stored = deps.directory.get_agent(&caller.org, &id).await?;
    let created = match (&stored, write.version) {
        (None, 0) => true,
        (None, _) => return Err(ApiError::NotFound(format!("agent {id}"))),
        (Some(_), 0) => {
            return Err(ApiError::Conflict(format!(
                "agent {id} exists: send the version you read"
            )));
        }
        (Some(_), _) => false,
    };
    let written = deps.directory.update_agent(&agent).await?;
    let after = view(&written)?;
    let before = stored.as_ref().map(view).transpose()?;
    crate::audit::record(
        deps,
        caller,
        if created {
            "agent.create"
        } else {
            "agent.update"
        },
        &format!("agent {id}"),
        before.and_then(|b| serde_json::to_value(b).ok()),
        serde_json::to_value(&after).ok(),
    )
    .await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &after))
}

/// The request's JSON body as `T`; 415 unless it says it is JSON, 400 when it is not
/// `T` (unknown fields included).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::Unsupported(
            "send the body as application/json".into(),
        ));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!("body over {MAX_BODY} bytes")));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}
