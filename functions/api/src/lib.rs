//! `/api/v1/…`: an organization's agents, numbers and calls for machines holding one of
//! its API keys, and the OpenAPI document that describes them. JSON in and out; every
//! error is `application/problem+json`; another organization's records are 404.

mod agents;
mod auth;
mod calls;
mod cursor;
mod numbers;
pub mod openapi;
mod problem;
mod provisioning;
mod router;
mod twilio_setup;
pub mod views;

use std::sync::Arc;

use hotline_core::ports::{ApiKeys, Calls, Directory};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::{Instrument, error, info_span, warn};

pub use auth::Caller;
pub use problem::{ApiError, Problem};
pub use router::{ROUTES, Route};
pub use twilio_setup::TwilioSetup;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub api_keys: Arc<dyn ApiKeys>,
    /// Twilio for organizations: subaccounts, buying and releasing numbers.
    pub twilio: TwilioSetup,
}

/// Answers one API request; never panics on any input.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "api",
        method = %req.method(),
        route = tracing::field::Empty,
        org = tracing::field::Empty,
        key = tracing::field::Empty,
    );
    let result = serve(deps, req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(resp) => resp,
        Err(e) => {
            match &e {
                ApiError::Internal(why) | ApiError::Unavailable(why) => {
                    error!(error = %why, "request failed");
                }
                other => {
                    warn!(status = other.status().as_u16(), problem = %other, "request refused");
                }
            }
            e.response()
        }
    }
}

async fn serve(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let path = route_path(&req).to_owned();
    let (route, params) = router::resolve(req.method(), &path)?;
    let span = tracing::Span::current();
    span.record("route", route.key());
    if route == Route::OpenApi {
        return Ok(json(StatusCode::OK, &openapi::document()));
    }
    let caller = auth::authenticate(deps.api_keys.as_ref(), &req).await?;
    span.record("org", caller.org.as_str());
    span.record("key", caller.key_id.as_str());
    match route {
        Route::OpenApi => Ok(json(StatusCode::OK, &openapi::document())),
        Route::ListAgents => agents::list(deps, &caller).await,
        Route::GetAgent => agents::get(deps, &caller, &params.id).await,
        Route::PutAgent => agents::put(deps, &caller, &params.id, &req).await,
        Route::ListNumbers => numbers::list(deps, &caller).await,
        Route::ListCalls => calls::list(deps, &caller, &req).await,
        Route::GetCall => calls::get(deps, &caller, &params.id).await,
        Route::BuyNumber => provisioning::buy(deps, &caller, &req).await,
        Route::ReleaseNumber => provisioning::release(deps, &caller, &params.id).await,
        Route::CreateSubaccount => provisioning::create_subaccount(deps, &caller).await,
        Route::TwilioStatus => provisioning::status(deps, &caller).await,
    }
}

/// The path the routes are matched on. Behind a named API Gateway stage (not `$default`),
/// `lambda_http` keeps `/{stage}` in front of the route's path; it is not part of it.
fn route_path(req: &Request) -> &str {
    let path = req.uri().path();
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" => path
            .strip_prefix(&format!("/{stage}"))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    }
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(text) => {
            let mut resp = Response::new(Body::Text(text));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => ApiError::Internal(e.to_string()).response(),
    }
}
