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
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    #[error("this API key's role may only read")]
    Forbidden,
    /// Another organization's resource is not found either: its existence is not told.
    #[error("{0} not found")]
    NotFound(String),
    #[error("no route {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the store is unavailable, try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// Twilio failed or refused hotline (not the caller's request).
    #[error("{0}")]
    Upstream(String),
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
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unconfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) | Self::NoRoute(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::Unsupported(_) => "unsupported-media-type",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
            Self::Upstream(_) => "bad-gateway",
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
        if matches!(self, Self::Unauthorized) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
