//! The calls: newest first with filters, and one call with everything it produced.

use hotline_core::CallSid;
use lambda_http::Request;
use maud::{Markup, html};
use serde_json::Value;

use super::api::{Ctx, Form, enc};
use super::html::{Errors, Field, json_block, layout, when};
use super::{Fail, PREFIX, Page, ok};

const STATUSES: &str = "=Any status|queued=Queued|ringing=Ringing|in-progress=In progress (live)|completed=Completed|busy=Busy|no-answer=No answer|failed=Failed|canceled=Canceled";
const DIRECTIONS: &str =
    "=Any direction|inbound=Inbound|outbound-api=Outbound (API)|outbound-dial=Outbound (dialled)";

/// Whether a call with this status is going on now.
fn is_live(status: &str) -> bool {
    matches!(status, "ringing" | "in-progress" | "queued" | "initiated")
}

/// A date (`YYYY-MM-DD`) as the start of that day in UTC, and of the next.
fn day_bounds(date: &str) -> Option<(String, String)> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let next = day.succ_opt()?;
    Some((format!("{day}T00:00:00Z"), format!("{next}T00:00:00Z")))
}

pub async fn list(ctx: &Ctx<'_>, req: &Request) -> Page {
    let s = ctx.session()?;
    let q = Form::query(req);
    let mut errors = Errors::default();
    let mut query: Vec<(String, String)> = Vec::new();
    for name in ["status", "direction", "agent", "cursor"] {
        if !q.get(name).is_empty() {
            query.push((name.to_owned(), q.get(name).to_owned()));
        }
    }
    let date = q.get("date");
    if !date.is_empty() {
        match day_bounds(date) {
            Some((from, to)) => {
                query.push(("from".into(), from));
                query.push(("to".into(), to));
            }
            None => errors.add("date", "A date: YYYY-MM-DD."),
        }
    }
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let page = if errors.is_empty() {
        match ctx.get(&format!("/api/v1/calls?{qs}")).await {
            Ok(page) => page,
            Err(Fail::Problem(_, detail)) => {
                errors = Errors::from_problem(&detail, &["status", "direction", "agent"]);
                Value::Null
            }
            Err(other) => return Err(other),
        }
    } else {
        Value::Null
    };
    let agents = ctx.get("/api/v1/agents").await?;
    let mut agent_options = String::from("=Any agent");
    for a in agents["agents"].as_array().into_iter().flatten() {
        let id = a["id"].as_str().unwrap_or_default();
        agent_options.push_str(&format!(
            "|{id}={}",
            a["name"].as_str().unwrap_or(id).replace('|', "/")
        ));
    }
    let empty = Vec::new();
    let calls = page["calls"].as_array().unwrap_or(&empty);
    let next = page["next_cursor"].as_str().map(|c| {
        let mut more: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "from" && k != "to")
            .cloned()
            .collect();
        if !date.is_empty() {
            more.push(("date".into(), date.to_owned()));
        }
        more.push(("cursor".into(), c.to_owned()));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&more)
            .finish()
    });
    ok(layout(
        Some(s),
        "calls",
        "Calls",
        html! {
            form.filters method="get" action={ (PREFIX) "/calls" } role="search" aria-label="Filter the calls" {
                (super::html::form_status(&errors, None))
                (Field::new("filter", "status", "Status", q.get("status")).kind(&format!("select:{STATUSES}")).render(&errors))
                (Field::new("filter", "direction", "Direction", q.get("direction")).kind(&format!("select:{DIRECTIONS}")).render(&errors))
                (Field::new("filter", "agent", "Agent", q.get("agent")).kind(&format!("select:{agent_options}")).render(&errors))
                (Field::new("filter", "date", "Day", date).kind("date").render(&errors))
                button type="submit" { "Filter" }
            }
            @if calls.is_empty() && errors.is_empty() {
                p { "No calls match." }
            }
            @if !calls.is_empty() {
                table.calls {
                    caption.visually-hidden { "Calls, newest first" }
                    thead { tr {
                        th scope="col" { "Started" } th scope="col" { "From" } th scope="col" { "To" }
                        th scope="col" { "Agent" } th scope="col" { "Status" } th scope="col" { "Duration" }
                    } }
                    tbody {
                        @for c in calls {
                            (row(c))
                        }
                    }
                }
            }
            @if let Some(next) = next {
                p { a href={ (PREFIX) "/calls?" (next) } rel="next" { "Older calls" } }
            }
        },
    ))
}

fn row(c: &Value) -> Markup {
    let sid = c["sid"].as_str().unwrap_or_default();
    let status = c["status"].as_str().unwrap_or_default();
    html! {
        tr.live[is_live(status)] {
            td data-label="Started" { a href={ (PREFIX) "/calls/" (enc(sid)) } { (when(&c["started_at"])) } }
            td data-label="From" { (c["from"].as_str().unwrap_or_default()) }
            td data-label="To" { (c["to"].as_str().unwrap_or_default()) }
            td data-label="Agent" { (c["agent"].as_str().unwrap_or_default()) }
            td data-label="Status" {
                @if is_live(status) { span.badge.live { "● live" } " " }
                (status)
            }
            td data-label="Duration" { (duration(&c["duration_secs"])) }
        }
    }
}

fn duration(v: &Value) -> String {
    v.as_i64()
        .map_or_else(|| "—".to_owned(), |s| format!("{}:{:02}", s / 60, s % 60))
}

/// A post-call stage's state in words.
fn stage_words(name: &str, state: &Value) -> (String, String) {
    let what = match name {
        "recording" => "Recording copied",
        "transcript" => "Transcript",
        "analysis" => "Analyzers",
        "todos" => "To-dos",
        "contact" => "Contact updated",
        "report_email" => "Report by e-mail",
        "report_webhook" => "Report to the webhook",
        other => other,
    };
    let status = state["status"].as_str().unwrap_or_default();
    let words = match status {
        "done" => "done".to_owned(),
        "skipped" => format!(
            "skipped: {}",
            state["detail"].as_str().unwrap_or("nothing to do")
        ),
        "failed" => format!(
            "failed: {}",
            state["error"].as_str().unwrap_or("no reason given")
        ),
        "retrying" => format!(
            "will be tried again: {}",
            state["error"].as_str().unwrap_or("a passing error")
        ),
        other => other.to_owned(),
    };
    (what.to_owned(), words)
}

fn outcome_words(outcome: &Value) -> String {
    let reason = match outcome["reason"].as_str().unwrap_or_default() {
        "caller_hung_up" => "The caller hung up",
        "agent_ended" => "The agent ended the call",
        "transferred" => "Transferred to a person",
        "max_duration" => "Ended at the longest call allowed",
        "silence" => "Ended after a long silence",
        "provider_failed" => "The AI provider failed",
        "stream_failed" => "The audio stream failed",
        "shutdown" => "Ended by a shutdown",
        "not_in_service" => "The number is not in service",
        "agent_disabled" => "The agent is disabled",
        "" => return "Not ended yet".to_owned(),
        other => other,
    };
    match outcome["detail"].as_str() {
        Some(d) if !d.is_empty() => format!("{reason}: {d}"),
        _ => reason.to_owned(),
    }
}

pub async fn one(ctx: &Ctx<'_>, sid: &str, req: &Request) -> Page {
    let s = ctx.session()?;
    let call = ctx.get(&format!("/api/v1/calls/{}", enc(sid))).await?;
    // The API found the call in the caller's organization; its to-dos come from the same
    // store the to-do routes read, each checked again for the organization.
    let todos = match CallSid::parse(sid) {
        Ok(parsed) => ctx
            .deps
            .todos
            .call_todos(&parsed)
            .await
            .map_err(|e| {
                Fail::Problem(
                    crate::ApiError::from(e).status(),
                    "the to-dos could not be read".into(),
                )
            })?
            .into_iter()
            .filter(|t| t.org.as_str() == s.org)
            .map(|t| {
                serde_json::json!({
                    "id": t.id, "call": t.call.as_str(), "title": t.title, "due": t.due,
                    "assignee": t.assignee, "done": t.done, "version": t.version,
                })
            })
            .collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    let q = Form::query(req);
    let status = call["status"].as_str().unwrap_or_default();
    let empty = Vec::new();
    // A timeline: turns are stored as their transcripts arrive (a caller's after the
    // reply it interrupted began), so they are shown by when they were spoken.
    let mut turns: Vec<&Value> = call["turns"].as_array().unwrap_or(&empty).iter().collect();
    turns.sort_by_key(|t| t["offset_ms"].as_u64().unwrap_or(0));
    let post = &call["post_call"];
    let analysis = post["analysis"].as_object();
    let stages = post["stages"].as_object();
    let done_note = match q.get("done") {
        "completed" => Some("To-do completed."),
        "assigned" => Some("To-do assigned."),
        _ => None,
    };
    let error_note = q.get("error");
    ok(layout(
        Some(s),
        "calls",
        &format!(
            "Call from {}",
            call["from"].as_str().unwrap_or("an unknown number")
        ),
        html! {
            @if let Some(n) = done_note { p.saved role="status" { (n) } }
            @if !error_note.is_empty() { p.error role="alert" { (error_note) } }
            dl.facts {
                dt { "Status" } dd {
                    @if is_live(status) { span.badge.live { "● live" } " " }
                    (status)
                }
                dt { "Direction" } dd { (call["direction"].as_str().unwrap_or_default()) }
                dt { "From" } dd { (call["from"].as_str().unwrap_or_default()) }
                dt { "To" } dd { (call["to"].as_str().unwrap_or_default()) }
                dt { "Agent" } dd { (call["agent"].as_str().unwrap_or_default()) }
                dt { "Started" } dd { (when(&call["started_at"])) }
                dt { "Duration" } dd { (duration(&call["duration_secs"])) }
                dt { "Outcome" } dd #outcome { (outcome_words(&call["outcome"])) }
                dt { "Call SID" } dd { code { (sid) } }
            }
            section aria-labelledby="rec-title" {
                h2 #rec-title { "Recording" }
                @if let Some(url) = call["recording_url"].as_str() {
                    audio #recording controls preload="metadata" src=(url) aria-label="The call's recording" {
                        a href=(url) { "Download the recording" }
                    }
                    p.hint { "The link works until " (when(&call["links_expire_at"])) "." }
                } @else {
                    p { (match call["recording"]["status"].as_str() {
                        Some("failed") => "Twilio failed to record this call.",
                        Some("absent") => "This call was not recorded.",
                        Some(_) => "The recording is not ready yet.",
                        None => "No recording.",
                    }) }
                }
                @if let Some(url) = call["transcript_url"].as_str() {
                    p { a href=(url) { "The full transcript (JSON)" } }
                }
            }
            section aria-labelledby="turns-title" {
                h2 #turns-title { "Conversation" }
                @if turns.is_empty() { p { "Nothing was said." } }
                ol.turns {
                    @for t in turns {
                        @let speaker = t["speaker"].as_str().unwrap_or_default();
                        li class=(speaker) {
                            span.offset { (format_offset(&t["offset_ms"])) }
                            span.speaker { (if speaker == "agent" { "Agent" } else { "Caller" }) }
                            p { (t["text"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
            section aria-labelledby="analysis-title" {
                h2 #analysis-title { "Analyzers" }
                @match analysis {
                    Some(results) if !results.is_empty() => {
                        @for (name, result) in results {
                            article.analysis {
                                h3 { (name) }
                                @if let Some(e) = result["error"].as_str() {
                                    p.error { "Failed: " (e) }
                                } @else {
                                    (json_block(&result["value"]))
                                }
                            }
                        }
                    }
                    _ => { p { "No analyzer results yet." } }
                }
            }
            section aria-labelledby="todos-title" {
                h2 #todos-title { "To-dos" }
                @if todos.is_empty() { p { "This call left no to-dos." } }
                ul.todos {
                    @for t in &todos {
                        (super::people::todo_item(s, t, &format!("{PREFIX}/calls/{}", enc(sid))))
                    }
                }
            }
            section aria-labelledby="stages-title" {
                h2 #stages-title { "After the call" }
                @match stages {
                    Some(stages) if !stages.is_empty() => {
                        ul.stages {
                            @for (name, state) in in_order(stages) {
                                @let (what, words) = stage_words(name, state);
                                li class=(state["status"].as_str().unwrap_or_default()) {
                                    strong { (what) } ": " (words)
                                }
                            }
                        }
                    }
                    _ => { p { "The work after the call has not started." } }
                }
                @if let Some(e) = post["last_error"].as_str() {
                    p.error { "Last error: " (e) }
                }
                @if post["dead_lettered"].as_bool().unwrap_or(false) {
                    p.error { "Gave up after " (post["attempts"]) " attempts: the job is in the dead-letter queue." }
                }
            }
            p { a href={ (PREFIX) "/calls" } { "All calls" } }
        },
    ))
}

fn format_offset(ms: &Value) -> String {
    let secs = ms.as_u64().unwrap_or(0) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// The stages in the order they run (the record keeps them by name).
fn in_order(stages: &serde_json::Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut out: Vec<(&str, &Value)> = hotline_core::model::Stage::ALL
        .iter()
        .filter_map(|s| stages.get_key_value(s.name()))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    for (k, v) in stages {
        if !out.iter().any(|(name, _)| name == k) {
            out.push((k.as_str(), v));
        }
    }
    out
}
