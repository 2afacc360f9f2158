//! Who is asking: a bearer API key (machines) or a session cookie (people), checked on
//! every request but the public ones. Both give the same [`Caller`].

use hotline_core::OrgId;
use hotline_core::audit::Actor;
use hotline_core::model::{ApiKey, Role};
use hotline_core::people::{SessionState, csrf_token, may_assign, secret_hash};
use hotline_core::ports::StoreError;
use lambda_http::Request;
use lambda_http::http::{Method, header};
use subtle::ConstantTimeEq;
use tracing::debug;

use crate::Deps;
use crate::problem::ApiError;

/// The session cookie. `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`, so no sibling host can plant or read it.
pub const SESSION_COOKIE: &str = "__Host-hotline-session";
/// Where a browser sends its session's CSRF token on every write.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller. Handlers take one, so none can forget to check.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    /// The API key's id; empty for a person signed in with a session.
    pub key_id: String,
    /// Who the audit log names.
    pub actor: Actor,
    /// The person and session, for a caller signed in with a session.
    pub person: Option<Person>,
}

/// A person behind a session cookie.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: String,
    pub email: String,
    /// The stored session's key (SHA-256 of its id).
    pub session_hash: String,
    pub csrf_token: String,
}

impl Caller {
    /// Refuses a caller whose role may only read.
    pub fn may_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Refuses a caller whose role may not grant, or act on, `role` (an admin and an
    /// owner's invitation, key or account): `what` says what was refused, e.g.
    /// `revoke owner keys`.
    pub fn may_act_on(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if may_assign(self.role, role) {
            Ok(())
        } else {
            Err(ApiError::Refused(format!(
                "the {} role cannot {what}",
                self.role.as_str()
            )))
        }
    }
}

/// The caller behind `Authorization: Bearer <key>` or the session cookie. Every failure
/// is the same 401, so a caller learns nothing about which keys or sessions exist. A
/// write with a session cookie must carry the session's CSRF token; bearer keys need
/// none (a browser never sends them by itself).
pub async fn authenticate(deps: &Deps, req: &Request) -> Result<Caller, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return by_key(deps, req).await;
    }
    let Some(id) = session_cookie(req) else {
        return Err(ApiError::Unauthorized);
    };
    let caller = by_session(deps, &id).await?;
    if !is_safe(req.method()) {
        check_csrf(req, &id)?;
        check_origin(req, deps.auth.origin.as_deref())?;
    }
    Ok(caller)
}

async fn by_key(deps: &Deps, req: &Request) -> Result<Caller, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    let key = deps
        .api_keys
        .api_key_by_hash(&ApiKey::hash(presented))
        .await?
        .filter(ApiKey::is_active)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        org: key.org,
        role: key.role,
        actor: Actor::Key(key.id.clone()),
        key_id: key.id,
        person: None,
    })
}

/// The live session with this id, its user still a member with the same password; the
/// role is the user's current one. Marks the session seen (at most once a minute).
async fn by_session(deps: &Deps, id: &str) -> Result<Caller, ApiError> {
    let now = deps.auth.now();
    let hash = secret_hash(id);
    let mut session = deps
        .sessions
        .session_by_hash(&hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let state = session.state(now, &deps.auth.sessions);
    if state != SessionState::Live {
        debug!(?state, "session refused");
        return Err(ApiError::Unauthorized);
    }
    let user = deps
        .users
        .user_by_email(&session.email)
        .await?
        .filter(|u| {
            u.is_active()
                && u.id == session.user
                && u.org == session.org
                && u.session_epoch == session.epoch
        })
        .ok_or(ApiError::Unauthorized)?;
    if session.needs_touch(now) {
        session.last_seen_at = now;
        match deps.sessions.update_session(&session).await {
            // Another request marked it (or logged out) first: theirs stands.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Caller {
        org: user.org,
        role: user.role,
        key_id: String::new(),
        actor: Actor::User(user.id.clone()),
        person: Some(Person {
            user_id: user.id,
            email: user.email,
            session_hash: hash,
            csrf_token: csrf_token(id),
        }),
    })
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn check_csrf(req: &Request, session_id: &str) -> Result<(), ApiError> {
    let expected = csrf_token(session_id);
    let presented = req
        .headers()
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if bool::from(presented.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Refused(
            "a write with a session cookie needs the session's CSRF token in X-CSRF-Token (GET /api/v1/session gives it)".into(),
        ))
    }
}

/// A cookie write must come from a page of the API's own origin: its `Origin` (or, when
/// a browser sends none, its `Referer`'s origin) is `configured` (`HOTLINE_API_ORIGIN`,
/// or the origin of `HOTLINE_PUBLIC_URL`) or the host the request was sent to. A write
/// with neither header proves nothing and is refused too. A second line behind the CSRF
/// token: a page elsewhere that learned a token still cannot use it.
fn check_origin(req: &Request, configured: Option<&str>) -> Result<(), ApiError> {
    let headers = req.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let presented = match text(header::ORIGIN) {
        Some(origin) => Some(origin.trim().to_owned()),
        None => text(header::REFERER).and_then(origin_of),
    };
    let refused = |why: String| {
        ApiError::Refused(format!(
            "a write with a session cookie must come from the API's own origin: {why}"
        ))
    };
    let Some(presented) = presented.filter(|o| !o.is_empty() && o != "null") else {
        return Err(refused("the request has no Origin or Referer".into()));
    };
    let presented = presented.trim_end_matches('/').to_ascii_lowercase();
    if configured.is_some_and(|c| c.trim_end_matches('/').eq_ignore_ascii_case(&presented)) {
        return Ok(());
    }
    // The host the browser sent this request to (API Gateway and `hotline up` pass the
    // `Host` header on; a page elsewhere cannot make it match its own origin).
    let host = text(header::HOST)
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    let authority = presented.split_once("://").map_or("", |(_, rest)| rest);
    if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        return Ok(());
    }
    Err(refused(format!(
        "{} is another origin",
        presented.chars().take(100).collect::<String>()
    )))
}

/// `scheme://host[:port]` of an absolute URL; `None` for anything else.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

/// The session id in the request's `Cookie` headers, if one looks like ours.
pub fn session_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
