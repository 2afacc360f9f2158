//! `GET /api/v1/audit`, and [`record`]: how a handler leaves an entry after a write.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hotline_core::OrgId;
use hotline_core::audit::{Actor, AuditEntry, AuditPosition};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use tracing::error;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::{Deps, json};

/// Leaves an audit entry for a write `caller` made: `action` like `agent.update`,
/// `target` like `agent front-desk`, the record before and after (redacted of any
/// field named like a secret). The write has happened by now, so a failure to record
/// is logged, not answered: the caller's request did succeed.
pub async fn record(
    deps: &Deps,
    caller: &Caller,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    record_as(
        deps,
        &caller.org,
        &caller.actor,
        action,
        target,
        before,
        after,
    )
    .await;
}

/// [`record`] for an actor that is not the request's caller (a login, an accepted
/// invitation).
pub async fn record_as(
    deps: &Deps,
    org: &OrgId,
    actor: &Actor,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) {
    let entry = AuditEntry::new(
        org.clone(),
        deps.auth.now(),
        actor,
        action,
        target,
        before,
        after,
    );
    if let Err(e) = deps.audit.record_audit(&entry).await {
        error!(error = %e, action, "audit entry not recorded");
    }
}

/// One change, as listed.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `user:{id}`, `key:{id}` or `hotline apply`.
    pub actor: String,
    pub action: String,
    pub target: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

/// The organization's audit log, newest first. Owners and admins only.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "listAudit", tag = "audit",
    security(("bearer" = []), ("session" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "Entries per page, 1–200 (50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    // From the URL itself, which API Gateway and the local gateway both pass on whole.
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let first = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match first("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}")))?,
    };
    let after = first("cursor").map(decode).transpose()?;
    let entries = deps
        .audit
        .list_audit(&caller.org, after.as_ref(), limit)
        .await?;
    let next_cursor = (entries.len() == limit)
        .then(|| entries.last().map(|e| encode(&e.at, &e.id)))
        .flatten();
    let entries = entries
        .into_iter()
        .filter(|e| e.org == caller.org)
        .map(|e| AuditEntryOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            before: e.before,
            after: e.after,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &AuditPage {
            entries,
            next_cursor,
        },
    ))
}

fn encode(at: &DateTime<Utc>, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.to_rfc3339()))
}

fn decode(cursor: &str) -> Result<AuditPosition, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API gave out".into());
    if cursor.len() > 200 {
        return Err(bad());
    }
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok(AuditPosition {
        at,
        id: id.to_owned(),
    })
}
