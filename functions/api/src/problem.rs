//! Every error the API answers, as `application/problem+json` (RFC 9457).

use hotline_core::ports::StoreError;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Why a request was not served. Each maps to one status and one problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in (POST /api/v1/session) or send an API key: Authorization: Bearer <key>")]
    Unauthorized,
    /// A failed sign-in: the same whether the e-mail or the password was wrong.
    #[error("the e-mail or the password is wrong")]
    BadCredentials,
    #[error("this role may only read")]
    Forbidden,
    /// Refused for a reason the caller should read: a missing CSRF token, a role an
    /// admin may not grant.
    #[error("{0}")]
    Refused(String),
    /// Too many failed logins: try again after this many seconds (`Retry-After`).
    #[error("too many failed sign-ins: try again in {0} seconds")]
    Throttled(u64),
    /// Another organization's resource is not found either: its existence is not told.
    #[error("{0} not found")]
    NotFound(String),
    #[error("no route {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// Understood but not processable as sent (a template variable missing, an
    /// idempotency key reused for another request).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unsupported(String),
    /// Twilio (or another outside API) failed or refused hotline (not the caller's
    /// request).
    #[error("{0}")]
    Upstream(String),
    #[error("the store is unavailable, try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// This deployment lacks a setting the request needs; the detail names it.
    #[error("{0}")]
    Unconfigured(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(format!(
                "{what} was changed since you read it: read it again and retry"
            )),
            StoreError::Invalid(why) => Self::BadRequest(why),
            StoreError::Taken(what) => {
                Self::Conflict(format!("{what} belongs to another organization"))
            }
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::Corrupt(why) => Self::Internal(why),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:hotline:problem:{not-found|conflict|…}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Refused(_) => StatusCode::FORBIDDEN,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unconfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Refused(_) => "refused",
            Self::Throttled(_) => "too-many-requests",
            Self::NotFound(_) | Self::NoRoute(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::Unprocessable(_) => "unprocessable",
            Self::Unsupported(_) => "unsupported-media-type",
            Self::Upstream(_) => "bad-gateway",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
            Self::Unconfigured(_) => "not-configured",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            // A URN: it names the kind of problem without promising a page to fetch.
            kind: format!("urn:hotline:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            // Store and internal failures keep their cause for the log, not the caller.
            detail: self.to_string(),
        }
    }

    pub fn response(&self) -> Response<Body> {
        let mut resp = Response::new(Body::Text(
            serde_json::to_string(&self.problem()).unwrap_or_default(),
        ));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if let Self::Throttled(secs) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(*secs));
        }
        if matches!(self, Self::Unauthorized) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
