//! A metering proxy in front of the AWS emulator: every request the platform makes to
//! AWS passes through it (point `AWS_ENDPOINT_URL` at [`AwsMeter::endpoint`]) and is
//! counted by service and operation, with the bytes each way, before it is forwarded
//! unchanged. The cost of a call is computed from these counts (`infra/cost.py`), so
//! they come from what the code really does, not from a reading of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::server::{Server, Shared};

/// Requests and bytes of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub requests: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// DynamoDB: the write (or read) units the items would cost at 1 KiB (4 KiB) per
    /// unit, from the size of each request's items as sent (an upper bound: the wire
    /// form carries type tags the stored item does not).
    pub capacity_units: u64,
}

struct State {
    upstream: String,
    client: reqwest::Client,
    usage: BTreeMap<String, Usage>,
}

/// The proxy; it stops when dropped.
pub struct AwsMeter {
    shared: Arc<Shared<State>>,
    server: Server,
}

impl AwsMeter {
    /// Forwards to `upstream` (the emulator's endpoint, e.g. moto's).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            usage: BTreeMap::new(),
        }));
        let server = Server::http(Arc::clone(&shared), handle).await?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:{port}`: what `AWS_ENDPOINT_URL` should say.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Usage so far, by `service:Operation` (`dynamodb:PutItem`, `s3:PUT`, …).
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.shared.lock().usage.clone()
    }

    /// Forgets what was counted (e.g. the setup before the call being measured).
    pub fn reset(&self) {
        self.shared.lock().usage.clear();
    }

    /// The usage as JSON: `{"dynamodb:PutItem": {"requests": …, …}, …}`.
    pub fn usage_json(&self) -> serde_json::Value {
        let usage = self.usage();
        serde_json::Value::Object(
            usage
                .into_iter()
                .map(|(op, u)| {
                    (
                        op,
                        json!({
                            "requests": u.requests,
                            "request_bytes": u.request_bytes,
                            "response_bytes": u.response_bytes,
                            "capacity_units": u.capacity_units,
                        }),
                    )
                })
                .collect(),
        )
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let operation = operation(&parts, &body);
    let (upstream, client) = {
        let state = shared.lock();
        (state.upstream.clone(), state.client.clone())
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let mut forward = client.request(parts.method.clone(), format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let answered = forward.body(body.clone()).send().await;
    let (status, headers, answer) = match answered {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            (status, headers, r.bytes().await.unwrap_or_default())
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            hyper::HeaderMap::new(),
            Bytes::new(),
        ),
    };
    let units = capacity_units(&operation, &body, &answer);
    {
        let mut state = shared.lock();
        let usage = state.usage.entry(operation).or_default();
        usage.requests += 1;
        usage.request_bytes += body.len() as u64;
        usage.response_bytes += answer.len() as u64;
        usage.capacity_units += units;
    }
    shared.notify();
    let mut response = Response::new(Full::new(answer));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// `service:Operation` from the JSON protocols' `X-Amz-Target`, the query protocol's
/// `Action`, or, for S3 (REST), the method.
fn operation(parts: &hyper::http::request::Parts, body: &[u8]) -> String {
    if let Some(target) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        && let Some((prefix, op)) = target.split_once('.')
    {
        if prefix.starts_with("DynamoDB") {
            return format!("dynamodb:{op}{}", entity(body));
        }
        let service = match prefix {
            p if p.starts_with("AmazonSQS") => "sqs",
            p if p.starts_with("TrentService") => "kms",
            p if p.starts_with("AmazonSSM") => "ssm",
            p => p,
        };
        return format!("{service}:{op}");
    }
    if let Some(action) = form_urlencoded::parse(body)
        .chain(form_urlencoded::parse(
            parts.uri.query().unwrap_or_default().as_bytes(),
        ))
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
    {
        return format!("query:{action}");
    }
    format!("s3:{}", parts.method)
}

/// `:KIND` for a DynamoDB request about one item, from its partition key (`CALL#CA…` →
/// `:CALL`, `NODES` → `:NODES`), so a call's writes can be told from a node's heartbeats.
fn entity(body: &[u8]) -> String {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let pk = request["Item"]["pk"]["S"]
        .as_str()
        .or_else(|| request["Key"]["pk"]["S"].as_str())
        .or_else(|| {
            request["ExpressionAttributeValues"]
                .as_object()
                .and_then(|values| values.values().find_map(|v| v["S"].as_str()))
        });
    pk.and_then(|pk| pk.split('#').next())
        .filter(|kind| !kind.is_empty())
        .map(|kind| format!(":{kind}"))
        .unwrap_or_default()
}

/// DynamoDB capacity units: a write unit per KiB of the items sent, a read unit per
/// 4 KiB of the items returned.
fn capacity_units(operation: &str, body: &[u8], answer: &[u8]) -> u64 {
    match operation {
        op if op.starts_with("dynamodb:PutItem")
            || op.starts_with("dynamodb:UpdateItem")
            || op.starts_with("dynamodb:DeleteItem") =>
        {
            (body.len() as u64).div_ceil(1024).max(1)
        }
        op if op.starts_with("dynamodb:GetItem") || op.starts_with("dynamodb:Query") => {
            (answer.len() as u64).div_ceil(4096).max(1)
        }
        "dynamodb:TransactWriteItems" | "dynamodb:BatchWriteItem" => {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .map_or(0, |v| {
                    let items = v["TransactItems"]
                        .as_array()
                        .cloned()
                        .or_else(|| {
                            v["RequestItems"].as_object().map(|tables| {
                                tables
                                    .values()
                                    .filter_map(|t| t.as_array().cloned())
                                    .flatten()
                                    .collect()
                            })
                        })
                        .unwrap_or_default();
                    // Transactions cost two units per KiB.
                    let factor = if operation.ends_with("TransactWriteItems") {
                        2
                    } else {
                        1
                    };
                    items
                        .iter()
                        .map(|i| factor * (i.to_string().len() as u64).div_ceil(1024).max(1))
                        .sum()
                })
        }
        _ => 0,
    }
}
