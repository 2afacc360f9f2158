//! Settings: report e-mails, the report webhook (its secret shown once), API keys, users
//! and roles, and the audit log.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::{ApiOut, Ctx, Form, enc};
use super::html::{Errors, Field, checkbox, copy_button, csrf, form_status, layout, or_dash, when};
use super::{PREFIX, Page, page_response, redirect};

const ROLES: &str = "viewer=Viewer (reads only)|admin=Admin|owner=Owner";

/// Which form the errors belong to, and a secret to show this once.
#[derive(Default)]
struct State {
    reports: Errors,
    webhook: Errors,
    keys: Errors,
    invite: Errors,
    users: Errors,
    /// (what, secret): a webhook secret, an API key or an invitation link.
    once: Option<(String, String)>,
    note: Option<String>,
}

/// A list only owners and admins may read: its JSON, or `None` for a viewer.
async fn admin_list(ctx: &Ctx<'_>, path: &str) -> Result<Option<Value>, super::Fail> {
    let out: ApiOut = ctx.call(Method::GET, path, None, None).await;
    match out.status {
        s if s.is_success() => Ok(Some(out.body)),
        StatusCode::FORBIDDEN => Ok(None),
        StatusCode::UNAUTHORIZED => Err(super::Fail::SignIn),
        s => Err(super::Fail::Problem(s, out.detail())),
    }
}

fn admins_only() -> Markup {
    html! { p.hint { "Only owners and admins see this." } }
}

async fn render(ctx: &Ctx<'_>, st: State, status: StatusCode) -> Page {
    let s = ctx.session()?;
    let org = ctx.get("/api/v1/organization").await?;
    let keys = admin_list(ctx, "/api/v1/keys").await?;
    let users = admin_list(ctx, "/api/v1/users").await?;
    let invitations = admin_list(ctx, "/api/v1/invitations").await?;
    let audit = admin_list(ctx, "/api/v1/audit?limit=50").await?;
    let emails = org["report_emails"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let w = !s.may_write();
    let markup = layout(
        Some(s),
        "settings",
        "Settings",
        html! {
            @if let Some(n) = &st.note { p.saved role="status" { (n) } }
            @if let Some((what, secret)) = &st.once {
                section.once role="status" aria-labelledby="once-title" {
                    h2 #once-title { (what) }
                    p { "Copy it now: it is shown this once and never again." }
                    code #once-secret { (secret) }
                    (copy_button("once-secret", what))
                }
            }
            section aria-labelledby="reports-title" {
                h2 #reports-title { "Call reports" }
                form.card method="post" action={ (PREFIX) "/settings/reports" } novalidate {
                    (form_status(&st.reports, None))
                    (csrf(s))
                    fieldset disabled[w] {
                        legend.visually-hidden { "Report e-mails" }
                        (Field::new("reports", "report_emails", "Report e-mails", &emails).hint("Comma-separated; a report of every call goes to each.").render(&st.reports))
                        (checkbox("reports", "delete_twilio_recordings", "Delete recordings from Twilio once hotline has its copy", org["delete_twilio_recordings"].as_bool().unwrap_or(false)))
                        button type="submit" { "Save reports" }
                    }
                }
                form.card method="post" action={ (PREFIX) "/settings/webhook" } novalidate {
                    (form_status(&st.webhook, None))
                    (csrf(s))
                    fieldset disabled[w] {
                        legend.visually-hidden { "Report webhook" }
                        (Field::new("webhook", "report_webhook_url", "Report webhook URL", org["report_webhook_url"].as_str().unwrap_or_default())
                            .kind("url").hint("https:// only. Saving makes a new signing secret, shown once. Empty: no webhook.").render(&st.webhook))
                        p.hint { "Signing secret: " (if org["report_webhook_secret_set"].as_bool().unwrap_or(false) { "set" } else { "none" }) }
                        button type="submit" { "Save webhook" }
                    }
                }
            }
            section aria-labelledby="keys-title" {
                h2 #keys-title { "API keys" }
                @match &keys {
                    None => { (admins_only()) }
                    Some(keys) => {
                        (form_status(&st.keys, None))
                        ul.plain {
                            @for k in keys["keys"].as_array().into_iter().flatten() {
                                @let id = k["id"].as_str().unwrap_or_default();
                                li {
                                    strong { (k["name"].as_str().unwrap_or_default()) } " · " (k["role"].as_str().unwrap_or_default())
                                    " · made " (when(&k["created_at"]))
                                    @if k["revoked_at"].is_string() { " · " span.badge.off { "revoked" } }
                                    @else {
                                        form.inline method="post" action={ (PREFIX) "/settings/keys/" (enc(id)) "/revoke" } {
                                            (csrf(s))
                                            button type="submit" disabled[w] aria-label={ "Revoke the key " (k["name"].as_str().unwrap_or_default()) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                        form.card method="post" action={ (PREFIX) "/settings/keys" } novalidate {
                            (csrf(s))
                            fieldset disabled[w] {
                                legend { "A new key" }
                                (Field::new("keys", "name", "Name", "").required().render(&st.keys))
                                (Field::new("keys", "role", "Role", "viewer").kind(&format!("select:{ROLES}")).render(&st.keys))
                                button type="submit" { "Create key" }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="users-title" {
                h2 #users-title { "Users and roles" }
                @match &users {
                    None => { (admins_only()) }
                    Some(users) => {
                        (form_status(&st.users, None))
                        ul.plain {
                            @for u in users["users"].as_array().into_iter().flatten() {
                                @let id = u["id"].as_str().unwrap_or_default();
                                @let fid = format!("user-{}", id.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
                                li {
                                    form.inline method="post" action={ (PREFIX) "/settings/users/" (enc(id)) "/role" } {
                                        (csrf(s))
                                        span { (u["email"].as_str().unwrap_or_default()) " " }
                                        label for=(fid) { "Role" }
                                        select id=(fid) name="role" disabled[w] {
                                            @for (value, text) in ROLES.split('|').filter_map(|o| o.split_once('=')) {
                                                option value=(value) selected[u["role"] == value] { (text) }
                                            }
                                        }
                                        button type="submit" disabled[w] { "Change role" }
                                    }
                                }
                            }
                        }
                        @if let Some(inv) = &invitations {
                            @let pending: Vec<&Value> = inv["invitations"].as_array().into_iter().flatten().filter(|i| i["state"] == "pending").collect();
                            @if !pending.is_empty() {
                                h3 { "Invitations waiting" }
                                ul.plain {
                                    @for i in pending {
                                        li { (i["email"].as_str().unwrap_or_default()) " · " (i["role"].as_str().unwrap_or_default()) " · until " (when(&i["expires_at"])) }
                                    }
                                }
                            }
                        }
                        form.card method="post" action={ (PREFIX) "/settings/invitations" } novalidate {
                            (form_status(&st.invite, None))
                            (csrf(s))
                            fieldset disabled[w] {
                                legend { "Invite someone" }
                                (Field::new("invite", "email", "E-mail", "").kind("email").required().render(&st.invite))
                                (Field::new("invite", "role", "Role", "viewer").kind(&format!("select:{ROLES}")).render(&st.invite))
                                button type="submit" { "Invite" }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="audit-title" {
                h2 #audit-title { "Audit log" }
                @match &audit {
                    None => { (admins_only()) }
                    Some(audit) => {
                        table.audit {
                            caption.visually-hidden { "The latest 50 changes" }
                            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "On" } } }
                            tbody {
                                @for e in audit["entries"].as_array().into_iter().flatten() {
                                    tr {
                                        td data-label="When" { (when(&e["at"])) }
                                        td data-label="Who" { (or_dash(e["actor"].as_str())) }
                                        td data-label="What" { (or_dash(e["action"].as_str())) }
                                        td data-label="On" { (or_dash(e["target"].as_str())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(page_response(status, markup))
}

pub async fn page(ctx: &Ctx<'_>, req: &Request) -> Page {
    let q = Form::query(req);
    let note = match q.get("done") {
        "reports" => Some("Report settings saved.".to_owned()),
        "revoked" => Some("Key revoked.".to_owned()),
        "role" => Some("Role changed.".to_owned()),
        _ => None,
    };
    render(
        ctx,
        State {
            note,
            ..State::default()
        },
        StatusCode::OK,
    )
    .await
}

fn failed(out: &ApiOut) -> StatusCode {
    if out.status.is_client_error() {
        out.status
    } else {
        StatusCode::BAD_GATEWAY
    }
}

pub async fn reports(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let emails: Vec<&str> = form
        .get("report_emails")
        .split([',', '\n', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let mut errors = Errors::default();
    if let Some(bad) = emails
        .iter()
        .find(|e| hotline_core::people::normalize_email(e).is_none())
    {
        errors.add(
            "report_emails",
            format!("{bad:?} is not an e-mail address."),
        );
    }
    if errors.is_empty() {
        let body = json!({
            "report_emails": emails,
            "delete_twilio_recordings": form.checked("delete_twilio_recordings"),
        });
        let out = ctx
            .write(Method::PATCH, "/api/v1/organization", &body, &form)
            .await?;
        if out.is_success() {
            return Ok(redirect(&format!("{PREFIX}/settings?done=reports")));
        }
        let status = failed(&out);
        let errors = Errors::from_problem(&out.detail(), &["report_emails"]);
        return render(
            ctx,
            State {
                reports: errors,
                ..State::default()
            },
            status,
        )
        .await;
    }
    render(
        ctx,
        State {
            reports: errors,
            ..State::default()
        },
        StatusCode::BAD_REQUEST,
    )
    .await
}

/// A new signing secret: 32 random bytes, URL-safe base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn webhook(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let url = form.get("report_webhook_url");
    let mut errors = Errors::default();
    if !url.is_empty() && !url.starts_with("https://") {
        errors.add("report_webhook_url", "An https:// URL.");
    }
    if !errors.is_empty() {
        return render(
            ctx,
            State {
                webhook: errors,
                ..State::default()
            },
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let secret = (!url.is_empty()).then(new_secret);
    let body = json!({
        "report_webhook_url": if url.is_empty() { Value::Null } else { url.into() },
        "report_webhook_secret": secret,
    });
    let out = ctx
        .write(Method::PATCH, "/api/v1/organization", &body, &form)
        .await?;
    if !out.is_success() {
        let status = failed(&out);
        let errors = Errors::from_problem(&out.detail(), &["report_webhook_url"]);
        return render(
            ctx,
            State {
                webhook: errors,
                ..State::default()
            },
            status,
        )
        .await;
    }
    let state = match secret {
        Some(secret) => State {
            once: Some(("The webhook's signing secret".into(), secret)),
            note: Some("Webhook saved.".into()),
            ..State::default()
        },
        None => State {
            note: Some("Webhook removed.".into()),
            ..State::default()
        },
    };
    render(ctx, state, StatusCode::OK).await
}

pub async fn create_key(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let mut errors = Errors::default();
    if form.get("name").is_empty() {
        errors.add("name", "Name the key (what uses it).");
    }
    if errors.is_empty() {
        let body = json!({"name": form.get("name"), "role": form.get("role")});
        let out = ctx
            .write(Method::POST, "/api/v1/keys", &body, &form)
            .await?;
        if out.is_success() {
            let key = out.body["key"].as_str().unwrap_or_default().to_owned();
            return render(
                ctx,
                State {
                    once: Some(("The new API key".into(), key)),
                    ..State::default()
                },
                StatusCode::OK,
            )
            .await;
        }
        let status = failed(&out);
        let errors = Errors::from_problem(&out.detail(), &["name", "role"]);
        return render(
            ctx,
            State {
                keys: errors,
                ..State::default()
            },
            status,
        )
        .await;
    }
    render(
        ctx,
        State {
            keys: errors,
            ..State::default()
        },
        StatusCode::BAD_REQUEST,
    )
    .await
}

pub async fn revoke_key(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let out = ctx
        .write(
            Method::DELETE,
            &format!("/api/v1/keys/{}", enc(id)),
            &json!({}),
            &form,
        )
        .await?;
    if out.is_success() {
        return Ok(redirect(&format!("{PREFIX}/settings?done=revoked")));
    }
    if out.status == StatusCode::NOT_FOUND {
        return Err(super::Fail::NotFound);
    }
    let mut errors = Errors::default();
    errors.add("", out.detail());
    render(
        ctx,
        State {
            keys: errors,
            ..State::default()
        },
        failed(&out),
    )
    .await
}

pub async fn invite(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let mut errors = Errors::default();
    if hotline_core::people::normalize_email(form.get("email")).is_none() {
        errors.add("email", "An e-mail address.");
    }
    if errors.is_empty() {
        let body = json!({"email": form.get("email"), "role": form.get("role")});
        let out = ctx
            .write(Method::POST, "/api/v1/invitations", &body, &form)
            .await?;
        if out.is_success() {
            let token = out.body["token"].as_str().unwrap_or_default();
            let base = ctx.deps.twilio.public_url.clone().unwrap_or_default();
            let link = format!("{base}{PREFIX}/invitations/accept?token={}", enc(token));
            return render(
                ctx,
                State {
                    once: Some(("The invitation link to send".into(), link)),
                    ..State::default()
                },
                StatusCode::OK,
            )
            .await;
        }
        let status = failed(&out);
        let errors = Errors::from_problem(&out.detail(), &["email", "role"]);
        return render(
            ctx,
            State {
                invite: errors,
                ..State::default()
            },
            status,
        )
        .await;
    }
    render(
        ctx,
        State {
            invite: errors,
            ..State::default()
        },
        StatusCode::BAD_REQUEST,
    )
    .await
}

pub async fn set_role(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let body = json!({"role": form.get("role")});
    let out = ctx
        .write(
            Method::PATCH,
            &format!("/api/v1/users/{}", enc(id)),
            &body,
            &form,
        )
        .await?;
    if out.is_success() {
        return Ok(redirect(&format!("{PREFIX}/settings?done=role")));
    }
    if out.status == StatusCode::NOT_FOUND {
        return Err(super::Fail::NotFound);
    }
    let mut errors = Errors::default();
    errors.add("", out.detail());
    render(
        ctx,
        State {
            users: errors,
            ..State::default()
        },
        failed(&out),
    )
    .await
}
