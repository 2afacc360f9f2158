//! The OpenAPI 3.1 document, generated from the handlers' annotations and the view types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::Problem;
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(title = "hotline API", description = "An organization's agents, numbers and calls. Authenticate with `Authorization: Bearer <API key>` (`hotline keys create`)."),
    paths(
        crate::agents::list,
        crate::agents::get,
        crate::agents::put,
        crate::numbers::list,
        crate::calls::list,
        crate::calls::get,
        crate::provisioning::buy,
        crate::provisioning::release,
        crate::provisioning::create_subaccount,
        crate::provisioning::status,
        openapi_json,
    ),
    components(schemas(Problem, views::AgentOut, views::AgentWrite, views::AgentList, views::NumberList, views::CallPage, views::CallDetail, views::BuyNumberRequest, views::BoughtNumber, views::SubaccountOut, views::TwilioStatus, views::TwilioAccountOut, views::TwilioNumberOut)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
#[allow(dead_code)] // Documents the route; `handle` serves it.
fn openapi_json() {}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
