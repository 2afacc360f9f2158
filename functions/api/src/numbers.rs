//! `/api/v1/numbers`: the organization's phone numbers.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::views::{NumberList, NumberOut};
use crate::{Deps, json};

/// The organization's numbers and the agent each one rings.
#[utoipa::path(get, path = "/api/v1/numbers", operation_id = "listNumbers", tag = "numbers",
    security(("bearer" = [])),
    responses(
        (status = 200, body = NumberList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let numbers = deps
        .directory
        .list_numbers(&caller.org)
        .await?
        .into_iter()
        .filter(|n| n.org == caller.org)
        .map(|n| NumberOut {
            number: n.number.to_string(),
            agent: n.agent.to_string(),
            enabled: n.enabled,
            analyzers: n.analyzers.iter().map(|a| a.name.clone()).collect(),
        })
        .collect();
    Ok(json(StatusCode::OK, &NumberList { numbers }))
}
