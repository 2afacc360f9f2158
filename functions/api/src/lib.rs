//! `/api/v1/…`: an organization's agents, numbers and calls for machines holding one of
//! its API keys, and the OpenAPI document that describes them. JSON in and out; every
//! error is `application/problem+json`; another organization's records are 404.

mod agents;
mod analyzers;
pub mod audit;
mod auth;
mod calls;
mod campaigns;
pub mod console;
mod contacts;
mod cursor;
pub mod dial;
mod edit;
mod invitations;
mod keys;
mod messages;
mod numbers;
pub mod openapi;
mod organization;
mod problem;
mod provisioning;
mod query;
mod router;
mod sessions;
pub mod settings;
mod todos;
mod twilio_setup;
mod users;
pub mod views;

use std::sync::Arc;

use hotline_core::dial::CallPlacer;
use hotline_core::outbox::TextSender;
use hotline_core::ports::{
    ApiKeys, BlobLinks, Calls, Campaigns, Contacts, Dials, Directory, Messages, Todos,
};
use hotline_core::ports::{Audit, Sessions, Users};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::{Instrument, error, info_span, warn};

pub use auth::{CSRF_HEADER, Caller, Person, SESSION_COOKIE};
pub use problem::{ApiError, Problem};
pub use router::{ROUTES, Route};
pub use settings::{AuthSettings, Clock};
pub use twilio_setup::TwilioSetup;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    /// Outbound calls as asked for, and Twilio's Calls API to place and end them.
    pub dials: Arc<dyn Dials>,
    /// Outbound campaigns, their leads, and the do-not-call list.
    pub campaigns: Arc<dyn Campaigns>,
    pub placer: Arc<dyn CallPlacer>,
    pub api_keys: Arc<dyn ApiKeys>,
    pub contacts: Arc<dyn Contacts>,
    pub messages: Arc<dyn Messages>,
    /// Sends texts (Twilio's Messages API at `TWILIO_API_BASE_URL`).
    pub texts: Arc<dyn TextSender>,
    /// `{HOTLINE_PUBLIC_URL}/twilio/sms/status`, where Twilio reports each text's
    /// delivery; `None` sends without reports.
    pub status_callback: Option<String>,
    pub todos: Arc<dyn Todos>,
    /// Short-lived links to a call's recording and transcript.
    pub links: Arc<dyn BlobLinks>,
    /// Twilio for organizations: subaccounts, buying and releasing numbers.
    pub twilio: TwilioSetup,
    pub users: Arc<dyn Users>,
    pub sessions: Arc<dyn Sessions>,
    pub audit: Arc<dyn Audit>,
    /// Session lifetimes, login throttling, and the clock they are measured by.
    pub auth: AuthSettings,
}

impl Deps {
    /// Every port from `stores`, with the given session and throttling settings.
    pub fn new(
        stores: &hotline_store::Stores,
        auth: AuthSettings,
        texts: Arc<dyn TextSender>,
        status_callback: Option<String>,
        links: Arc<dyn BlobLinks>,
        twilio: TwilioSetup,
    ) -> Self {
        Self {
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            dials: stores.dials.clone(),
            campaigns: stores.campaigns.clone(),
            placer: dial::twilio_placer(&twilio),
            api_keys: stores.api_keys.clone(),
            users: stores.users.clone(),
            sessions: stores.sessions.clone(),
            audit: stores.audit.clone(),
            auth,
            contacts: stores.contacts.clone(),
            messages: stores.messages.clone(),
            texts,
            status_callback,
            todos: stores.todos.clone(),
            links,
            twilio,
        }
    }
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
    let path = route_path(&req).to_owned();
    if console::is_console(&path) {
        // Boxed: the pages' futures are large, and every API request would carry them.
        return Box::pin(console::handle(deps, req, &path))
            .instrument(span)
            .await;
    }
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
    // The routes that need no caller: the document, signing in, accepting an invitation.
    match route {
        Route::OpenApi => return Ok(json(StatusCode::OK, &openapi::document())),
        Route::Login => return sessions::login(deps, &req).await,
        Route::AcceptInvitation => return invitations::accept(deps, &req).await,
        _ => {}
    }
    let caller = auth::authenticate(deps, &req).await?;
    span.record("org", caller.org.as_str());
    span.record("key", caller.actor.to_string());
    match route {
        Route::OpenApi => Ok(json(StatusCode::OK, &openapi::document())),
        Route::Login => sessions::login(deps, &req).await,
        Route::AcceptInvitation => invitations::accept(deps, &req).await,
        Route::GetSession => sessions::whoami(&caller).await,
        Route::Logout => sessions::logout(deps, &caller).await,
        Route::ChangePassword => sessions::change_password(deps, &caller, &req).await,
        Route::GetOrganization => organization::get(deps, &caller).await,
        Route::PatchOrganization => organization::patch(deps, &caller, &req).await,
        Route::ListUsers => users::list(deps, &caller).await,
        Route::PatchUser => users::patch(deps, &caller, &params.id, &req).await,
        Route::DeleteUser => users::remove(deps, &caller, &params.id).await,
        Route::ListInvitations => invitations::list(deps, &caller).await,
        Route::CreateInvitation => invitations::create(deps, &caller, &req).await,
        Route::RevokeInvitation => invitations::revoke(deps, &caller, &params.id).await,
        Route::ListKeys => keys::list(deps, &caller).await,
        Route::CreateKey => keys::create(deps, &caller, &req).await,
        Route::RevokeKey => keys::revoke(deps, &caller, &params.id).await,
        Route::ListAudit => audit::list(deps, &caller, &req).await,
        Route::ListAgents => agents::list(deps, &caller).await,
        Route::GetAgent => agents::get(deps, &caller, &params.id).await,
        Route::PutAgent => agents::put(deps, &caller, &params.id, &req).await,
        Route::ListNumbers => numbers::list(deps, &caller).await,
        Route::ListCalls => calls::list(deps, &caller, &req).await,
        Route::GetCall => calls::get(deps, &caller, &params.id).await,
        Route::PlaceCall => dial::create(deps, &caller, &req).await,
        Route::EndCall => dial::end(deps, &caller, &params.id).await,
        Route::BuyNumber => provisioning::buy(deps, &caller, &req).await,
        Route::ReleaseNumber => provisioning::release(deps, &caller, &params.id).await,
        Route::CreateSubaccount => provisioning::create_subaccount(deps, &caller).await,
        Route::TwilioStatus => provisioning::status(deps, &caller).await,
        Route::ListAnalyzers => analyzers::list(deps, &caller).await,
        Route::GetAnalyzer => analyzers::get(deps, &caller, &params.id).await,
        Route::PutAnalyzer => analyzers::put(deps, &caller, &params.id, &req).await,
        Route::DeleteAnalyzer => analyzers::delete(deps, &caller, &params.id).await,
        Route::GetNumber => numbers::get(deps, &caller, &params.id).await,
        Route::PatchNumber => numbers::patch(deps, &caller, &params.id, &req).await,
        Route::ListContacts => contacts::list(deps, &caller, &req).await,
        Route::GetContact => contacts::get(deps, &caller, &params.id).await,
        Route::PatchContact => contacts::patch(deps, &caller, &params.id, &req).await,
        Route::ListTodos => todos::list(deps, &caller, &req).await,
        Route::CompleteTodo => todos::complete(deps, &caller, &params.id).await,
        Route::PatchTodo => todos::patch(deps, &caller, &params.id, &req).await,
        Route::SendMessage => messages::send(deps, &caller, &req).await,
        Route::CreateCampaign => campaigns::create(deps, &caller, &req).await,
        Route::ListCampaigns => campaigns::list(deps, &caller).await,
        Route::GetCampaign => campaigns::get(deps, &caller, &params.id).await,
        Route::AddCampaignLeads => campaigns::add_leads(deps, &caller, &params.id, &req).await,
        Route::ListCampaignLeads => campaigns::list_leads(deps, &caller, &params.id, &req).await,
        Route::StartCampaign => campaigns::start(deps, &caller, &params.id).await,
        Route::PauseCampaign => campaigns::pause(deps, &caller, &params.id).await,
        Route::ResumeCampaign => campaigns::resume(deps, &caller, &params.id).await,
        Route::CancelCampaign => campaigns::cancel(deps, &caller, &params.id).await,
        Route::ListDoNotCall => campaigns::list_do_not_call(deps, &caller).await,
        Route::AddDoNotCall => campaigns::add_do_not_call(deps, &caller, &req).await,
        Route::RemoveDoNotCall => campaigns::remove_do_not_call(deps, &caller, &params.id).await,
    }
}

/// Where Twilio reports the delivery of texts the API sends: the public base URL
/// (`HOTLINE_PUBLIC_URL`) + `/twilio/sms/status`; none sends without reports, a
/// malformed one is refused.
pub fn status_callback_from(public_url: Option<String>) -> Result<Option<String>, String> {
    match public_url.filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => hotline_core::routes::base_url(&v, &["https", "http"])
            .map(|base| Some(format!("{base}{}", hotline_core::routes::SMS_STATUS)))
            .ok_or_else(|| format!("the public URL must be an absolute http(s) URL, not {v:?}")),
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

/// An empty 204.
pub(crate) fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
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
