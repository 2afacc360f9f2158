//! `/api/v1/calls`: the organization's calls, filtered and paged, and one call in full.

use chrono::{DateTime, Utc};
use hotline_core::model::{Call, CallStatus, Direction, Speaker};
use hotline_core::ports::{BlobKey, CallPosition};
use hotline_core::{AgentId, CallSid};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::auth::Caller;
use crate::cursor;
use crate::problem::{ApiError, Problem};
use crate::views::{CallDetail, CallPage, CallSummary, TurnOut};
use crate::{Deps, json};

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;
/// Calls read from the store per request at most: a filter that matches rarely gives a
/// short page (with a cursor) rather than a long scan.
const MAX_SCAN: usize = 1000;
const BATCH: usize = 100;
/// How long a link to a recording or transcript works: long enough to start a download,
/// short enough that a leaked link soon stops working.
const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// What `GET /api/v1/calls` filters by.
#[derive(Debug, Default)]
struct Filter {
    status: Option<CallStatus>,
    direction: Option<Direction>,
    agent: Option<AgentId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cursor: Option<CallPosition>,
    limit: usize,
}

/// A query string's parameters; a repeated one counts as its first value.
struct Query<'a>(&'a [(String, String)]);

impl Query<'_> {
    fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Filter {
    fn parse(req: &Request) -> Result<Self, ApiError> {
        // From the URL itself, which API Gateway and the local gateway both pass on whole.
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let q = Query(&pairs);
        let bad = |name: &str, why: &str| ApiError::BadRequest(format!("{name}: {why}"));
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
            q.first(name)
                .map(|v| {
                    DateTime::parse_from_rfc3339(v)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            bad(name, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
                        })
                })
                .transpose()
        };
        let limit = match q.first("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| bad("limit", "must be between 1 and 100"))?,
        };
        Ok(Self {
            status: q
                .first("status")
                .map(|v| {
                    CallStatus::parse(v).ok_or_else(|| bad("status", "not a Twilio call status"))
                })
                .transpose()?,
            direction: q
                .first("direction")
                .map(|v| {
                    Direction::parse(v).ok_or_else(|| {
                        bad(
                            "direction",
                            "must be inbound, outbound-api or outbound-dial",
                        )
                    })
                })
                .transpose()?,
            agent: q
                .first("agent")
                .map(|v| AgentId::parse(v).map_err(|e| bad("agent", &e.to_string())))
                .transpose()?,
            from: time("from")?,
            to: time("to")?,
            cursor: q.first("cursor").map(cursor::decode).transpose()?,
            limit,
        })
    }

    fn matches(&self, call: &Call) -> bool {
        self.status.is_none_or(|s| call.status == s)
            && self.direction.is_none_or(|d| call.direction == d)
            && self.agent.as_ref().is_none_or(|a| &call.agent == a)
    }

    /// Where the walk starts: after the cursor, and before `to`, whichever is older.
    fn start(&self) -> Option<CallPosition> {
        let to = self.to.map(|t| CallPosition {
            started_at: t,
            sid: None,
        });
        match (self.cursor.clone(), to) {
            (Some(c), Some(t)) if t.started_at < c.started_at => Some(t),
            (Some(c), _) => Some(c),
            (None, t) => t,
        }
    }
}

fn summary(call: &Call) -> CallSummary {
    CallSummary {
        sid: call.sid.to_string(),
        agent: call.agent.to_string(),
        from: call.from.to_string(),
        to: call.to.to_string(),
        direction: serde_json::to_value(call.direction)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: serde_json::to_value(call.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        started_at: call.started_at,
        answered_at: call.answered_at,
        ended_at: call.ended_at,
        duration_secs: call.duration_secs(),
        contact: call.contact.as_ref().map(ToString::to_string),
        outcome: call
            .outcome
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok()),
    }
}

/// The organization's calls, newest first.
#[utoipa::path(get, path = "/api/v1/calls", operation_id = "listCalls", tag = "calls",
    security(("bearer" = [])),
    params(
        ("status" = Option<String>, Query, description = "Twilio's call status, e.g. completed"),
        ("direction" = Option<String>, Query, description = "inbound, outbound-api or outbound-dial"),
        ("agent" = Option<String>, Query, description = "The agent's id"),
        ("from" = Option<String>, Query, description = "Started at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, description = "Started before this RFC 3339 time"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
    ),
    responses(
        (status = 200, body = CallPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(deps: &Deps, caller: &Caller, req: &Request) -> Result<Response<Body>, ApiError> {
    let filter = Filter::parse(req)?;
    let mut position = filter.start();
    let mut calls = Vec::new();
    let mut scanned = 0;
    let next = loop {
        let batch = deps
            .calls
            .list_calls_after(&caller.org, position.as_ref(), BATCH)
            .await?;
        let exhausted = batch.len() < BATCH;
        let mut reached_from = false;
        for call in batch {
            if filter.from.is_some_and(|from| call.started_at < from) {
                reached_from = true;
                break;
            }
            position = Some(CallPosition::of(&call));
            scanned += 1;
            if call.org == caller.org && filter.matches(&call) {
                calls.push(summary(&call));
                if calls.len() == filter.limit {
                    break;
                }
            }
        }
        if reached_from || (exhausted && calls.len() < filter.limit) {
            break None;
        }
        if calls.len() == filter.limit || scanned >= MAX_SCAN {
            break position.as_ref().map(cursor::encode);
        }
    };
    Ok(json(
        StatusCode::OK,
        &CallPage {
            calls,
            next_cursor: next,
        },
    ))
}

/// One call with its turns and post-call stages.
#[utoipa::path(get, path = "/api/v1/calls/{sid}", operation_id = "getCall", tag = "calls",
    security(("bearer" = [])),
    params(("sid" = String, Path, description = "Twilio's CallSid")),
    responses(
        (status = 200, body = CallDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(deps: &Deps, caller: &Caller, sid: &str) -> Result<Response<Body>, ApiError> {
    let not_found =
        || ApiError::NotFound(format!("call {}", sid.chars().take(64).collect::<String>()));
    let sid = CallSid::parse(sid).map_err(|_| not_found())?;
    let call = deps
        .calls
        .get_call(&sid)
        .await?
        .filter(|c| c.org == caller.org)
        .ok_or_else(not_found)?;
    let turns = deps
        .calls
        .turns(&sid)
        .await?
        .into_iter()
        .map(|t| TurnOut {
            seq: t.seq,
            speaker: match t.speaker {
                Speaker::Caller => "caller",
                Speaker::Agent => "agent",
            }
            .to_owned(),
            text: t.text,
            offset_ms: t.offset_ms,
        })
        .collect();
    let mut post_call =
        serde_json::to_value(&call.post_call).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(fields) = post_call.as_object_mut() {
        // The job claim and lease are the worker's bookkeeping (the claim token included).
        fields.remove("job");
        fields.remove("lease_until");
    }
    let recording_url = link(
        deps,
        &call,
        call.recording.as_ref().and_then(|r| r.blob_key.as_deref()),
    )
    .await?;
    let transcript_url = link(
        deps,
        &call,
        call.post_call
            .transcript
            .as_ref()
            .map(|t| t.blob_key.as_str()),
    )
    .await?;
    let links_expire_at = (recording_url.is_some() || transcript_url.is_some())
        .then(|| Utc::now() + chrono::Duration::seconds(LINK_TTL.as_secs().cast_signed()));
    let detail = CallDetail {
        call: summary(&call),
        turns,
        recording: call
            .recording
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok()),
        recording_url,
        transcript_url,
        links_expire_at,
        post_call,
        outbound: call.outbound.as_ref().map(|o| {
            serde_json::json!({
                "dial": o.dial,
                "machine_detection": o.machine_detection,
                "answered_by": o.answered_by,
                "amd_outcome": o.amd_outcome,
                "fallback": o.fallback,
            })
        }),
    };
    Ok(json(StatusCode::OK, &detail))
}

/// A short-lived link to `key`, one of the call's own blobs: only a key under the
/// call's organization is linked, whatever the record says.
async fn link(deps: &Deps, call: &Call, key: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    let own = key.split('/').nth(1) == Some(call.org.as_str());
    let Some(key) = BlobKey::parse(key).ok().filter(|_| own) else {
        return Ok(None);
    };
    Ok(Some(deps.links.link(&key, LINK_TTL).await?))
}
