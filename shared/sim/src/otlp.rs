//! An OpenTelemetry collector's OTLP/HTTP receiver on a loopback port: it accepts
//! `POST /v1/traces` and `POST /v1/metrics` with protobuf bodies (what an exporter sends
//! by default), decodes them with the OpenTelemetry project's own message types
//! (`opentelemetry-proto`), and keeps the spans and the histogram points for a test to
//! read. Anything else is refused as a collector would: 404 for another path, 415 for a
//! body not declared `application/x-protobuf`, 400 for one that does not decode.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message as _;

use crate::server::{self, Server, Shared};

/// One span as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    /// Empty for a root span.
    pub parent_span_id: Vec<u8>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// Attributes with their values as text (`"42"` for an integer).
    pub attributes: Vec<(String, String)>,
    /// `service.name` of the resource that sent it.
    pub service: Option<String>,
}

impl Span {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nanos.saturating_sub(self.start_unix_nanos))
    }
}

/// One histogram data point as exported (cumulative or delta, as the exporter chose).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    /// The metric's name, e.g. `hotline.turn.respond`.
    pub metric: String,
    pub unit: String,
    pub count: u64,
    pub sum: Option<f64>,
    pub max: Option<f64>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    spans: Vec<Span>,
    histograms: Vec<HistogramPoint>,
    refused: usize,
}

/// The receiver; it stops when dropped.
pub struct Collector {
    shared: Arc<Shared<State>>,
    server: Server,
}

impl Collector {
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::new(State::default()));
        let server = Server::http(Arc::clone(&shared), handle).await?;
        Ok(Self { shared, server })
    }

    /// What to set `OTEL_EXPORTER_OTLP_ENDPOINT` to: `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn spans(&self) -> Vec<Span> {
        self.shared.lock().spans.clone()
    }

    pub fn histograms(&self) -> Vec<HistogramPoint> {
        self.shared.lock().histograms.clone()
    }

    /// Requests refused (wrong path, type or body).
    pub fn refused(&self) -> usize {
        self.shared.lock().refused
    }

    /// The spans once `done` holds for them, or `None` after `timeout`.
    pub async fn wait_for_spans(
        &self,
        done: impl Fn(&[Span]) -> bool,
        timeout: Duration,
    ) -> Option<Vec<Span>> {
        self.shared
            .wait_until(|s| done(&s.spans).then(|| s.spans.clone()), timeout)
            .await
    }

    /// The histogram points once `done` holds for them, or `None` after `timeout`.
    pub async fn wait_for_histograms(
        &self,
        done: impl Fn(&[HistogramPoint]) -> bool,
        timeout: Duration,
    ) -> Option<Vec<HistogramPoint>> {
        self.shared
            .wait_until(
                |s| done(&s.histograms).then(|| s.histograms.clone()),
                timeout,
            )
            .await
    }
}

async fn handle(shared: Arc<Shared<State>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let protobuf = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-protobuf"));
    let post = request.method() == Method::POST;
    let path = request.uri().path().to_owned();
    let refuse = |status: StatusCode| {
        shared.lock().refused += 1;
        shared.notify();
        reply(status, Bytes::new())
    };
    if !post || (path != "/v1/traces" && path != "/v1/metrics") {
        return refuse(StatusCode::NOT_FOUND);
    }
    if !protobuf {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let body = server::body(request).await;
    let answer = if path == "/v1/traces" {
        let Ok(export) = ExportTraceServiceRequest::decode(body) else {
            return refuse(StatusCode::BAD_REQUEST);
        };
        shared.lock().spans.extend(spans(export));
        ExportTraceServiceResponse::default().encode_to_vec()
    } else {
        let Ok(export) = ExportMetricsServiceRequest::decode(body) else {
            return refuse(StatusCode::BAD_REQUEST);
        };
        shared.lock().histograms.extend(histograms(export));
        ExportMetricsServiceResponse::default().encode_to_vec()
    };
    shared.notify();
    reply(StatusCode::OK, Bytes::from(answer))
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn spans(export: ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(text)
        });
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Span {
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    start_unix_nanos: span.start_time_unix_nano,
                    end_unix_nanos: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    service: service.clone(),
                });
            }
        }
    }
    out
}

fn histograms(export: ExportMetricsServiceRequest) -> Vec<HistogramPoint> {
    let mut out = Vec::new();
    for resource in export.resource_metrics {
        for scope in resource.scope_metrics {
            for m in scope.metrics {
                let Some(metric::Data::Histogram(histogram)) = m.data else {
                    continue;
                };
                for point in histogram.data_points {
                    out.push(HistogramPoint {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        count: point.count,
                        sum: point.sum,
                        max: point.max,
                        attributes: attributes(&point.attributes),
                    });
                }
            }
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?))))
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
