//! Numbers and telephony: Twilio's status, each number's calls and texts switches, its
//! agent and disabled message, buying a number, the webhook URLs, a test text.

use hotline_core::{AgentId, E164};
use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};
use maud::html;
use serde_json::json;

use super::api::{Ctx, Form, enc};
use super::html::{Errors, Field, checkbox, copy_button, csrf, form_status, layout};
use super::{Fail, PREFIX, Page, page_response, redirect};
use crate::audit;

const MAX_MESSAGE: usize = 320;

/// Which form the errors belong to, so each shows next to its own fields.
#[derive(Default)]
struct FormErrors {
    /// By number (E.164).
    number: Option<(String, Errors)>,
    buy: Errors,
    sms: Errors,
}

fn store_failure(e: hotline_core::ports::StoreError) -> Fail {
    let e = crate::ApiError::from(e);
    Fail::Problem(e.status(), e.to_string())
}

async fn render(ctx: &Ctx<'_>, errors: FormErrors, note: Option<&str>, status: StatusCode) -> Page {
    let s = ctx.session()?;
    let twilio = ctx
        .get("/api/v1/twilio/status")
        .await
        .unwrap_or_else(|f| match f {
            Fail::Problem(_, detail) => json!({"connected": false, "error": detail}),
            _ => json!({"connected": false, "error": "unknown"}),
        });
    let agents = ctx.get("/api/v1/agents").await?;
    let org = hotline_core::OrgId::parse(&s.org).map_err(|_| Fail::SignIn)?;
    // The API's session named this organization; its numbers come from the same
    // directory the number routes read.
    let numbers: Vec<_> = ctx
        .deps
        .directory
        .list_numbers(&org)
        .await
        .map_err(store_failure)?
        .into_iter()
        .filter(|n| n.org == org)
        .collect();
    let empty = Vec::new();
    let agent_list = agents["agents"].as_array().unwrap_or(&empty);
    let agent_options: String = agent_list
        .iter()
        .map(|a| {
            let id = a["id"].as_str().unwrap_or_default();
            format!(
                "{id}={}",
                a["name"].as_str().unwrap_or(id).replace('|', "/")
            )
        })
        .collect::<Vec<_>>()
        .join("|");
    let greeting_of = |agent: &str| {
        agent_list
            .iter()
            .find(|a| a["id"] == agent)
            .and_then(|a| a["greeting"].as_str())
            .map(str::to_owned)
    };
    let connected = twilio["connected"].as_bool().unwrap_or(false);
    let base = ctx.deps.twilio.public_url.clone();
    let hooks = [
        (
            "voice",
            "A call comes in (Voice, HTTP POST)",
            hotline_core::routes::VOICE,
        ),
        (
            "status",
            "Call status changes (Voice, HTTP POST)",
            hotline_core::routes::STATUS,
        ),
        (
            "sms",
            "A message comes in (Messaging, HTTP POST)",
            hotline_core::routes::SMS,
        ),
    ];
    let no_errors = Errors::default();
    let markup = layout(
        Some(s),
        "numbers",
        "Numbers and telephony",
        html! {
            @if let Some(n) = note { p.saved role="status" { (n) } }
            section aria-labelledby="twilio-title" {
                h2 #twilio-title { "Twilio" }
                p.status {
                    span.dot.on[connected].off[!connected] aria-hidden="true" {}
                    @if connected {
                        "Connected to " (twilio["account"]["friendly_name"].as_str().unwrap_or("the account"))
                        " (" code { (twilio["account"]["sid"].as_str().unwrap_or_default()) } ")"
                    } @else {
                        "Not connected: " (twilio["error"].as_str().unwrap_or("Twilio did not answer"))
                    }
                }
            }
            section aria-labelledby="numbers-title" {
                h2 #numbers-title { "Numbers" }
                @if numbers.is_empty() { p { "No numbers yet: buy one below." } }
                @for n in &numbers {
                    @let e164 = n.number.as_str();
                    @let fid = format!("n{}", e164.trim_start_matches('+'));
                    @let errs = errors.number.as_ref().filter(|(k, _)| k == e164).map_or(&no_errors, |(_, e)| e);
                    form.card.number method="post" action={ (PREFIX) "/numbers/" (enc(e164)) } novalidate aria-label={ "Number " (e164) } {
                        h3 { (e164) }
                        (form_status(errs, None))
                        (csrf(s))
                        input type="hidden" name="version" value=(n.version);
                        fieldset disabled[!s.may_write()] {
                            legend.visually-hidden { "Settings of " (e164) }
                            (checkbox(&fid, "calls", "Calls: answer calls", n.enabled))
                            (checkbox(&fid, "sms", "SMS: answer texts", n.sms))
                            (Field::new(&fid, "agent", "Agent", n.agent.as_str()).kind(&format!("select:{agent_options}")).render(errs))
                            (Field::new(&fid, "disabled_message", "Reply when texts are off", n.sms_disabled_message.as_deref().unwrap_or_default())
                                .hint("Sent once to whoever texts while SMS is off; empty: no reply.").render(errs))
                            p.hint { "Greeting: " (greeting_of(n.agent.as_str()).unwrap_or_else(|| "none (the AI speaks first)".into()))
                                " — " a href={ (PREFIX) "/agents/" (enc(n.agent.as_str())) } { "edit it on the agent" } }
                            button type="submit" { "Save " (e164) }
                        }
                    }
                }
            }
            section aria-labelledby="buy-title" {
                h2 #buy-title { "Buy a number" }
                form.card method="post" action={ (PREFIX) "/numbers/buy" } novalidate {
                    (form_status(&errors.buy, None))
                    (csrf(s))
                    fieldset disabled[!s.may_write()] {
                        legend.visually-hidden { "Buy a number" }
                        (Field::new("buy", "area_code", "Area code", "").kind("text").hint("Three digits, e.g. 415.").required().render(&errors.buy))
                        (Field::new("buy", "agent", "Agent", "").kind(&format!("select:{agent_options}")).render(&errors.buy))
                        button type="submit" { "Buy" }
                    }
                }
            }
            section aria-labelledby="hooks-title" {
                h2 #hooks-title { "Webhook URLs to paste into Twilio" }
                @match &base {
                    Some(base) => {
                        ul.hooks {
                            @for (id, label, path) in hooks {
                                li {
                                    span.label { (label) }
                                    code id={ "hook-" (id) } { (base) (path) }
                                    (copy_button(&format!("hook-{id}"), label))
                                }
                            }
                        }
                    }
                    None => { p { "HOTLINE_PUBLIC_URL is not set: the webhook URLs are unknown." } }
                }
            }
            section aria-labelledby="sms-title" {
                h2 #sms-title { "Send a test text" }
                form.card method="post" action={ (PREFIX) "/numbers/test-sms" } novalidate {
                    (form_status(&errors.sms, None))
                    (csrf(s))
                    fieldset disabled[!s.may_write()] {
                        legend.visually-hidden { "A test text" }
                        (Field::new("sms", "to", "To (E.164)", "").kind("tel").hint("e.g. +14155550100").required().render(&errors.sms))
                        (Field::new("sms", "body", "Message", "Hello from hotline").required().render(&errors.sms))
                        button type="submit" { "Send" }
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
        "saved" => Some("Number saved."),
        "bought" => Some("Number bought and set up."),
        "sent" => Some("Test text sent."),
        _ => None,
    };
    render(ctx, FormErrors::default(), note, StatusCode::OK).await
}

pub async fn update(ctx: &Ctx<'_>, raw: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let caller = ctx.caller(&form).await?;
    let number = E164::parse(raw).map_err(|_| Fail::NotFound)?;
    let stored = ctx
        .deps
        .directory
        .get_number(&number)
        .await
        .map_err(store_failure)?
        .filter(|n| n.org == caller.org)
        .ok_or(Fail::NotFound)?;
    caller
        .may_write()
        .map_err(|e| Fail::Problem(e.status(), e.to_string()))?;
    let mut errors = Errors::default();
    let agent = form.get("agent");
    let agent = match AgentId::parse(agent) {
        Ok(id) => match ctx.deps.directory.get_agent(&caller.org, &id).await {
            Ok(Some(a)) if a.org == caller.org => Some(id),
            Ok(_) => {
                errors.add("agent", "No such agent.");
                None
            }
            Err(e) => return Err(store_failure(e)),
        },
        Err(_) => {
            errors.add("agent", "Choose an agent.");
            None
        }
    };
    let message = form.get("disabled_message");
    if message.chars().count() > MAX_MESSAGE {
        errors.add(
            "disabled_message",
            format!("At most {MAX_MESSAGE} characters."),
        );
    }
    if form.get("version").parse::<u64>().ok() != Some(stored.version) {
        errors.add(
            "",
            "Someone changed this number since you opened the page: look at it again, then save.",
        );
    }
    let Some(agent) = agent.filter(|_| errors.is_empty()) else {
        let status = if errors.get("").is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        return render(
            ctx,
            FormErrors {
                number: Some((number.to_string(), errors)),
                ..FormErrors::default()
            },
            None,
            status,
        )
        .await;
    };
    let mut changed = stored.clone();
    changed.enabled = form.checked("calls");
    changed.sms = form.checked("sms");
    changed.agent = agent;
    changed.sms_disabled_message = (!message.is_empty()).then(|| message.to_owned());
    let written = ctx
        .deps
        .directory
        .update_number(&changed)
        .await
        .map_err(store_failure)?;
    let view = |n: &hotline_core::model::PhoneNumber| {
        json!({"number": n.number.as_str(), "agent": n.agent.as_str(), "enabled": n.enabled,
               "sms": n.sms, "sms_disabled_message": n.sms_disabled_message})
    };
    audit::record(
        ctx.deps,
        &caller,
        "number.update",
        &format!("number {number}"),
        Some(view(&stored)),
        Some(view(&written)),
    )
    .await;
    Ok(redirect(&format!("{PREFIX}/numbers?done=saved")))
}

pub async fn buy(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let area = form.get("area_code");
    let mut errors = Errors::default();
    if area.len() != 3 || !area.chars().all(|c| c.is_ascii_digit()) {
        errors.add("area_code", "Three digits, e.g. 415.");
    } else {
        let mut body = json!({"area_code": area});
        if !form.get("agent").is_empty() {
            body["agent"] = form.get("agent").into();
        }
        let out = ctx
            .write(Method::POST, "/api/v1/numbers", &body, &form)
            .await?;
        if out.is_success() {
            return Ok(redirect(&format!("{PREFIX}/numbers?done=bought")));
        }
        errors = Errors::from_problem(&out.detail(), &["area_code", "agent"]);
    }
    render(
        ctx,
        FormErrors {
            buy: errors,
            ..FormErrors::default()
        },
        None,
        StatusCode::BAD_REQUEST,
    )
    .await
}

pub async fn test_sms(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let mut errors = Errors::default();
    if E164::parse(form.get("to")).is_err() {
        errors.add("to", "A number in E.164, e.g. +14155550100.");
    }
    if form.get("body").is_empty() {
        errors.add("body", "Write the message.");
    }
    if errors.is_empty() {
        let body = json!({"to": form.get("to"), "body": form.get("body")});
        let out = ctx
            .write(Method::POST, "/api/v1/messages", &body, &form)
            .await?;
        if out.is_success() {
            return Ok(redirect(&format!("{PREFIX}/numbers?done=sent")));
        }
        errors = Errors::from_problem(&out.detail(), &["to", "body"]);
    }
    render(
        ctx,
        FormErrors {
            sms: errors,
            ..FormErrors::default()
        },
        None,
        StatusCode::BAD_REQUEST,
    )
    .await
}
