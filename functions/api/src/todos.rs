//! `/api/v1/todos`: the follow-ups calls produced, listed, completed and assigned.

use chrono::{DateTime, NaiveDate, Utc};
use hotline_core::model::Todo;
use hotline_core::ports::{StoreResult, TodoPosition};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::edit::{Edit, Place};
use crate::problem::{ApiError, Problem};
use crate::query::{QueryParams, encode_cursor, object_body, present};
use crate::{Deps, json};

/// To-dos read from the store per request at most: a filter that matches rarely gives a
/// short page (with a cursor) rather than a long scan.
const MAX_SCAN: usize = 1000;
const BATCH: usize = 100;
const MAX_ASSIGNEE: usize = 200;
const MAX_TITLE: usize = 500;

/// A follow-up from a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodoOut {
    /// `{CallSid}-{n}`.
    pub id: String,
    /// The call that produced it.
    pub call: String,
    /// The contact it concerns (E.164), when known.
    pub contact: Option<String>,
    pub title: String,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>)]
    pub due: Option<NaiveDate>,
    pub assignee: Option<String>,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    /// Changes on every write; send it with a `PATCH` to write over this version only.
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TodoPage {
    pub todos: Vec<TodoOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// The fields to set; an absent field is left alone, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TodoPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    #[serde(default)]
    pub title: Option<String>,
    /// `YYYY-MM-DD`, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub due: Option<Option<NaiveDate>>,
    #[serde(default)]
    pub done: Option<bool>,
    /// When sent, the write happens only over this version (else 409).
    #[serde(default)]
    pub version: Option<u64>,
}

fn view(t: &Todo) -> TodoOut {
    TodoOut {
        id: t.id.clone(),
        call: t.call.to_string(),
        contact: t.contact.as_ref().map(ToString::to_string),
        title: t.title.clone(),
        due: t.due,
        assignee: t.assignee.clone(),
        done: t.done,
        created_at: t.created_at,
        version: t.version,
    }
}

struct Filter {
    done: Option<bool>,
    assignee: Option<String>,
    after: Option<TodoPosition>,
    limit: usize,
}

impl Filter {
    fn parse(req: &Request) -> Result<Self, ApiError> {
        let params = QueryParams::of(req);
        let bad_cursor = || ApiError::BadRequest("cursor is not one this API gave out".into());
        let after = params
            .cursor()?
            .map(|c| {
                let (at, id) = c.split_once('|').ok_or_else(bad_cursor)?;
                let created_at = DateTime::parse_from_rfc3339(at)
                    .map_err(|_| bad_cursor())?
                    .with_timezone(&Utc);
                Todo::call_of(id).ok_or_else(bad_cursor)?;
                Ok::<_, ApiError>(TodoPosition {
                    created_at,
                    id: id.to_owned(),
                })
            })
            .transpose()?;
        let done = match params.first("status") {
            None => None,
            Some("open") => Some(false),
            Some("done") => Some(true),
            Some(_) => return Err(ApiError::BadRequest("status: must be open or done".into())),
        };
        let assignee = params.first("assignee").map(str::to_owned);
        if assignee
            .as_ref()
            .is_some_and(|a| a.chars().count() > MAX_ASSIGNEE)
        {
            return Err(ApiError::BadRequest(format!(
                "assignee: at most {MAX_ASSIGNEE} characters"
            )));
        }
        Ok(Self {
            done,
            assignee,
            after,
            limit: params.limit()?,
        })
    }

    fn matches(&self, t: &Todo) -> bool {
        self.done.is_none_or(|d| t.done == d)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| t.assignee.as_ref() == Some(a))
    }
}

fn cursor(position: &TodoPosition) -> String {
    encode_cursor(&format!(
        "{}|{}",
        position.created_at.to_rfc3339(),
        position.id
    ))
}

/// The organization's to-dos, newest first.
#[utoipa::path(get, path = "/api/v1/todos", operation_id = "listTodos", tag = "todos",
    security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "open or done"),
        ("assignee" = Option<String>, Query, description = "Only those assigned to exactly this"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses(
        (status = 200, body = TodoPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    let filter = Filter::parse(req)?;
    let mut position = filter.after.clone();
    let mut todos = Vec::new();
    let mut scanned = 0;
    let next = loop {
        let batch = deps
            .todos
            .list_todos_after(&caller.org, position.as_ref(), BATCH)
            .await?;
        let exhausted = batch.len() < BATCH;
        for todo in batch {
            position = Some(TodoPosition::of(&todo));
            scanned += 1;
            if todo.org == caller.org && filter.matches(&todo) {
                todos.push(view(&todo));
                if todos.len() == filter.limit {
                    break;
                }
            }
        }
        if exhausted && todos.len() < filter.limit {
            break None;
        }
        if todos.len() == filter.limit || scanned >= MAX_SCAN {
            break position.as_ref().map(cursor);
        }
    };
    Ok(json(
        StatusCode::OK,
        &TodoPage {
            todos,
            next_cursor: next,
        },
    ))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("to-do {}", id.chars().take(64).collect::<String>()))
}

/// Applies `change` to the organization's to-do `id` and writes it back, again from a
/// fresh read when another writer got there first (unless `version` pins the one read).
async fn modify(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    version: Option<u64>,
    change: impl Fn(&mut Todo),
) -> Result<Todo, ApiError> {
    if id.len() > 64 {
        return Err(not_found(id));
    }
    let target = format!("to-do {id}");
    let edit = Edit {
        target: &target,
        action: "todo.update",
        pinned: version,
    };
    let place = TodoPlace { deps, caller, id };
    crate::edit::modify(deps, caller, edit, &place, change, view).await
}

/// The caller's to-do with this id.
struct TodoPlace<'a> {
    deps: &'a Deps,
    caller: &'a Caller,
    id: &'a str,
}

impl Place for TodoPlace<'_> {
    type Record = Todo;

    async fn read(&self) -> Result<Todo, ApiError> {
        self.deps
            .todos
            .get_todo(&self.caller.org, self.id)
            .await?
            .filter(|t| t.org == self.caller.org)
            .ok_or_else(|| not_found(self.id))
    }

    async fn write(&self, todo: &Todo) -> StoreResult<Todo> {
        self.deps.todos.update_todo(todo).await
    }
}

/// Marks a to-do done (again: no change).
#[utoipa::path(post, path = "/api/v1/todos/{id}/complete", operation_id = "completeTodo", tag = "todos",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The to-do's id")),
    responses(
        (status = 200, body = TodoOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let todo = modify(deps, caller, id, None, |t| t.done = true).await?;
    Ok(json(StatusCode::OK, &view(&todo)))
}

/// Assigns, retitles, reschedules, reopens or completes a to-do.
#[utoipa::path(patch, path = "/api/v1/todos/{id}", operation_id = "patchTodo", tag = "todos",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The to-do's id")),
    request_body = TodoPatch,
    responses(
        (status = 200, body = TodoOut),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the stored one", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    deps: &Deps,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.may_write()?;
    let patch: TodoPatch = object_body(req)?;
    let assignee = patch
        .assignee
        .map(|a| a.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()));
    if let Some(Some(a)) = &assignee
        && (a.chars().count() > MAX_ASSIGNEE || a.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(format!(
            "assignee: at most {MAX_ASSIGNEE} characters, no control characters"
        )));
    }
    let title = patch.title.map(|t| t.trim().to_owned());
    if let Some(t) = &title
        && (t.is_empty() || t.chars().count() > MAX_TITLE)
    {
        return Err(ApiError::BadRequest(format!(
            "title: 1 to {MAX_TITLE} characters"
        )));
    }
    let todo = modify(deps, caller, id, patch.version, |t| {
        if let Some(a) = &assignee {
            t.assignee.clone_from(a);
        }
        if let Some(title) = &title {
            t.title.clone_from(title);
        }
        if let Some(due) = patch.due {
            t.due = due;
        }
        if let Some(done) = patch.done {
            t.done = done;
        }
    })
    .await?;
    Ok(json(StatusCode::OK, &view(&todo)))
}
