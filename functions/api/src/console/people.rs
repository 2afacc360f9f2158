//! Contacts and to-dos: lists with search; to-dos completed and assigned.

use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::api::{Ctx, Form, Session, enc};
use super::html::{Errors, Field, csrf, form_status, layout, or_dash};
use super::{PREFIX, Page, ok, redirect};

/// One to-do with its controls; `back` is the page the forms return to.
pub fn todo_item(s: &Session, t: &Value, back: &str) -> Markup {
    let id = t["id"].as_str().unwrap_or_default();
    let done = t["done"].as_bool().unwrap_or(false);
    let form_id = format!(
        "assign-{}",
        id.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    html! {
        li.todo.done[done] {
            p.title {
                @if done { span.badge.on { "done" } " " }
                (t["title"].as_str().unwrap_or_default())
            }
            p.meta {
                "Due " (or_dash(t["due"].as_str())) " · assigned to " (or_dash(t["assignee"].as_str()))
                " · " a href={ (PREFIX) "/calls/" (enc(t["call"].as_str().unwrap_or_default())) } { "the call" }
            }
            @if !done {
                form.inline method="post" action={ (PREFIX) "/todos/" (enc(id)) "/complete" } {
                    (csrf(s))
                    input type="hidden" name="back" value=(back);
                    button type="submit" disabled[!s.may_write()] aria-label={ "Complete: " (t["title"].as_str().unwrap_or_default()) } { "Complete" }
                }
            }
            form.inline method="post" action={ (PREFIX) "/todos/" (enc(id)) "/assign" } {
                (csrf(s))
                input type="hidden" name="back" value=(back);
                input type="hidden" name="version" value=(t["version"]);
                label for=(form_id) { "Assign to" }
                input id=(form_id) name="assignee" type="text" value=(t["assignee"].as_str().unwrap_or_default()) disabled[!s.may_write()];
                button type="submit" disabled[!s.may_write()] { "Assign" }
            }
        }
    }
}

/// The page a to-do form returns to: a console path only.
fn back_of(form: &Form) -> String {
    let back = form.get("back");
    if back.starts_with("/console/") && !back.starts_with("//") && !back.contains(['?', '\\']) {
        back.to_owned()
    } else {
        format!("{PREFIX}/todos")
    }
}

fn with_note(back: &str, key: &str, value: &str) -> String {
    format!("{back}?{key}={}", enc(value))
}

pub async fn complete_todo(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let back = back_of(&form);
    let out = ctx
        .write(
            Method::POST,
            &format!("/api/v1/todos/{}/complete", enc(id)),
            &json!({}),
            &form,
        )
        .await?;
    Ok(redirect(&if out.is_success() {
        with_note(&back, "done", "completed")
    } else {
        with_note(&back, "error", &out.detail())
    }))
}

pub async fn assign_todo(ctx: &Ctx<'_>, id: &str, req: &Request) -> Page {
    let form = Form::of(req);
    let back = back_of(&form);
    let assignee = form.get("assignee");
    let mut body = json!({
        "assignee": if assignee.is_empty() { Value::Null } else { assignee.into() },
    });
    if let Ok(v) = form.get("version").parse::<u64>() {
        body["version"] = v.into();
    }
    let out = ctx
        .write(
            Method::PATCH,
            &format!("/api/v1/todos/{}", enc(id)),
            &body,
            &form,
        )
        .await?;
    Ok(redirect(&if out.is_success() {
        with_note(&back, "done", "assigned")
    } else if out.status == StatusCode::CONFLICT {
        with_note(
            &back,
            "error",
            "Someone changed this to-do meanwhile: look at it again, then assign it.",
        )
    } else {
        with_note(&back, "error", &out.detail())
    }))
}

pub async fn todos(ctx: &Ctx<'_>, req: &Request) -> Page {
    let s = ctx.session()?;
    let q = Form::query(req);
    let search = q.get("q").to_lowercase();
    let status = q.get("status");
    let mut query = vec![("limit", "100".to_owned())];
    if !status.is_empty() {
        query.push(("status", status.to_owned()));
    }
    if !q.get("cursor").is_empty() {
        query.push(("cursor", q.get("cursor").to_owned()));
    }
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let page = ctx.get(&format!("/api/v1/todos?{qs}")).await?;
    let todos: Vec<&Value> = page["todos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            search.is_empty()
                || ["title", "assignee", "contact"].iter().any(|f| {
                    t[*f]
                        .as_str()
                        .is_some_and(|v| v.to_lowercase().contains(&search))
                })
        })
        .collect();
    let note = match q.get("done") {
        "completed" => Some("To-do completed."),
        "assigned" => Some("To-do assigned."),
        _ => None,
    };
    let mut errors = Errors::default();
    if !q.get("error").is_empty() {
        errors.add("", q.get("error"));
    }
    let back = format!("{PREFIX}/todos");
    ok(layout(
        Some(s),
        "todos",
        "To-dos",
        html! {
            (form_status(&errors, note))
            form.filters method="get" action={ (PREFIX) "/todos" } role="search" aria-label="Search the to-dos" {
                (Field::new("todos", "q", "Search", q.get("q")).kind("search").render(&Errors::default()))
                (Field::new("todos", "status", "Status", status).kind("select:=Open and done|open=Open|done=Done").render(&Errors::default()))
                button type="submit" { "Search" }
            }
            @if todos.is_empty() { p { "No to-dos match." } }
            ul.todos {
                @for t in &todos { (todo_item(s, t, &back)) }
            }
            @if let Some(c) = page["next_cursor"].as_str() {
                p { a rel="next" href={ (PREFIX) "/todos?status=" (enc(status)) "&q=" (enc(q.get("q"))) "&cursor=" (enc(c)) } { "More to-dos" } }
            }
        },
    ))
}

pub async fn contacts(ctx: &Ctx<'_>, req: &Request) -> Page {
    let s = ctx.session()?;
    let q = Form::query(req);
    let mut query = vec![("limit", "100".to_owned()), ("q", q.get("q").to_owned())];
    if !q.get("cursor").is_empty() {
        query.push(("cursor", q.get("cursor").to_owned()));
    }
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let page = ctx.get(&format!("/api/v1/contacts?{qs}")).await?;
    let empty = Vec::new();
    let contacts = page["contacts"].as_array().unwrap_or(&empty);
    ok(layout(
        Some(s),
        "contacts",
        "Contacts",
        html! {
            form.filters method="get" action={ (PREFIX) "/contacts" } role="search" aria-label="Search the contacts" {
                (Field::new("contacts", "q", "Search by name, number, company or e-mail", q.get("q")).kind("search").render(&Errors::default()))
                button type="submit" { "Search" }
            }
            @if contacts.is_empty() { p { "No contacts match." } }
            @if !contacts.is_empty() {
                table {
                    caption.visually-hidden { "Contacts" }
                    thead { tr { th scope="col" { "Phone" } th scope="col" { "Name" } th scope="col" { "Company" } th scope="col" { "E-mail" } th scope="col" { "Last call" } th scope="col" { "Texts" } } }
                    tbody {
                        @for c in contacts {
                            tr {
                                td data-label="Phone" { (c["phone"].as_str().unwrap_or_default()) }
                                td data-label="Name" { (or_dash(c["name"].as_str())) }
                                td data-label="Company" { (or_dash(c["company"].as_str())) }
                                td data-label="E-mail" { (or_dash(c["email"].as_str())) }
                                td data-label="Last call" {
                                    @if let Some(sid) = c["last_call"].as_str() {
                                        a href={ (PREFIX) "/calls/" (enc(sid)) } { "open" }
                                    } @else { "—" }
                                }
                                td data-label="Texts" { @if c["sms_opted_out"].as_bool().unwrap_or(false) { "opted out" } @else { "allowed" } }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = page["next_cursor"].as_str() {
                p { a rel="next" href={ (PREFIX) "/contacts?q=" (enc(q.get("q"))) "&cursor=" (enc(c)) } { "More contacts" } }
            }
        },
    ))
}
