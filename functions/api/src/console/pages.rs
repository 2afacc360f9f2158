//! Signing in and out, invitations, the password, and the agents.

use lambda_http::Request;
use lambda_http::http::{Method, StatusCode, header};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::{Ctx, Form, enc};
use super::html::{Errors, Field, checkbox, csrf, form_status, layout};
use super::{Fail, PREFIX, Page, ok, page_response, redirect};

/// Where to go after signing in: a console path only, never another site.
fn next_of(form: &Form) -> String {
    let next = form.get("next");
    let safe = next.starts_with("/console")
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if safe {
        next.to_owned()
    } else {
        format!("{PREFIX}/calls")
    }
}

fn sign_in_markup(email: &str, next: &str, errors: &Errors) -> Markup {
    layout(
        None,
        "",
        "Sign in",
        html! {
            form.card method="post" action={ (PREFIX) "/sign-in" } novalidate {
                (form_status(errors, None))
                input type="hidden" name="next" value=(next);
                (Field::new("signin", "email", "E-mail", email).kind("email").required().render(errors))
                (Field::new("signin", "password", "Password", "").kind("password").required().render(errors))
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn sign_in_form(ctx: &Ctx<'_>, req: &Request) -> Page {
    // Already signed in: straight on.
    if ctx.signed_in().await.is_ok() {
        return Ok(redirect(&format!("{PREFIX}/calls")));
    }
    let next = next_of(&Form::query(req));
    ok(sign_in_markup("", &next, &Errors::default()))
}

pub async fn sign_in(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let next = next_of(&form);
    let mut errors = Errors::default();
    if form.get("email").is_empty() {
        errors.add("email", "Enter your e-mail address.");
    }
    if form.raw("password").is_empty() {
        errors.add("password", "Enter your password.");
    }
    if errors.is_empty() {
        let body = json!({"email": form.get("email"), "password": form.raw("password")});
        let out = ctx
            .call(Method::POST, "/api/v1/session", Some(&body), None)
            .await;
        if out.is_success() {
            let mut resp = redirect(&next);
            for cookie in out.cookies {
                resp.headers_mut().append(header::SET_COOKIE, cookie);
            }
            return Ok(resp);
        }
        errors.add("", out.detail());
        let status = out.status;
        return Ok(page_response(
            status,
            sign_in_markup(form.get("email"), &next, &errors),
        ));
    }
    Ok(page_response(
        StatusCode::BAD_REQUEST,
        sign_in_markup(form.get("email"), &next, &errors),
    ))
}

pub async fn sign_out(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let out = ctx
        .call(Method::DELETE, "/api/v1/session", None, Some(&form))
        .await;
    let mut resp = redirect(&format!("{PREFIX}/sign-in"));
    for cookie in out.cookies {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

fn accept_markup(token: &str, errors: &Errors) -> Markup {
    layout(
        None,
        "",
        "Accept the invitation",
        html! {
            p { "Choose the password you will sign in with (at least 12 characters)." }
            form.card method="post" action={ (PREFIX) "/invitations/accept" } novalidate {
                (form_status(errors, None))
                input type="hidden" name="token" value=(token);
                (Field::new("accept", "password", "New password", "").kind("password").required().render(errors))
                (Field::new("accept", "confirm", "The same password again", "").kind("password").required().render(errors))
                button type="submit" { "Accept and continue" }
            }
        },
    )
}

pub async fn accept_form(_ctx: &Ctx<'_>, req: &Request) -> Page {
    let token = Form::query(req).get("token").to_owned();
    ok(accept_markup(&token, &Errors::default()))
}

pub async fn accept(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let mut errors = Errors::default();
    if form.raw("password").chars().count() < 12 {
        errors.add("password", "At least 12 characters.");
    } else if form.raw("password") != form.raw("confirm") {
        errors.add("confirm", "The two passwords differ.");
    }
    if form.get("token").is_empty() {
        errors.add(
            "",
            "This link has no invitation in it: open the link you were sent.",
        );
    }
    if errors.is_empty() {
        let body = json!({"token": form.get("token"), "password": form.raw("password")});
        let out = ctx
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(&body),
                None,
            )
            .await;
        if out.is_success() {
            return Ok(redirect(&format!("{PREFIX}/sign-in")));
        }
        errors = Errors::from_problem(&out.detail(), &["password"]);
    }
    Ok(page_response(
        StatusCode::BAD_REQUEST,
        accept_markup(form.get("token"), &errors),
    ))
}

fn password_markup(ctx: &Ctx<'_>, errors: &Errors, saved: bool) -> Result<Markup, Fail> {
    let s = ctx.session()?;
    Ok(layout(
        Some(s),
        "",
        "Change your password",
        html! {
            form.card method="post" action={ (PREFIX) "/password" } novalidate {
                (form_status(errors, saved.then_some("Password changed. Your other sessions are signed out.")))
                (csrf(s))
                (Field::new("password", "current", "Current password", "").kind("password").required().render(errors))
                (Field::new("password", "new", "New password", "").kind("password").required().hint("At least 12 characters.").render(errors))
                (Field::new("password", "confirm", "The new password again", "").kind("password").required().render(errors))
                button type="submit" { "Change password" }
            }
        },
    ))
}

pub async fn password_form(ctx: &Ctx<'_>, req: &Request) -> Page {
    let saved = Form::query(req).get("saved") == "1";
    ok(password_markup(ctx, &Errors::default(), saved)?)
}

pub async fn password(ctx: &Ctx<'_>, req: &Request) -> Page {
    let form = Form::of(req);
    let mut errors = Errors::default();
    if form.raw("current").is_empty() {
        errors.add("current", "Enter your current password.");
    }
    if form.raw("new").chars().count() < 12 {
        errors.add("new", "At least 12 characters.");
    } else if form.raw("new") != form.raw("confirm") {
        errors.add("confirm", "The two passwords differ.");
    }
    if errors.is_empty() {
        let body = json!({"current": form.raw("current"), "new": form.raw("new")});
        let out = ctx
            .write(Method::POST, "/api/v1/session/password", &body, &form)
            .await?;
        if out.is_success() {
            let mut resp = redirect(&format!("{PREFIX}/password?saved=1"));
            for cookie in out.cookies {
                resp.headers_mut().append(header::SET_COOKIE, cookie);
            }
            return Ok(resp);
        }
        let detail = out.detail();
        if detail.contains("current password") {
            errors.add("current", detail);
        } else {
            errors = Errors::from_problem(&detail, &["new"]);
        }
        return Ok(page_response(
            out.status,
            password_markup(ctx, &errors, false)?,
        ));
    }
    Ok(page_response(
        StatusCode::BAD_REQUEST,
        password_markup(ctx, &errors, false)?,
    ))
}

// ------------------------------------------------------------------------- agents

pub async fn agents(ctx: &Ctx<'_>) -> Page {
    let s = ctx.session()?;
    let list = ctx.get("/api/v1/agents").await?;
    let empty = Vec::new();
    let agents = list["agents"].as_array().unwrap_or(&empty);
    ok(layout(
        Some(s),
        "agents",
        "Agents",
        html! {
            @if agents.is_empty() { p { "No agents yet: hotline apply or the API creates them." } }
            ul.cards {
                @for a in agents {
                    @let id = a["id"].as_str().unwrap_or_default();
                    li.card {
                        h2 { a href={ (PREFIX) "/agents/" (enc(id)) } { (a["name"].as_str().unwrap_or(id)) } }
                        p {
                            (a["provider"].as_str().unwrap_or_default()) " · voice "
                            (a["voice"].as_str().unwrap_or_default()) " · "
                            @if a["enabled"].as_bool().unwrap_or(false) { span.badge.on { "enabled" } }
                            @else { span.badge.off { "disabled" } }
                        }
                    }
                }
            }
        },
    ))
}

/// The agent's fields as the form shows them.
struct AgentFields {
    name: String,
    provider: String,
    model: String,
    voice: String,
    greeting: String,
    instructions: String,
    enabled: bool,
    tools: String,
    analyzers: String,
    max_duration: String,
    silence: String,
    version: u64,
}

impl AgentFields {
    fn of(a: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let num = |v: &Value| v.as_u64().map(|n| n.to_string()).unwrap_or_default();
        Self {
            name: text(&a["name"]),
            provider: text(&a["provider"]),
            model: text(&a["model"]),
            voice: text(&a["voice"]),
            greeting: text(&a["greeting"]),
            instructions: text(&a["instructions"]),
            enabled: a["enabled"].as_bool().unwrap_or(false),
            tools: serde_json::to_string_pretty(&a["tools"]).unwrap_or_default(),
            analyzers: serde_json::to_string_pretty(&a["analyzers"]).unwrap_or_default(),
            max_duration: num(&a["limits"]["max_duration_secs"]),
            silence: num(&a["limits"]["silence_timeout_secs"]),
            version: a["version"].as_u64().unwrap_or(0),
        }
    }

    fn from_form(form: &Form) -> Self {
        Self {
            name: form.get("name").to_owned(),
            provider: form.get("provider").to_owned(),
            model: form.get("model").to_owned(),
            voice: form.get("voice").to_owned(),
            greeting: form.get("greeting").to_owned(),
            instructions: form.raw("instructions").to_owned(),
            enabled: form.checked("enabled"),
            tools: form.raw("tools").to_owned(),
            analyzers: form.raw("analyzers").to_owned(),
            max_duration: form.get("max_duration_secs").to_owned(),
            silence: form.get("silence_timeout_secs").to_owned(),
            version: form.get("version").parse().unwrap_or(0),
        }
    }

    /// The API's body, or the fields' errors.
    fn body(&self) -> Result<Value, Errors> {
        let mut errors = Errors::default();
        if self.instructions.trim().is_empty() {
            errors.add("instructions", "Write the agent's instructions.");
        }
        if self.voice.is_empty() {
            errors.add("voice", "Choose a voice.");
        }
        let mut json_field = |name: &str, text: &str| match serde_json::from_str::<Value>(text) {
            Ok(v) if v.is_array() => v,
            Ok(_) => {
                errors.add(name, "A JSON list: [ … ].");
                Value::Null
            }
            Err(e) => {
                errors.add(name, format!("Not JSON: {e}."));
                Value::Null
            }
        };
        let tools = json_field(
            "tools",
            if self.tools.trim().is_empty() {
                "[]"
            } else {
                &self.tools
            },
        );
        let analyzers = json_field(
            "analyzers",
            if self.analyzers.trim().is_empty() {
                "[]"
            } else {
                &self.analyzers
            },
        );
        let mut seconds = |name: &str, text: &str| {
            if text.is_empty() {
                return None;
            }
            match text.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.add(name, "A whole number of seconds, more than 0.");
                    None
                }
            }
        };
        let max = seconds("max_duration_secs", &self.max_duration);
        let silence = seconds("silence_timeout_secs", &self.silence);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut limits = serde_json::Map::new();
        if let Some(n) = max {
            limits.insert("max_duration_secs".into(), n.into());
        }
        if let Some(n) = silence {
            limits.insert("silence_timeout_secs".into(), n.into());
        }
        let mut body = json!({
            "version": self.version,
            "provider": self.provider,
            "instructions": self.instructions,
            "voice": self.voice,
            "enabled": self.enabled,
            "tools": tools,
            "analyzers": analyzers,
            "limits": limits,
            "greeting": if self.greeting.is_empty() { Value::Null } else { self.greeting.clone().into() },
        });
        if !self.name.is_empty() {
            body["name"] = self.name.clone().into();
        }
        if !self.model.is_empty() {
            body["model"] = self.model.clone().into();
        }
        Ok(body)
    }
}

const AGENT_FIELDS: &[&str] = &[
    "name",
    "provider",
    "model",
    "voice",
    "greeting",
    "instructions",
    "tools",
    "analyzers",
    "max_duration_secs",
    "silence_timeout_secs",
];

fn agent_markup(
    ctx: &Ctx<'_>,
    id: &str,
    f: &AgentFields,
    errors: &Errors,
    saved: bool,
    conflict: Option<&Value>,
) -> Result<Markup, Fail> {
    let s = ctx.session()?;
    let version = f.version.to_string();
    Ok(layout(
        Some(s),
        "agents",
        &format!("Agent {}", if f.name.is_empty() { id } else { &f.name }),
        html! {
            @if let Some(theirs) = conflict {
                section.conflict role="alert" aria-labelledby="conflict-title" {
                    h2 #conflict-title { "Someone else saved this agent while you were editing" }
                    p {
                        "Your changes are not saved, and not lost: they are still in the form below. "
                        "The version saved meanwhile is shown here. Compare, then press Save again "
                        "to replace it with yours, or reload the page to start from theirs."
                    }
                    details {
                        summary { "The saved version (" (theirs["version"]) ")" }
                        (super::html::json_block(theirs))
                    }
                }
            }
            form.card.agent method="post" action={ (PREFIX) "/agents/" (enc(id)) } novalidate {
                (form_status(errors, saved.then_some("Saved.")))
                (csrf(s))
                input type="hidden" name="version" value=(version);
                fieldset disabled[!s.may_write()] {
                    legend { "The agent" }
                    (Field::new("agent", "name", "Name", &f.name).render(errors))
                    (checkbox("agent", "enabled", "Enabled: answers calls", f.enabled))
                    (Field::new("agent", "provider", "Provider", &f.provider)
                        .kind("select:openai_realtime=OpenAI Realtime|gemini_live=Gemini Live|pipeline=Pipeline (speech-to-text, text model, speech)")
                        .render(errors))
                    (Field::new("agent", "model", "Model", &f.model).hint("Empty: the provider's default.").render(errors))
                    (Field::new("agent", "voice", "Voice", &f.voice).required().render(errors))
                    (Field::new("agent", "greeting", "Greeting", &f.greeting).hint("Spoken by Twilio while the AI connects; empty: the AI speaks first.").render(errors))
                    (Field::new("agent", "instructions", "Instructions", &f.instructions).kind("textarea").required().render(errors))
                    (Field::new("agent", "tools", "Tools (JSON)", &f.tools).kind("textarea").hint("As in hotline.yaml: end_call, transfer_call, webhook, send_sms.").render(errors))
                    (Field::new("agent", "analyzers", "Analyzers (JSON)", &f.analyzers).kind("textarea").hint("Each: name, prompt, schema (JSON Schema).").render(errors))
                    div.row {
                        (Field::new("agent", "max_duration_secs", "Longest call (seconds)", &f.max_duration).kind("number").render(errors))
                        (Field::new("agent", "silence_timeout_secs", "Hang up after silence (seconds)", &f.silence).kind("number").render(errors))
                    }
                    button type="submit" { "Save" }
                }
            }
        },
    ))
}

pub async fn agent_form(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let agent = ctx.get(&format!("/api/v1/agents/{}", enc(id))).await?;
    let saved = Form::query(req).get("saved") == "1";
    ok(agent_markup(
        ctx,
        id,
        &AgentFields::of(&agent),
        &Errors::default(),
        saved,
        None,
    )?)
}

pub async fn save_agent(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let mut fields = AgentFields::from_form(&form);
    let path = format!("/api/v1/agents/{}", enc(id));
    // The agent must be the organization's before anything else is said about it.
    let stored = ctx.get(&path).await?;
    let body = match fields.body() {
        Ok(body) => body,
        Err(errors) => {
            return Ok(page_response(
                StatusCode::BAD_REQUEST,
                agent_markup(ctx, id, &fields, &errors, false, None)?,
            ));
        }
    };
    let out = ctx.write(Method::PUT, &path, &body, &form).await?;
    if out.is_success() {
        return Ok(redirect(&format!("{PREFIX}/agents/{}?saved=1", enc(id))));
    }
    if out.status == StatusCode::CONFLICT {
        // Theirs is the version now stored: a second save writes over it, knowingly.
        let theirs = ctx.get(&path).await.unwrap_or(stored);
        fields.version = theirs["version"].as_u64().unwrap_or(fields.version);
        return Ok(page_response(
            StatusCode::CONFLICT,
            agent_markup(ctx, id, &fields, &Errors::default(), false, Some(&theirs))?,
        ));
    }
    let errors = Errors::from_problem(&out.detail(), AGENT_FIELDS);
    Ok(page_response(
        out.status,
        agent_markup(ctx, id, &fields, &errors, false, None)?,
    ))
}
