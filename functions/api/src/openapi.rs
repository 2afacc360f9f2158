//! The OpenAPI 3.1 document, generated from the handlers' annotations and the view types.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::Problem;
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(title = "hotline API", description = "An organization's agents (with their analyzers, as in hotline.yaml), default analyzers (which a number bought through the API runs beside its agent's), numbers, calls, contacts, to-dos, texts, people, keys and audit log. Machines authenticate with `Authorization: Bearer <API key>` (`hotline keys create`); people sign in with `POST /api/v1/session` and send the session's CSRF token in `X-CSRF-Token` on writes."),
    paths(
        crate::agents::list,
        crate::agents::get,
        crate::agents::put,
        crate::numbers::list,
        crate::numbers::get,
        crate::numbers::patch,
        crate::calls::list,
        crate::calls::get,
        crate::dial::create,
        crate::dial::end,
        crate::sessions::login,
        crate::sessions::whoami,
        crate::sessions::logout,
        crate::sessions::change_password,
        crate::organization::get,
        crate::organization::patch,
        crate::users::list,
        crate::users::patch,
        crate::users::remove,
        crate::invitations::list,
        crate::invitations::create,
        crate::invitations::revoke,
        crate::invitations::accept,
        crate::keys::list,
        crate::keys::create,
        crate::keys::revoke,
        crate::audit::list,
        crate::messages::send,
        crate::contacts::list,
        crate::contacts::get,
        crate::contacts::patch,
        crate::todos::list,
        crate::todos::complete,
        crate::todos::patch,
        crate::provisioning::buy,
        crate::provisioning::release,
        crate::provisioning::create_subaccount,
        crate::provisioning::status,
        crate::analyzers::list,
        crate::analyzers::get,
        crate::analyzers::put,
        crate::analyzers::delete,
        crate::campaigns::create,
        crate::campaigns::list,
        crate::campaigns::get,
        crate::campaigns::add_leads,
        crate::campaigns::list_leads,
        crate::campaigns::start,
        crate::campaigns::pause,
        crate::campaigns::resume,
        crate::campaigns::cancel,
        crate::campaigns::list_do_not_call,
        crate::campaigns::add_do_not_call,
        crate::campaigns::remove_do_not_call,
        openapi_json,
    ),
    components(schemas(Problem, views::AgentOut, views::AgentWrite, views::FallbackBody, views::AgentList, views::NumberList, views::CallPage, views::CallDetail,
        crate::sessions::Login, crate::sessions::SessionOut, crate::sessions::UserRef, crate::sessions::PasswordChange,
        crate::organization::OrganizationOut, crate::organization::OrganizationPatch,
        crate::users::UserOut, crate::users::UserList, crate::users::UserPatch,
        crate::invitations::InvitationOut, crate::invitations::InvitationList, crate::invitations::InvitationCreate,
        crate::invitations::InvitationCreated, crate::invitations::InvitationAccept, crate::invitations::Accepted,
        crate::keys::KeyOut, crate::keys::KeyList, crate::keys::KeyCreate, crate::keys::KeyCreated,
        crate::audit::AuditEntryOut, crate::audit::AuditPage,
        crate::messages::SendMessage, crate::messages::MessageOut, crate::messages::MessagesSent,
        crate::contacts::ContactOut, crate::contacts::ContactPage, crate::contacts::ContactPatch,
        crate::todos::TodoOut, crate::todos::TodoPage, crate::todos::TodoPatch,
        crate::dial::DialBody, crate::dial::DialOut,
        views::BuyNumberRequest, views::BoughtNumber, views::SubaccountOut, views::TwilioStatus, views::TwilioAccountOut, views::TwilioNumberOut,
        crate::analyzers::AnalyzerOut, crate::analyzers::AnalyzerList, crate::analyzers::AnalyzerPut,
        crate::numbers::NumberDetail, crate::numbers::NumberPatch,
        crate::campaigns::CampaignCreate, crate::campaigns::CampaignOut, crate::campaigns::CampaignList, crate::campaigns::CampaignCreated,
        crate::campaigns::RetryBody, crate::campaigns::WindowBody, crate::campaigns::LeadsImported, crate::campaigns::LeadOut, crate::campaigns::AttemptOut,
        crate::campaigns::LeadPage, crate::campaigns::DoNotCallBody, crate::campaigns::DoNotCallList)),
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
        // People: the session cookie from `POST /api/v1/session`; writes also send the
        // session's CSRF token in `X-CSRF-Token`.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
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
