//! `/api/v1/keys`: the organization's API keys. A new key is shown once; only its hash
//! is stored.

use hotline_core::model::{ApiKey, Role};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::{Deps, audit, json, no_content};

#[derive(Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    /// owner, admin or viewer.
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreate {
    /// What the key is for, shown in listings (1–100 characters).
    pub name: String,
    /// owner, admin or viewer; an admin cannot create an owner's key.
    pub role: String,
}

/// A new key: `key` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct KeyCreated {
    #[serde(flatten)]
    pub record: KeyOut,
    /// `hk_…`: send as `Authorization: Bearer <key>`.
    pub key: String,
}

fn view(key: &ApiKey) -> KeyOut {
    KeyOut {
        id: key.id.clone(),
        name: key.name.clone(),
        role: key.role.as_str().to_owned(),
        created_at: key.created_at,
        revoked_at: key.revoked_at,
    }
}

pub(crate) fn role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value)
        .ok_or_else(|| ApiError::BadRequest("role must be owner, admin or viewer".into()))
}

/// The organization's keys, revoked ones included (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/keys", operation_id = "listKeys", tag = "keys",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let keys = deps
        .api_keys
        .list_api_keys(&caller.org)
        .await?
        .iter()
        .filter(|k| k.org == caller.org)
        .map(view)
        .collect();
    Ok(json(StatusCode::OK, &KeyList { keys }))
}

/// Creates a key; the answer holds it, once.
#[utoipa::path(post, path = "/api/v1/keys", operation_id = "createKey", tag = "keys",
    security(("bearer" = []), ("session" = [])),
    request_body = KeyCreate,
    responses(
        (status = 201, body = KeyCreated),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: KeyCreate = json_body(req)?;
    let role = role(&body.role)?;
    caller.may_act_on(role, &format!("create {} keys", role.as_str()))?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest("name: 1 to 100 characters".into()));
    }
    let (record, secret) =
        ApiKey::issue(caller.org.clone(), name.to_owned(), role, deps.auth.now());
    let stored = deps.api_keys.create_api_key(&record).await?;
    let out = view(&stored);
    audit::record(
        deps,
        caller,
        "key.create",
        &format!("key {}", stored.id),
        None,
        serde_json::to_value(&out).ok(),
    )
    .await;
    Ok(json(
        StatusCode::CREATED,
        &KeyCreated {
            record: out,
            key: secret,
        },
    ))
}

/// Revokes a key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", operation_id = "revokeKey", tag = "keys",
    security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let not_found = || {
        ApiError::NotFound(format!(
            "API key {}",
            id.chars().take(64).collect::<String>()
        ))
    };
    let key = deps
        .api_keys
        .list_api_keys(&caller.org)
        .await?
        .into_iter()
        .find(|k| k.id == id && k.org == caller.org)
        .ok_or_else(not_found)?;
    caller.may_act_on(key.role, &format!("revoke {} keys", key.role.as_str()))?;
    let revoked = deps
        .api_keys
        .revoke_api_key(&caller.org, &key.id, deps.auth.now())
        .await?;
    audit::record(
        deps,
        caller,
        "key.revoke",
        &format!("key {}", key.id),
        serde_json::to_value(view(&key)).ok(),
        serde_json::to_value(view(&revoked)).ok(),
    )
    .await;
    Ok(no_content())
}
