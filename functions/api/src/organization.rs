//! `/api/v1/organization`: the caller's organization and its report settings. The report
//! webhook's secret is write-only: answers only say whether one is set.

use hotline_core::people::normalize_email;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use hotline_core::model::Organization;

use crate::agents::json_body;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::views::AnalyzerBody;
use crate::{Deps, audit, json};

#[derive(Serialize, ToSchema)]
pub struct OrganizationOut {
    pub id: String,
    pub name: String,
    pub report_emails: Vec<String>,
    pub report_webhook_url: Option<String>,
    /// Whether reports are signed with a secret (which is never shown).
    pub report_webhook_secret_set: bool,
    pub delete_twilio_recordings: bool,
    /// What a number bought through the API runs beside its agent's analyzers
    /// (also `/api/v1/analyzers`).
    pub default_analyzers: Vec<AnalyzerBody>,
    pub version: u64,
}

/// The fields to change; absent ones stay. `null` clears the webhook URL or secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub report_emails: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub report_webhook_url: Option<Option<String>>,
    /// Write-only: 16 to 256 characters, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub report_webhook_secret: Option<Option<String>>,
    pub delete_twilio_recordings: Option<bool>,
    /// Replaces the default analyzers (`[]` clears them).
    pub default_analyzers: Option<Vec<AnalyzerBody>>,
}

/// Absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub(crate) fn nullable<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub(crate) fn view(org: &Organization) -> OrganizationOut {
    OrganizationOut {
        id: org.id.to_string(),
        name: org.name.clone(),
        report_emails: org.settings.report_emails.clone(),
        report_webhook_url: org.settings.report_webhook_url.clone(),
        report_webhook_secret_set: org.settings.report_webhook_secret.is_some(),
        delete_twilio_recordings: org.settings.delete_twilio_recordings,
        default_analyzers: org
            .settings
            .default_analyzers
            .iter()
            .map(crate::analyzers::body)
            .collect(),
        version: org.version,
    }
}

/// The caller's organization (404 if it is gone).
pub(crate) async fn load(deps: &Deps, caller: &Caller) -> Result<Organization, ApiError> {
    deps.directory
        .get_org(&caller.org)
        .await?
        .filter(|o| o.id == caller.org)
        .ok_or_else(|| ApiError::NotFound(format!("organization {}", caller.org)))
}

/// The caller's organization.
#[utoipa::path(get, path = "/api/v1/organization", operation_id = "getOrganization", tag = "organization",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = OrganizationOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller) -> Result<Response<Body>, ApiError> {
    Ok(json(StatusCode::OK, &view(&load(deps, caller).await?)))
}

/// Changes the organization's name and report settings.
#[utoipa::path(patch, path = "/api/v1/organization", operation_id = "patchOrganization", tag = "organization",
    security(("bearer" = []), ("session" = [])),
    request_body = OrganizationPatch,
    responses(
        (status = 200, body = OrganizationOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    deps: &Deps,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let patch: OrganizationPatch = json_body(req)?;
    let mut org = load(deps, caller).await?;
    let before = view(&org);
    if let Some(name) = patch.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::BadRequest("name: 1 to 200 characters".into()));
        }
        name.clone_into(&mut org.name);
    }
    if let Some(emails) = patch.report_emails {
        if emails.len() > 20 {
            return Err(ApiError::BadRequest("report_emails: at most 20".into()));
        }
        org.settings.report_emails = emails
            .iter()
            .map(|e| {
                normalize_email(e).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "report_emails: {:?} is not an e-mail address",
                        e.chars().take(64).collect::<String>()
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(url) = patch.report_webhook_url {
        if let Some(url) = &url {
            let ok = url.len() <= 2000
                && url
                    .strip_prefix("https://")
                    .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(ApiError::BadRequest(
                    "report_webhook_url: an https:// URL, at most 2000 characters".into(),
                ));
            }
        }
        org.settings.report_webhook_url = url;
    }
    if let Some(secret) = patch.report_webhook_secret {
        if let Some(secret) = &secret
            && !(16..=256).contains(&secret.chars().count())
        {
            return Err(ApiError::BadRequest(
                "report_webhook_secret: 16 to 256 characters".into(),
            ));
        }
        org.settings.report_webhook_secret = secret.map(SecretString::from);
    }
    if let Some(delete) = patch.delete_twilio_recordings {
        org.settings.delete_twilio_recordings = delete;
    }
    if let Some(analyzers) = patch.default_analyzers {
        let analyzers: Vec<_> = analyzers
            .into_iter()
            .map(crate::analyzers::from_body)
            .collect();
        crate::analyzers::check(&analyzers, "default_analyzers")?;
        org.settings.default_analyzers = analyzers;
    }
    if org.settings.report_webhook_url.is_some() && org.settings.report_webhook_secret.is_none() {
        // Reports are never sent unsigned.
        return Err(ApiError::BadRequest(
            "report_webhook_url needs a report_webhook_secret to sign the reports".into(),
        ));
    }
    // Over the version read: a subaccount made meanwhile is never undone by a settings edit.
    let written = deps.directory.update_org(&org).await?;
    let after = view(&written);
    audit::record(
        deps,
        caller,
        "organization.update",
        &format!("organization {}", caller.org),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    )
    .await;
    Ok(json(StatusCode::OK, &after))
}
