//! The routes, in one table: the router, the OpenAPI check and the template all agree
//! with it (tests/main.rs, infra/tests/consistency.py).

use std::sync::LazyLock;

use lambda_http::http::Method;

use crate::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OpenApi,
    ListAgents,
    GetAgent,
    PutAgent,
    ListNumbers,
    ListCalls,
    GetCall,
    PlaceCall,
    EndCall,
    Login,
    GetSession,
    Logout,
    ChangePassword,
    GetOrganization,
    PatchOrganization,
    ListUsers,
    PatchUser,
    DeleteUser,
    ListInvitations,
    CreateInvitation,
    RevokeInvitation,
    AcceptInvitation,
    ListKeys,
    CreateKey,
    RevokeKey,
    ListAudit,
    SendMessage,
    ListContacts,
    GetContact,
    PatchContact,
    ListTodos,
    CompleteTodo,
    PatchTodo,
    BuyNumber,
    ReleaseNumber,
    CreateSubaccount,
    TwilioStatus,
    ListAnalyzers,
    GetAnalyzer,
    PutAnalyzer,
    DeleteAnalyzer,
    GetNumber,
    PatchNumber,
    CreateCampaign,
    ListCampaigns,
    GetCampaign,
    AddCampaignLeads,
    ListCampaignLeads,
    StartCampaign,
    PauseCampaign,
    ResumeCampaign,
    CancelCampaign,
    ListDoNotCall,
    AddDoNotCall,
    RemoveDoNotCall,
}

/// Every route served: method, path (API Gateway's and OpenAPI's `{param}` syntax), route.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/api/v1/openapi.json", Route::OpenApi),
    ("GET", "/api/v1/agents", Route::ListAgents),
    ("GET", "/api/v1/agents/{id}", Route::GetAgent),
    ("PUT", "/api/v1/agents/{id}", Route::PutAgent),
    ("GET", "/api/v1/numbers", Route::ListNumbers),
    ("GET", "/api/v1/calls", Route::ListCalls),
    ("GET", "/api/v1/calls/{sid}", Route::GetCall),
    ("POST", "/api/v1/calls", Route::PlaceCall),
    ("POST", "/api/v1/calls/{sid}/end", Route::EndCall),
    ("POST", "/api/v1/session", Route::Login),
    ("GET", "/api/v1/session", Route::GetSession),
    ("DELETE", "/api/v1/session", Route::Logout),
    ("POST", "/api/v1/session/password", Route::ChangePassword),
    ("GET", "/api/v1/organization", Route::GetOrganization),
    ("PATCH", "/api/v1/organization", Route::PatchOrganization),
    ("GET", "/api/v1/users", Route::ListUsers),
    ("PATCH", "/api/v1/users/{id}", Route::PatchUser),
    ("DELETE", "/api/v1/users/{id}", Route::DeleteUser),
    ("GET", "/api/v1/invitations", Route::ListInvitations),
    ("POST", "/api/v1/invitations", Route::CreateInvitation),
    (
        "DELETE",
        "/api/v1/invitations/{id}",
        Route::RevokeInvitation,
    ),
    (
        "POST",
        "/api/v1/invitations/accept",
        Route::AcceptInvitation,
    ),
    ("GET", "/api/v1/keys", Route::ListKeys),
    ("POST", "/api/v1/keys", Route::CreateKey),
    ("DELETE", "/api/v1/keys/{id}", Route::RevokeKey),
    ("GET", "/api/v1/audit", Route::ListAudit),
    ("POST", "/api/v1/messages", Route::SendMessage),
    ("GET", "/api/v1/contacts", Route::ListContacts),
    ("GET", "/api/v1/contacts/{id}", Route::GetContact),
    ("PATCH", "/api/v1/contacts/{id}", Route::PatchContact),
    ("GET", "/api/v1/todos", Route::ListTodos),
    ("POST", "/api/v1/todos/{id}/complete", Route::CompleteTodo),
    ("PATCH", "/api/v1/todos/{id}", Route::PatchTodo),
    ("POST", "/api/v1/numbers", Route::BuyNumber),
    ("DELETE", "/api/v1/numbers/{e164}", Route::ReleaseNumber),
    ("GET", "/api/v1/numbers/{e164}", Route::GetNumber),
    ("PATCH", "/api/v1/numbers/{e164}", Route::PatchNumber),
    ("POST", "/api/v1/twilio/subaccount", Route::CreateSubaccount),
    ("GET", "/api/v1/twilio/status", Route::TwilioStatus),
    ("GET", "/api/v1/analyzers", Route::ListAnalyzers),
    ("GET", "/api/v1/analyzers/{name}", Route::GetAnalyzer),
    ("PUT", "/api/v1/analyzers/{name}", Route::PutAnalyzer),
    ("DELETE", "/api/v1/analyzers/{name}", Route::DeleteAnalyzer),
    ("POST", "/api/v1/campaigns", Route::CreateCampaign),
    ("GET", "/api/v1/campaigns", Route::ListCampaigns),
    ("GET", "/api/v1/campaigns/{id}", Route::GetCampaign),
    (
        "POST",
        "/api/v1/campaigns/{id}/leads",
        Route::AddCampaignLeads,
    ),
    (
        "GET",
        "/api/v1/campaigns/{id}/leads",
        Route::ListCampaignLeads,
    ),
    ("POST", "/api/v1/campaigns/{id}/start", Route::StartCampaign),
    ("POST", "/api/v1/campaigns/{id}/pause", Route::PauseCampaign),
    (
        "POST",
        "/api/v1/campaigns/{id}/resume",
        Route::ResumeCampaign,
    ),
    (
        "POST",
        "/api/v1/campaigns/{id}/cancel",
        Route::CancelCampaign,
    ),
    ("GET", "/api/v1/do-not-call", Route::ListDoNotCall),
    ("POST", "/api/v1/do-not-call", Route::AddDoNotCall),
    (
        "DELETE",
        "/api/v1/do-not-call/{e164}",
        Route::RemoveDoNotCall,
    ),
];

impl Route {
    /// `METHOD /path`, for logs.
    pub fn key(self) -> &'static str {
        match self {
            Self::OpenApi => "GET /api/v1/openapi.json",
            Self::ListAgents => "GET /api/v1/agents",
            Self::GetAgent => "GET /api/v1/agents/{id}",
            Self::PutAgent => "PUT /api/v1/agents/{id}",
            Self::ListNumbers => "GET /api/v1/numbers",
            Self::ListCalls => "GET /api/v1/calls",
            Self::GetCall => "GET /api/v1/calls/{sid}",
            Self::PlaceCall => "POST /api/v1/calls",
            Self::EndCall => "POST /api/v1/calls/{sid}/end",
            Self::Login => "POST /api/v1/session",
            Self::GetSession => "GET /api/v1/session",
            Self::Logout => "DELETE /api/v1/session",
            Self::ChangePassword => "POST /api/v1/session/password",
            Self::GetOrganization => "GET /api/v1/organization",
            Self::PatchOrganization => "PATCH /api/v1/organization",
            Self::ListUsers => "GET /api/v1/users",
            Self::PatchUser => "PATCH /api/v1/users/{id}",
            Self::DeleteUser => "DELETE /api/v1/users/{id}",
            Self::ListInvitations => "GET /api/v1/invitations",
            Self::CreateInvitation => "POST /api/v1/invitations",
            Self::RevokeInvitation => "DELETE /api/v1/invitations/{id}",
            Self::AcceptInvitation => "POST /api/v1/invitations/accept",
            Self::ListKeys => "GET /api/v1/keys",
            Self::CreateKey => "POST /api/v1/keys",
            Self::RevokeKey => "DELETE /api/v1/keys/{id}",
            Self::ListAudit => "GET /api/v1/audit",
            Self::SendMessage => "POST /api/v1/messages",
            Self::ListContacts => "GET /api/v1/contacts",
            Self::GetContact => "GET /api/v1/contacts/{id}",
            Self::PatchContact => "PATCH /api/v1/contacts/{id}",
            Self::ListTodos => "GET /api/v1/todos",
            Self::CompleteTodo => "POST /api/v1/todos/{id}/complete",
            Self::PatchTodo => "PATCH /api/v1/todos/{id}",
            Self::BuyNumber => "POST /api/v1/numbers",
            Self::ReleaseNumber => "DELETE /api/v1/numbers/{e164}",
            Self::CreateSubaccount => "POST /api/v1/twilio/subaccount",
            Self::TwilioStatus => "GET /api/v1/twilio/status",
            Self::ListAnalyzers => "GET /api/v1/analyzers",
            Self::GetAnalyzer => "GET /api/v1/analyzers/{name}",
            Self::PutAnalyzer => "PUT /api/v1/analyzers/{name}",
            Self::DeleteAnalyzer => "DELETE /api/v1/analyzers/{name}",
            Self::GetNumber => "GET /api/v1/numbers/{e164}",
            Self::PatchNumber => "PATCH /api/v1/numbers/{e164}",
            Self::CreateCampaign => "POST /api/v1/campaigns",
            Self::ListCampaigns => "GET /api/v1/campaigns",
            Self::GetCampaign => "GET /api/v1/campaigns/{id}",
            Self::AddCampaignLeads => "POST /api/v1/campaigns/{id}/leads",
            Self::ListCampaignLeads => "GET /api/v1/campaigns/{id}/leads",
            Self::StartCampaign => "POST /api/v1/campaigns/{id}/start",
            Self::PauseCampaign => "POST /api/v1/campaigns/{id}/pause",
            Self::ResumeCampaign => "POST /api/v1/campaigns/{id}/resume",
            Self::CancelCampaign => "POST /api/v1/campaigns/{id}/cancel",
            Self::ListDoNotCall => "GET /api/v1/do-not-call",
            Self::AddDoNotCall => "POST /api/v1/do-not-call",
            Self::RemoveDoNotCall => "DELETE /api/v1/do-not-call/{e164}",
        }
    }
}

/// The path's one parameter, when it has one (still untrusted: each handler parses it).
#[derive(Debug, Default)]
pub struct Params {
    pub id: String,
}

/// Paths to their first index in [`ROUTES`], built once.
static ROUTER: LazyLock<matchit::Router<usize>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    for (i, (_, pattern, _)) in ROUTES.iter().enumerate() {
        // A pattern shared by two methods is inserted once (the second insert is refused);
        // the first index stands for it.
        let _ = router.insert(*pattern, i);
    }
    router
});

/// The route for `method` on `path`: 404 for an unknown path, 405 for a known path and
/// another method.
pub fn resolve(method: &Method, path: &str) -> Result<(Route, Params), ApiError> {
    let matched = ROUTER
        .at(path)
        .map_err(|_| ApiError::NoRoute(path.chars().take(200).collect()))?;
    let pattern = ROUTES[*matched.value].1;
    let id = matched
        .params
        .iter()
        .next()
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    ROUTES
        .iter()
        .find(|(m, p, _)| *p == pattern && *m == method.as_str())
        .map(|(_, _, route)| (*route, Params { id }))
        .ok_or(ApiError::MethodNotAllowed)
}
