//! The console's way to the API: each call builds the request a browser's script would
//! send (the browser's cookie, origin and address; the form's CSRF token in
//! `X-CSRF-Token`; a JSON body) and hands it to the API's own router in process. No
//! HTTP round trip, and no way around the API's checks.

use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

use super::Fail;
use crate::auth::{CSRF_HEADER, Caller};
use crate::{Deps, auth};

/// Headers of the browser's request the API reads: who (cookie), from where (origin,
/// referer), and the client.
const FORWARDED: [header::HeaderName; 5] = [
    header::COOKIE,
    header::ORIGIN,
    header::REFERER,
    header::USER_AGENT,
    header::HOST,
];

/// The signed-in person, as `GET /api/v1/session` and `GET /api/v1/organization` tell.
#[derive(Debug, Clone)]
pub struct Session {
    pub email: String,
    pub role: String,
    pub org: String,
    pub org_name: String,
    pub csrf: String,
}

impl Session {
    /// Whether the role may change anything (owner, admin).
    pub fn may_write(&self) -> bool {
        self.role != "viewer"
    }
}

/// One console request's way to the API.
pub struct Ctx<'a> {
    pub deps: &'a Deps,
    headers: HeaderMap,
    context: Option<RequestContext>,
    /// The console path asked for (for the navigation's current page).
    pub path: String,
    session: Option<Session>,
}

/// What the API answered.
pub struct ApiOut {
    pub status: StatusCode,
    pub body: Value,
    /// `Set-Cookie` headers to pass on to the browser (sign-in, sign-out, new password).
    pub cookies: Vec<HeaderValue>,
}

impl ApiOut {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The problem's detail, for people.
    pub fn detail(&self) -> String {
        self.body["detail"].as_str().map_or_else(
            || format!("the API answered {}", self.status),
            str::to_owned,
        )
    }
}

/// A form's fields, as posted (`application/x-www-form-urlencoded`).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn of(req: &Request) -> Self {
        let bytes: &[u8] = req.body().as_ref();
        Self(form_urlencoded::parse(bytes).into_owned().collect())
    }

    pub fn query(req: &Request) -> Self {
        Self(
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The field's first value, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The field's first value as posted (a text area's own spacing kept).
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A checkbox: present means on.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

impl<'a> Ctx<'a> {
    pub fn new(deps: &'a Deps, req: &Request, path: &str) -> Self {
        let mut headers = HeaderMap::new();
        for name in &FORWARDED {
            for value in req.headers().get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Self {
            deps,
            headers,
            context: req.request_context_ref().cloned(),
            path: path.to_owned(),
            session: None,
        }
    }

    /// This context with the signed-in person, or [`Fail::SignIn`].
    pub async fn signed_in(&self) -> Result<Ctx<'a>, Fail> {
        let who = self.get("/api/v1/session").await?;
        if who["user"].is_null() {
            return Err(Fail::SignIn);
        }
        let org = self.get("/api/v1/organization").await?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Ok(Ctx {
            deps: self.deps,
            headers: self.headers.clone(),
            context: self.context.clone(),
            path: self.path.clone(),
            session: Some(Session {
                email: text(&who["user"]["email"]),
                role: text(&who["role"]),
                org: text(&who["org"]),
                org_name: text(&org["name"]),
                csrf: text(&who["csrf_token"]),
            }),
        })
    }

    pub fn session_opt(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The signed-in person (pages behind [`Ctx::signed_in`] always have one).
    pub fn session(&self) -> Result<&Session, Fail> {
        self.session.as_ref().ok_or(Fail::SignIn)
    }

    /// Sends one request to the API's router. `form` gives the CSRF token a write needs.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        form: Option<&Form>,
    ) -> ApiOut {
        let req = self.request(method, path, body, form);
        let resp = match crate::serve(self.deps, req).await {
            Ok(resp) => resp,
            Err(e) => {
                if matches!(
                    e,
                    crate::ApiError::Internal(_) | crate::ApiError::Unavailable(_)
                ) {
                    tracing::error!(error = %e, "console: the API failed");
                }
                e.response()
            }
        };
        let status = resp.status();
        let cookies = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        let body = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        ApiOut {
            status,
            body,
            cookies,
        }
    }

    /// A read: its JSON, or why the page cannot show it.
    pub async fn get(&self, path: &str) -> Result<Value, Fail> {
        let out = self.call(Method::GET, path, None, None).await;
        match out.status {
            s if s.is_success() => Ok(out.body),
            StatusCode::UNAUTHORIZED => Err(Fail::SignIn),
            StatusCode::NOT_FOUND => Err(Fail::NotFound),
            s => Err(Fail::Problem(s, out.detail())),
        }
    }

    /// A write: the API's answer whatever it is, but a lost session signs in again.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        form: &Form,
    ) -> Result<ApiOut, Fail> {
        let out = self.call(method, path, Some(body), Some(form)).await;
        if out.status == StatusCode::UNAUTHORIZED {
            return Err(Fail::SignIn);
        }
        Ok(out)
    }

    /// The caller, checked by the API's own authentication (cookie, CSRF token from the
    /// form), for the few writes the console makes straight on the ports.
    pub async fn caller(&self, form: &Form) -> Result<Caller, Fail> {
        let req = self.request(Method::POST, "/console", None, Some(form));
        auth::authenticate(self.deps, &req)
            .await
            .map_err(|e| match e {
                crate::ApiError::Unauthorized => Fail::SignIn,
                other => Fail::Problem(other.status(), other.to_string()),
            })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        form: Option<&Form>,
    ) -> Request {
        let mut req = lambda_http::http::Request::new(match body {
            Some(v) => Body::Text(v.to_string()),
            None => Body::Empty,
        });
        *req.method_mut() = method;
        if let Ok(uri) = path.parse() {
            *req.uri_mut() = uri;
        }
        let headers = req.headers_mut();
        headers.clone_from(&self.headers);
        if body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some(token) = form
            .map(|f| f.get("_csrf"))
            .filter(|t| !t.is_empty())
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert(CSRF_HEADER, token);
        }
        match &self.context {
            Some(context) => req.with_request_context(context.clone()),
            None => req,
        }
    }
}

/// `value` as a query string component.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
