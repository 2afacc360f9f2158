//! Outbound campaigns (`/api/v1/campaigns…`) and the organization's do-not-call list
//! (`/api/v1/do-not-call…`). The rules are `hotline_core::campaign`'s; these handlers
//! parse, check the caller's organization owns what is named, call, and render.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use hotline_core::campaign::import::{
    CsvMapping, LeadInput, MAX_LEADS_PER_IMPORT, RowError, build_leads, parse_csv,
};
use hotline_core::campaign::{
    AttemptOutcome, CallerIdMode, Campaign, CampaignAction, CampaignState, Lead, LeadCounts,
    LeadState, LeadStateKind, RetryOn, RetryPolicy, Window,
};
use hotline_core::ports::{Created, StoreError};
use hotline_core::{AgentId, E164};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::query::{QueryParams, encode_cursor};
use crate::{Deps, json, no_content};

/// Largest leads upload (JSON or CSV).
const MAX_LEADS_BODY: usize = 4 * 1024 * 1024;
/// Leads read per store page when counting.
const COUNT_PAGE: usize = 1000;

/// A retry policy as sent.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// Attempts in all, the first included (1 to 20).
    pub max_attempts: u32,
    /// Seconds from an attempt's end to the next attempt (any positive number).
    pub cooldown_secs: u64,
    /// Outcomes tried again: `busy`, `no-answer`, `failed`, `canceled`, `voicemail`.
    #[serde(default)]
    pub retry_on: Vec<String>,
}

/// A calling window as sent: local times in each lead's zone.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`; before `start`, the window spans midnight.
    pub end: String,
    /// `mon` … `sun`; every day when empty.
    #[serde(default)]
    pub days: Vec<String>,
}

/// A campaign to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignCreate {
    pub name: String,
    /// The agent that talks.
    pub agent: String,
    /// The organization's numbers the calls come from (E.164).
    pub caller_ids: Vec<String>,
    /// `round_robin` (default) or `per_lead` (a lead's `caller_id`).
    #[serde(default)]
    pub caller_id_mode: Option<String>,
    /// Default: 3 attempts, 3600 s, busy/no-answer/failed.
    #[serde(default)]
    pub retry: Option<RetryBody>,
    /// Default 09:00-17:00 every day.
    #[serde(default)]
    pub window: Option<WindowBody>,
    /// Most calls live at once (default 1, at most 100).
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// Most calls placed per second (default 1, at most 30; Twilio's default is 1).
    #[serde(default)]
    pub calls_per_second: Option<u32>,
    /// Answering-machine detection (default true): voicemail is left after the beep.
    #[serde(default)]
    pub machine_detection: Option<bool>,
    /// Leads to add at once (more with `POST /api/v1/campaigns/{id}/leads`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub leads: Vec<LeadInput>,
}

/// A campaign, with its leads counted by state and outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignOut {
    pub id: String,
    pub name: String,
    pub agent: String,
    pub caller_ids: Vec<String>,
    pub caller_id_mode: String,
    pub retry: RetryBody,
    pub window: WindowBody,
    pub max_concurrent: u32,
    pub calls_per_second: u32,
    pub machine_detection: bool,
    /// `draft`, `running`, `paused`, `cancelled`, `completed`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// Leads by state (`pending`, `dialing`, `retry_at`, `finished`, `opted_out`) and
    /// finished leads by outcome; only on `GET /api/v1/campaigns/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub counts: Option<LeadCounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignOut>,
}

/// What an import did: every row is imported or reported, never dropped.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadsImported {
    pub imported: usize,
    /// Rows not imported, by line (CSV; 1 is the header) or 1-based index (JSON).
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<RowError>,
}

/// A campaign created, with its leads' import.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignCreated {
    pub campaign: CampaignOut,
    pub leads: LeadsImported,
}

/// One attempt at a lead.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub call_sid: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// A lead with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadOut {
    pub id: String,
    pub phone: String,
    pub name: Option<String>,
    pub timezone: String,
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, String>,
    pub state: String,
    /// When a lead in `retry_at` is called again.
    pub retry_at: Option<DateTime<Utc>>,
    /// A finished lead's outcome.
    pub outcome: Option<String>,
    pub attempts: Vec<AttemptOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadPage {
    pub leads: Vec<LeadOut>,
    pub next_cursor: Option<String>,
}

/// A number for the do-not-call list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoNotCallBody {
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoNotCallList {
    pub numbers: Vec<String>,
}

fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn view(c: &Campaign, counts: Option<LeadCounts>) -> CampaignOut {
    CampaignOut {
        id: c.id.clone(),
        name: c.name.clone(),
        agent: c.agent.to_string(),
        caller_ids: c.caller_ids.iter().map(ToString::to_string).collect(),
        caller_id_mode: word(&c.caller_id_mode),
        retry: RetryBody {
            max_attempts: c.retry.max_attempts,
            cooldown_secs: c.retry.cooldown_secs,
            retry_on: c.retry.retry_on.iter().map(word).collect(),
        },
        window: WindowBody {
            start: c.window.start.format("%H:%M").to_string(),
            end: c.window.end.format("%H:%M").to_string(),
            days: c
                .window
                .days
                .iter()
                .map(|d| d.to_string().to_lowercase())
                .collect(),
        },
        max_concurrent: c.max_concurrent,
        calls_per_second: c.calls_per_second,
        machine_detection: c.machine_detection,
        state: word(&c.state),
        created_at: c.created_at,
        counts,
    }
}

fn lead_view(l: &Lead) -> LeadOut {
    LeadOut {
        id: l.id.clone(),
        phone: l.phone.to_string(),
        name: l.name.clone(),
        timezone: l.timezone.name().to_owned(),
        variables: l.variables.clone(),
        state: l.state.kind().as_str().to_owned(),
        retry_at: match l.state {
            LeadState::RetryAt { at } => Some(at),
            _ => None,
        },
        outcome: match l.state {
            LeadState::Finished { outcome } => Some(word(&outcome)),
            LeadState::OptedOut => Some(word(&AttemptOutcome::OptedOut)),
            _ => None,
        },
        attempts: l
            .attempts
            .iter()
            .map(|a| AttemptOut {
                call_sid: a.call_sid.as_ref().map(ToString::to_string),
                started: a.started,
                ended: a.ended,
                outcome: a.outcome.as_ref().map(word),
            })
            .collect(),
    }
}

fn bad(field: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{field}: {e}"))
}

fn retry_policy(body: Option<RetryBody>) -> Result<RetryPolicy, ApiError> {
    let Some(body) = body else {
        return Ok(RetryPolicy::default());
    };
    let retry_on = body
        .retry_on
        .iter()
        .map(|s| {
            RetryOn::parse(s.trim()).ok_or_else(|| {
                bad(
                    "retry.retry_on",
                    "each one of busy, no-answer, failed, canceled, voicemail",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(RetryPolicy {
        max_attempts: body.max_attempts,
        cooldown_secs: body.cooldown_secs,
        retry_on,
    })
}

fn window(body: Option<WindowBody>) -> Result<Window, ApiError> {
    let Some(body) = body else {
        return Ok(Window::default());
    };
    let time = |field: &str, v: &str| {
        NaiveTime::parse_from_str(v.trim(), "%H:%M").map_err(|_| bad(field, "HH:MM"))
    };
    let days = body
        .days
        .iter()
        .map(|d| {
            d.trim()
                .parse::<Weekday>()
                .map_err(|_| bad("window.days", "mon, tue, wed, thu, fri, sat, sun"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Window {
        start: time("window.start", &body.start)?,
        end: time("window.end", &body.end)?,
        days,
    })
}

/// The caller's campaign `id`; another organization's is not found either.
async fn owned(deps: &Deps, caller: &Caller, id: &str) -> Result<Campaign, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "campaign {}",
            id.chars().take(64).collect::<String>()
        ))
    };
    if !id.starts_with("cp_") || id.len() > 64 {
        return Err(not_found());
    }
    deps.campaigns
        .get_campaign(&caller.org, id)
        .await?
        .ok_or_else(not_found)
}

/// Imports `rows` into `campaign`: each row imported or reported with its line.
async fn import(
    deps: &Deps,
    campaign: &Campaign,
    rows: Vec<(u64, LeadInput)>,
    mut errors: Vec<RowError>,
) -> Result<LeadsImported, ApiError> {
    if rows.len() > MAX_LEADS_PER_IMPORT {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_LEADS_PER_IMPORT} leads per request"
        )));
    }
    let lines: BTreeMap<String, u64> = rows
        .iter()
        .filter_map(|(line, row)| {
            E164::parse(row.phone.trim())
                .ok()
                .map(|p| (Lead::id_for(&p), *line))
        })
        .collect();
    let (leads, refused) = build_leads(campaign, rows);
    errors.extend(refused);
    let mut imported = 0;
    for (lead, created) in leads.iter().zip(deps.campaigns.add_leads(&leads).await?) {
        match created {
            Created::New(_) => imported += 1,
            Created::Existing(_) => errors.push(RowError {
                line: lines.get(&lead.id).copied().unwrap_or(0),
                error: format!("{} is already in this campaign", lead.phone.redacted()),
            }),
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(LeadsImported { imported, errors })
}

/// Creates a campaign (a draft: `POST …/start` starts it), with leads if given.
#[utoipa::path(post, path = "/api/v1/campaigns", operation_id = "createCampaign", tag = "campaigns",
    security(("bearer" = [])),
    request_body = CampaignCreate,
    responses(
        (status = 201, body = CampaignCreated),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: CampaignCreate = json_body(req)?;
    let agent = AgentId::parse(body.agent.trim()).map_err(|e| bad("agent", e))?;
    match deps.directory.get_agent(&caller.org, &agent).await? {
        Some(_) => {}
        None => {
            return Err(bad(
                "agent",
                format!("no agent {agent} in this organization"),
            ));
        }
    }
    let mut caller_ids = Vec::new();
    for raw in &body.caller_ids {
        let n = E164::parse(raw.trim()).map_err(|e| bad("caller_ids", e))?;
        match deps.directory.get_number(&n).await? {
            Some(owned) if owned.org == caller.org && owned.enabled => caller_ids.push(n),
            _ => {
                return Err(bad(
                    "caller_ids",
                    format!("{n} is not one of this organization's numbers"),
                ));
            }
        }
    }
    let caller_id_mode = match body.caller_id_mode.as_deref().map(str::trim) {
        None | Some("round_robin") => CallerIdMode::RoundRobin,
        Some("per_lead") => CallerIdMode::PerLead,
        Some(_) => return Err(bad("caller_id_mode", "round_robin or per_lead")),
    };
    let campaign = Campaign {
        id: Campaign::new_id(),
        org: caller.org.clone(),
        name: body.name.trim().to_owned(),
        agent,
        caller_ids,
        caller_id_mode,
        retry: retry_policy(body.retry)?,
        window: window(body.window)?,
        max_concurrent: body.max_concurrent.unwrap_or(1),
        calls_per_second: body.calls_per_second.unwrap_or(1),
        machine_detection: body.machine_detection.unwrap_or(true),
        state: CampaignState::Draft,
        created_at: deps.auth.now(),
        version: 0,
    };
    campaign.validate().map_err(ApiError::BadRequest)?;
    let campaign = deps
        .campaigns
        .create_campaign(&campaign)
        .await?
        .into_inner();
    let rows = body
        .leads
        .into_iter()
        .enumerate()
        .map(|(i, row)| (i as u64 + 1, row))
        .collect();
    let leads = import(deps, &campaign, rows, Vec::new()).await?;
    crate::audit::record(
        deps,
        caller,
        "campaign.create",
        &format!("campaign {}", campaign.id),
        None,
        Some(serde_json::json!({
            "name": campaign.name, "agent": campaign.agent, "leads": leads.imported,
        })),
    )
    .await;
    Ok(json(
        StatusCode::CREATED,
        &CampaignCreated {
            campaign: view(&campaign, None),
            leads,
        },
    ))
}

/// The organization's campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", operation_id = "listCampaigns", tag = "campaigns",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CampaignList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let campaigns = deps.campaigns.list_campaigns(&caller.org).await?;
    Ok(json(
        StatusCode::OK,
        &CampaignList {
            campaigns: campaigns.iter().map(|c| view(c, None)).collect(),
        },
    ))
}

/// A campaign with its leads counted by state and by outcome.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", operation_id = "getCampaign", tag = "campaigns",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id (`cp_…`)")),
    responses(
        (status = 200, body = CampaignOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    let campaign = owned(deps, caller, id).await?;
    let mut counts = LeadCounts::default();
    let mut after: Option<String> = None;
    loop {
        let page = deps
            .campaigns
            .list_leads(&campaign.id, None, after.as_deref(), COUNT_PAGE)
            .await?;
        page.iter().for_each(|l| counts.add(l));
        match page.last() {
            Some(last) if page.len() == COUNT_PAGE => after = Some(last.id.clone()),
            _ => break,
        }
    }
    Ok(json(StatusCode::OK, &view(&campaign, Some(counts))))
}

/// Adds leads: JSON (`[{phone, name?, timezone?, caller_id?, variables?}]`) or CSV
/// (`Content-Type: text/csv`, the columns named in the query: `phone` (default
/// `phone`), `name`, `timezone`, `caller_id`; every other column becomes a variable).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/leads", operation_id = "addCampaignLeads", tag = "campaigns",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id"),
        ("phone" = Option<String>, Query, description = "CSV: the phone number's column"),
        ("name" = Option<String>, Query, description = "CSV: the name's column"),
        ("timezone" = Option<String>, Query, description = "CSV: the IANA zone's column; inferred from the number when absent"),
        ("caller_id" = Option<String>, Query, description = "CSV: the lead's caller ID's column")),
    request_body(content = Vec<Object>, description = "JSON leads, or a CSV file as text/csv"),
    responses(
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 200, body = LeadsImported),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The campaign is cancelled or completed", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_leads(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let campaign = owned(deps, caller, id).await?;
    if matches!(
        campaign.state,
        CampaignState::Cancelled | CampaignState::Completed
    ) {
        return Err(ApiError::Conflict(format!(
            "the campaign is {}: no leads can be added",
            word(&campaign.state)
        )));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_LEADS_BODY {
        return Err(ApiError::BadRequest(format!(
            "body over {MAX_LEADS_BODY} bytes"
        )));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (rows, errors) = match content_type.as_str() {
        "text/csv" => {
            let q = QueryParams::of(req);
            let mapping = CsvMapping {
                phone: q.first("phone").unwrap_or("phone").to_owned(),
                name: q.first("name").map(str::to_owned),
                timezone: q.first("timezone").map(str::to_owned),
                caller_id: q.first("caller_id").map(str::to_owned),
            };
            parse_csv(bytes, &mapping).map_err(ApiError::BadRequest)?
        }
        "application/json" => {
            let rows: Vec<LeadInput> = serde_json::from_slice(bytes).map_err(|e| bad("body", e))?;
            let rows = rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r))
                .collect();
            (rows, Vec::new())
        }
        _ => {
            return Err(ApiError::Unsupported(
                "send the leads as application/json or text/csv".into(),
            ));
        }
    };
    let imported = import(deps, &campaign, rows, errors).await?;
    crate::audit::record(
        deps,
        caller,
        "campaign.leads.add",
        &format!("campaign {}", campaign.id),
        None,
        Some(serde_json::json!({
            "imported": imported.imported, "refused": imported.errors.len(),
        })),
    )
    .await;
    Ok(json(StatusCode::OK, &imported))
}

/// A page of the campaign's leads with their attempts, optionally in one state.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/leads", operation_id = "listCampaignLeads", tag = "campaigns",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The campaign's id"),
        ("state" = Option<String>, Query, description = "pending, dialing, retry_at, finished or opted_out"),
        ("limit" = Option<usize>, Query, description = "1 to 100, default 25"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 200, body = LeadPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_leads(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let campaign = owned(deps, caller, id).await?;
    let q = QueryParams::of(req);
    let state = q
        .first("state")
        .map(|s| {
            LeadStateKind::parse(s)
                .ok_or_else(|| bad("state", "pending, dialing, retry_at, finished or opted_out"))
        })
        .transpose()?;
    let limit = q.limit()?;
    let after = q.cursor()?;
    let leads = deps
        .campaigns
        .list_leads(&campaign.id, state, after.as_deref(), limit)
        .await?;
    let next_cursor = (leads.len() == limit)
        .then(|| leads.last().map(|l| encode_cursor(&l.id)))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &LeadPage {
            leads: leads.iter().map(lead_view).collect(),
            next_cursor,
        },
    ))
}

/// Starts, pauses, resumes or cancels a campaign.
pub async fn act(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    action: CampaignAction,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let mut campaign = owned(deps, caller, id).await?;
    let before = word(&campaign.state);
    campaign.apply(action).map_err(ApiError::Conflict)?;
    let campaign = match deps.campaigns.update_campaign(&campaign).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "the campaign changed meanwhile (the dialer may have completed it); read it and try again".into(),
            ));
        }
        other => other?,
    };
    crate::audit::record(
        deps,
        caller,
        &format!("campaign.{}", format!("{action:?}").to_lowercase()),
        &format!("campaign {}", campaign.id),
        Some(serde_json::json!({ "state": before })),
        Some(serde_json::json!({ "state": word(&campaign.state) })),
    )
    .await;
    Ok(json(StatusCode::OK, &view(&campaign, None)))
}

macro_rules! action_doc {
    ($name:ident, $path:literal, $op:literal, $action:ident, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, operation_id = $op, tag = "campaigns",
            security(("bearer" = [])),
            params(("id" = String, Path, description = "The campaign's id")),
            responses(
                (status = 401, body = Problem, content_type = "application/problem+json"),
                (status = 200, body = CampaignOut),
                (status = 403, body = Problem, content_type = "application/problem+json"),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The campaign's state does not allow it", body = Problem, content_type = "application/problem+json"),
            ))]
        pub async fn $name(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
            act(deps, caller, id, CampaignAction::$action).await
        }
    };
}

action_doc!(
    start,
    "/api/v1/campaigns/{id}/start",
    "startCampaign",
    Start,
    "Starts a draft campaign: the dialer calls its leads."
);
action_doc!(
    pause,
    "/api/v1/campaigns/{id}/pause",
    "pauseCampaign",
    Pause,
    "Pauses a running campaign: calls under way finish, no new ones start."
);
action_doc!(
    resume,
    "/api/v1/campaigns/{id}/resume",
    "resumeCampaign",
    Resume,
    "Resumes a paused campaign."
);
action_doc!(
    cancel,
    "/api/v1/campaigns/{id}/cancel",
    "cancelCampaign",
    Cancel,
    "Cancels a campaign for good."
);

/// The organization's do-not-call list.
#[utoipa::path(get, path = "/api/v1/do-not-call", operation_id = "listDoNotCall", tag = "campaigns",
    security(("bearer" = [])),
    responses(
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 200, body = DoNotCallList),
    ))]
pub async fn list_do_not_call(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let numbers = deps.campaigns.list_do_not_call(&caller.org).await?;
    Ok(json(
        StatusCode::OK,
        &DoNotCallList {
            numbers: numbers.iter().map(ToString::to_string).collect(),
        },
    ))
}

/// Adds a number to the do-not-call list: no campaign dials it again.
#[utoipa::path(post, path = "/api/v1/do-not-call", operation_id = "addDoNotCall", tag = "campaigns",
    security(("bearer" = [])),
    request_body = DoNotCallBody,
    responses(
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Listed"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_do_not_call(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let body: DoNotCallBody = json_body(req)?;
    let phone = E164::parse(body.phone.trim()).map_err(|e| bad("phone", e))?;
    deps.campaigns
        .add_do_not_call(&caller.org, &phone, deps.auth.now())
        .await?;
    crate::audit::record(
        deps,
        caller,
        "do_not_call.add",
        &format!("number {}", phone.redacted()),
        None,
        None,
    )
    .await;
    Ok(no_content())
}

/// Takes a number off the do-not-call list.
#[utoipa::path(delete, path = "/api/v1/do-not-call/{e164}", operation_id = "removeDoNotCall", tag = "campaigns",
    security(("bearer" = [])),
    params(("e164" = String, Path, description = "The number, E.164 (`+` as `%2B`)")),
    responses(
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_do_not_call(
    deps: &Deps,
    caller: &Caller,
    raw: &str,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let phone = crate::provisioning::path_number(raw)?;
    if !deps
        .campaigns
        .remove_do_not_call(&caller.org, &phone)
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "{} on the do-not-call list",
            phone.redacted()
        )));
    }
    crate::audit::record(
        deps,
        caller,
        "do_not_call.remove",
        &format!("number {}", phone.redacted()),
        None,
        None,
    )
    .await;
    Ok(no_content())
}
