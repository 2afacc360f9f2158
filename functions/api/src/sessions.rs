//! `/api/v1/session`: people sign in with e-mail and password and get a session cookie;
//! sign out; see who they are; change their password.

use chrono::{DateTime, Utc};
use hotline_core::audit::Actor;
use hotline_core::people::{
    LoginFailures, PasswordHash, Session, User, csrf_token, normalize_email, secret_hash,
    verify_or_dummy,
};
use hotline_core::ports::StoreError;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::{Caller, SESSION_COOKIE, session_cookie};
use crate::problem::{ApiError, Problem};
use crate::{Deps, audit, json};

/// E-mail and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// Who the caller is. `csrf_token` goes in `X-CSRF-Token` on every write made with the
/// session cookie; callers with an API key have none and need none.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub org: String,
    pub role: String,
    /// The signed-in person; absent for an API key.
    pub user: Option<UserRef>,
    /// The API key's id; absent for a person.
    pub key: Option<String>,
    pub csrf_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserRef {
    pub id: String,
    pub email: String,
}

/// The current password and the new one (at least 12 characters).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// Signs in. Answers with a new session in a cookie (a session id presented with the
/// request is never reused) and its CSRF token. Failed attempts are counted per
/// account and per client address; past the limit, 429 until the window ends.
#[utoipa::path(post, path = "/api/v1/session", operation_id = "login", tag = "session",
    request_body = Login,
    responses(
        (status = 200, description = "Signed in; the session is in `Set-Cookie`", body = SessionOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong e-mail or password (the same answer either way)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let body: Login = json_body(req)?;
    let now = deps.auth.now();
    // Something that is no e-mail has no account, but is throttled (by its hash) and
    // answered like any unknown e-mail.
    let normalized = normalize_email(&body.email);
    let email = normalized
        .clone()
        .unwrap_or_else(|| body.email.trim().to_lowercase());
    let keys = [
        (
            LoginFailures::account_key(&email),
            deps.auth.throttle.per_account,
        ),
        (
            LoginFailures::address_key(&client_address(req)),
            deps.auth.throttle.per_address,
        ),
    ];
    let window = deps.auth.throttle.window;
    let mut wait = None;
    for (key, limit) in &keys {
        if let Some(f) = deps.sessions.login_failures(key).await?
            && let Some(left) = f.blocked_for(now, *limit, window)
        {
            wait = wait.max(Some(left));
        }
    }
    if let Some(left) = wait {
        return Err(ApiError::Throttled(
            left.num_seconds().max(1).unsigned_abs(),
        ));
    }

    let user = match &normalized {
        Some(email) => deps
            .users
            .user_by_email(email)
            .await?
            .filter(User::is_active),
        None => None,
    };
    if !check_password(
        user.as_ref().map(|u| u.password_hash.clone()),
        body.password,
    )
    .await?
    {
        for (key, _) in &keys {
            count_failure(deps, key, now).await?;
        }
        return Err(ApiError::BadCredentials);
    }
    let Some(user) = user else {
        return Err(ApiError::BadCredentials);
    };
    if let Some(mut f) = deps.sessions.login_failures(&keys[0].0).await?
        && f.count > 0
    {
        f.count = 0;
        // A concurrent failure may win the write: it is counted, which is safe.
        let _ = deps.sessions.put_login_failures(&f).await;
    }
    // Fixation: whatever session the browser came with ends here; the new one has a
    // fresh id.
    if let Some(old) = session_cookie(req) {
        revoke(deps, &secret_hash(&old), now).await?;
    }
    let (session, id) = Session::open(&user, now, deps.auth.sessions.absolute);
    deps.sessions.create_session(&session).await?;
    audit::record_as(
        deps,
        &user.org,
        &Actor::User(user.id.clone()),
        "session.login",
        &format!("user {}", user.id),
        None,
        None,
    )
    .await;
    let out = SessionOut {
        org: user.org.to_string(),
        role: user.role.as_str().to_owned(),
        user: Some(UserRef {
            id: user.id,
            email: user.email,
        }),
        key: None,
        csrf_token: Some(csrf_token(&id)),
    };
    let mut resp = json(StatusCode::OK, &out);
    set_cookie(&mut resp, &id, deps.auth.sessions.absolute.num_seconds());
    Ok(resp)
}

/// Who the caller is, and the session's CSRF token.
#[utoipa::path(get, path = "/api/v1/session", operation_id = "getSession", tag = "session",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, body = SessionOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn whoami(caller: &Caller) -> Result<Response<Body>, ApiError> {
    Ok(json(StatusCode::OK, &session_out(caller)))
}

/// Signs out: the session is revoked and the cookie cleared.
#[utoipa::path(delete, path = "/api/v1/session", operation_id = "logout", tag = "session",
    security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No CSRF token, or an API key (which has no session)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let person = person(caller)?;
    revoke(deps, &person.session_hash, deps.auth.now()).await?;
    audit::record(
        deps,
        caller,
        "session.logout",
        &format!("user {}", person.user_id),
        None,
        None,
    )
    .await;
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    set_cookie(&mut resp, "", 0);
    Ok(resp)
}

/// Changes the signed-in person's password. Every other session of theirs ends; this
/// browser gets a new session (and CSRF token).
#[utoipa::path(post, path = "/api/v1/session/password", operation_id = "changePassword", tag = "session",
    security(("session" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; the new session is in `Set-Cookie`", body = SessionOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong current password, no CSRF token, or an API key", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let person = person(caller)?;
    let body: PasswordChange = json_body(req)?;
    let now = deps.auth.now();
    let account = LoginFailures::account_key(&person.email);
    if let Some(f) = deps.sessions.login_failures(&account).await?
        && let Some(left) = f.blocked_for(
            now,
            deps.auth.throttle.per_account,
            deps.auth.throttle.window,
        )
    {
        return Err(ApiError::Throttled(
            left.num_seconds().max(1).unsigned_abs(),
        ));
    }
    let mut user = deps
        .users
        .user_by_email(&person.email)
        .await?
        .filter(|u| u.is_active() && u.id == person.user_id)
        .ok_or(ApiError::Unauthorized)?;
    if !check_password(Some(user.password_hash.clone()), body.current).await? {
        count_failure(deps, &account, now).await?;
        return Err(ApiError::Refused("the current password is wrong".into()));
    }
    user.password_hash = hash_password(body.new).await?;
    user.session_epoch += 1;
    let user = deps.users.update_user(&user).await?;
    revoke(deps, &person.session_hash, now).await?;
    audit::record(
        deps,
        caller,
        "user.password_change",
        &format!("user {}", user.id),
        None,
        None,
    )
    .await;
    let (session, id) = Session::open(&user, now, deps.auth.sessions.absolute);
    deps.sessions.create_session(&session).await?;
    let mut out = session_out(caller);
    out.csrf_token = Some(csrf_token(&id));
    let mut resp = json(StatusCode::OK, &out);
    set_cookie(&mut resp, &id, deps.auth.sessions.absolute.num_seconds());
    Ok(resp)
}

fn person(caller: &Caller) -> Result<&crate::auth::Person, ApiError> {
    caller
        .person
        .as_ref()
        .ok_or_else(|| ApiError::Refused("this needs a person's session, not an API key".into()))
}

fn session_out(caller: &Caller) -> SessionOut {
    SessionOut {
        org: caller.org.to_string(),
        role: caller.role.as_str().to_owned(),
        user: caller.person.as_ref().map(|p| UserRef {
            id: p.user_id.clone(),
            email: p.email.clone(),
        }),
        key: caller.person.is_none().then(|| caller.key_id.clone()),
        csrf_token: caller.person.as_ref().map(|p| p.csrf_token.clone()),
    }
}

/// Argon2 is deliberately slow: it runs off the async workers.
async fn check_password(hash: Option<PasswordHash>, password: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_or_dummy(hash.as_ref(), &password))
        .await
        .map_err(|e| ApiError::Internal(format!("password check: {e}")))
}

pub(crate) async fn hash_password(password: String) -> Result<PasswordHash, ApiError> {
    tokio::task::spawn_blocking(move || PasswordHash::new(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))?
        .map_err(|e| match e {
            hotline_core::people::PasswordError::Hashing(why) => ApiError::Internal(why),
            other => ApiError::BadRequest(other.to_string()),
        })
}

/// Counts a failed sign-in for `key`, again from a fresh read if a concurrent failure
/// wrote first.
async fn count_failure(deps: &Deps, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    for _ in 0..6 {
        let mut f = deps
            .sessions
            .login_failures(key)
            .await?
            .unwrap_or_else(|| LoginFailures::new(key.to_owned(), now));
        f.record(now, deps.auth.throttle.window);
        match deps.sessions.put_login_failures(&f).await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other.map(drop).map_err(Into::into),
        }
    }
    Err(ApiError::Unavailable("login failures kept changing".into()))
}

/// Marks the stored session with this hash revoked, if there is a live one.
async fn revoke(deps: &Deps, hash: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    for _ in 0..6 {
        let Some(mut session) = deps.sessions.session_by_hash(hash).await? else {
            return Ok(());
        };
        if session.revoked_at.is_some() {
            return Ok(());
        }
        session.revoked_at = Some(now);
        match deps.sessions.update_session(&session).await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other.map(drop).map_err(Into::into),
        }
    }
    Err(ApiError::Unavailable("session kept changing".into()))
}

/// `Set-Cookie` for the session `id` (or, with `max_age` 0, one that clears it).
fn set_cookie(resp: &mut Response<Body>, id: &str, max_age: i64) {
    let cookie =
        format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, value);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The client's address as API Gateway saw it (never a header the client could forge).
fn client_address(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .filter(|ip| !ip.is_empty())
    .unwrap_or_else(|| "unknown".to_owned())
}
