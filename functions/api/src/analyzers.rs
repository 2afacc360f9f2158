//! `/api/v1/analyzers`: the organization's default analyzers, the library a number
//! bought through the API starts with (its calls run them beside its agent's). Each is
//! read and written by name; `PATCH /api/v1/organization` replaces them all at once and
//! `analyzers` in hotline.yaml declares them (a file without it keeps these).
//!
//! Writes go over the organization's version: one never undoes another it has not seen
//! (a pinned `version` that is stale is a 409; without one, a concurrent write is read
//! again and the change reapplied).

use hotline_core::model::{Analyzer, Organization};
use hotline_core::ports::StoreError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::views::AnalyzerBody;
use crate::{Deps, audit, json, no_content};

/// Tries before an organization that keeps changing is given up on (503).
const ATTEMPTS: u32 = 6;

/// One default analyzer, and where else its name is in use.
#[derive(Serialize, ToSchema)]
pub struct AnalyzerOut {
    pub name: String,
    pub prompt: String,
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// Agents with an analyzer of this name (theirs runs on their calls, not this one).
    pub agents: Vec<String>,
    /// Numbers that run this analyzer on their calls.
    pub numbers: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AnalyzerList {
    pub analyzers: Vec<AnalyzerOut>,
    /// The organization's version: send it back with a write to make it only over this.
    pub version: u64,
}

/// A default analyzer's prompt and the JSON Schema its answer must match.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzerPut {
    pub prompt: String,
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// The organization's version read (`GET /api/v1/analyzers`); another one is a 409.
    pub version: Option<u64>,
}

pub(crate) fn body(a: &Analyzer) -> AnalyzerBody {
    AnalyzerBody {
        name: a.name.clone(),
        prompt: a.prompt.clone(),
        schema: a.schema.clone(),
    }
}

pub(crate) fn from_body(a: AnalyzerBody) -> Analyzer {
    Analyzer {
        name: a.name,
        prompt: a.prompt,
        schema: a.schema,
    }
}

/// The analyzers checked as the configuration file checks them, or a 400 naming each
/// problem with its place (`analyzers[1].schema: …`).
pub(crate) fn check(analyzers: &[Analyzer], field: &str) -> Result<(), ApiError> {
    let problems = hotline_config::check_analyzers(analyzers);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::BadRequest(
        problems
            .iter()
            .map(|p| {
                format!(
                    "{field}{}: {}",
                    p.path.trim_start_matches("analyzers"),
                    p.message
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

async fn views(
    deps: &Deps,
    caller: &Caller,
    org: &Organization,
) -> Result<Vec<AnalyzerOut>, ApiError> {
    let agents = deps.directory.list_agents(&caller.org).await?;
    let numbers = deps.directory.list_numbers(&caller.org).await?;
    Ok(org
        .settings
        .default_analyzers
        .iter()
        .map(|a| AnalyzerOut {
            name: a.name.clone(),
            prompt: a.prompt.clone(),
            schema: a.schema.clone(),
            agents: agents
                .iter()
                .filter(|g| g.org == caller.org && g.analyzers.iter().any(|x| x.name == a.name))
                .map(|g| g.id.to_string())
                .collect(),
            numbers: numbers
                .iter()
                .filter(|n| n.org == caller.org && n.analyzers.iter().any(|x| x.name == a.name))
                .map(|n| n.number.to_string())
                .collect(),
        })
        .collect())
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "analyzer {}",
        name.chars().take(64).collect::<String>()
    ))
}

/// The organization's default analyzers.
#[utoipa::path(get, path = "/api/v1/analyzers", operation_id = "listAnalyzers", tag = "analyzers",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = AnalyzerList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let org = crate::organization::load(deps, caller).await?;
    let analyzers = views(deps, caller, &org).await?;
    Ok(json(
        StatusCode::OK,
        &AnalyzerList {
            analyzers,
            version: org.version,
        },
    ))
}

/// One default analyzer.
#[utoipa::path(get, path = "/api/v1/analyzers/{name}", operation_id = "getAnalyzer", tag = "analyzers",
    security(("bearer" = []), ("session" = [])),
    params(("name" = String, Path, description = "The analyzer's name")),
    responses(
        (status = 200, body = AnalyzerOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, name: &str) -> Result<Response<Body>, ApiError> {
    let org = crate::organization::load(deps, caller).await?;
    views(deps, caller, &org)
        .await?
        .into_iter()
        .find(|a| a.name == name)
        .map(|a| json(StatusCode::OK, &a))
        .ok_or_else(|| not_found(name))
}

/// Writes `change` over the organization's default analyzers (from a fresh read when a
/// concurrent write got there first, unless `pinned`), with an audit entry. The change
/// answers what it did, or an error that writes nothing.
async fn modify<T>(
    deps: &Deps,
    caller: &Caller,
    pinned: Option<u64>,
    change: impl Fn(&mut Vec<Analyzer>) -> Result<T, ApiError>,
    audit_as: impl Fn(&T) -> (&'static str, String),
) -> Result<(Organization, T), ApiError> {
    for attempt in 1..=ATTEMPTS {
        let mut org = crate::organization::load(deps, caller).await?;
        if pinned.is_some_and(|v| v != org.version) {
            return Err(StoreError::Conflict(format!("organization {}", org.id)).into());
        }
        let before = org.settings.default_analyzers.clone();
        let done = change(&mut org.settings.default_analyzers)?;
        match deps.directory.update_org(&org).await {
            Err(StoreError::Conflict(_)) if pinned.is_none() && attempt < ATTEMPTS => continue,
            written => {
                let written = written?;
                let (action, target) = audit_as(&done);
                let named = |list: &[Analyzer]| {
                    serde_json::to_value(list.iter().map(body).collect::<Vec<_>>()).ok()
                };
                audit::record(
                    deps,
                    caller,
                    action,
                    &target,
                    named(&before),
                    named(&written.settings.default_analyzers),
                )
                .await;
                return Ok((written, done));
            }
        }
    }
    Err(ApiError::Unavailable(format!(
        "organization {} kept changing",
        caller.org
    )))
}

/// Creates or replaces a default analyzer. Numbers bought before keep what they got.
#[utoipa::path(put, path = "/api/v1/analyzers/{name}", operation_id = "putAnalyzer", tag = "analyzers",
    security(("bearer" = []), ("session" = [])),
    params(("name" = String, Path, description = "1 to 64 letters, digits, '-' or '_'")),
    request_body = AnalyzerPut,
    responses(
        (status = 201, description = "Created", body = AnalyzerOut),
        (status = 200, description = "Replaced", body = AnalyzerOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the organization's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    deps: &Deps,
    caller: &Caller,
    name: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let put: AnalyzerPut = json_body(req)?;
    let analyzer = Analyzer {
        name: name.to_owned(),
        prompt: put.prompt,
        schema: put.schema,
    };
    check(std::slice::from_ref(&analyzer), "analyzer")?;
    let (org, created) = modify(
        deps,
        caller,
        put.version,
        |list| {
            Ok(match list.iter_mut().find(|a| a.name == analyzer.name) {
                Some(existing) => {
                    *existing = analyzer.clone();
                    false
                }
                None => {
                    list.push(analyzer.clone());
                    true
                }
            })
        },
        |created| {
            let verb = if *created {
                "analyzer.create"
            } else {
                "analyzer.update"
            };
            (verb, format!("analyzer {name}"))
        },
    )
    .await?;
    let out = views(deps, caller, &org)
        .await?
        .into_iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::Internal(format!("analyzer {name} not found after writing it")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &out))
}

/// Removes a default analyzer. Numbers bought with it keep running it.
#[utoipa::path(delete, path = "/api/v1/analyzers/{name}", operation_id = "deleteAnalyzer", tag = "analyzers",
    security(("bearer" = []), ("session" = [])),
    params(("name" = String, Path, description = "The analyzer's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(deps: &Deps, caller: &Caller, name: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    modify(
        deps,
        caller,
        None,
        |list| {
            let before = list.len();
            list.retain(|a| a.name != name);
            if list.len() == before {
                Err(not_found(name))
            } else {
                Ok(())
            }
        },
        |()| ("analyzer.delete", format!("analyzer {name}")),
    )
    .await?;
    Ok(no_content())
}
