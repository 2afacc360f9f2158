//! OpenTelemetry export: traces (a span per call, per turn, per tool call, per provider
//! connect) and the latency histograms, over OTLP/HTTP (protobuf). Off unless the
//! standard variables say where to send them: `OTEL_EXPORTER_OTLP_ENDPOINT`, or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` for one
//! signal; `OTEL_SDK_DISABLED=true` turns both off. The exporter itself reads the rest
//! (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_METRIC_EXPORT_INTERVAL`).
//! In AWS the endpoint is the ADOT collector beside the node (`http://localhost:4318`).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// Why telemetry could not be set up as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP trace exporter: {0}")]
    Traces(#[source] opentelemetry_otlp::ExporterBuildError),
    #[error("OTLP metric exporter: {0}")]
    Metrics(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// The exporters the environment configured; flushed and stopped on drop.
#[derive(Default)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

/// Which signals the environment asks to export, read through `var`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub traces: bool,
    pub metrics: bool,
}

impl Wanted {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Self {
                traces: false,
                metrics: false,
            };
        }
        let all = set("OTEL_EXPORTER_OTLP_ENDPOINT");
        let off = |name: &str| var(name).is_some_and(|v| v.trim() == "none");
        Self {
            traces: (all || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
                && !off("OTEL_TRACES_EXPORTER"),
            metrics: (all || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
                && !off("OTEL_METRICS_EXPORTER"),
        }
    }
}

impl Telemetry {
    /// Starts the exporters the environment asks for (none: nothing runs, nothing is
    /// sent). Metrics are recorded through the global meter, so they go wherever this
    /// configured it.
    pub fn from_env(service: &str) -> Result<Self, TelemetryError> {
        let wanted = Wanted::from_vars(|name| std::env::var(name).ok());
        let resource = resource(service);
        let traces = if wanted.traces {
            let exporter = SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build()
                .map_err(TelemetryError::Traces)?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            )
        } else {
            None
        };
        let metrics = if wanted.metrics {
            let exporter = MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build()
                .map_err(TelemetryError::Metrics)?;
            let provider = SdkMeterProvider::builder()
                .with_periodic_exporter(exporter)
                .with_resource(resource)
                .build();
            opentelemetry::global::set_meter_provider(provider.clone());
            Some(provider)
        } else {
            None
        };
        Ok(Self { traces, metrics })
    }

    /// The tracing layer that turns hotline's spans into OpenTelemetry spans, when
    /// traces are exported. Only the stream node's own spans go: the call, its turns,
    /// tools and provider connects, not every dependency's.
    pub fn layer<S>(&self) -> Option<impl Layer<S> + use<S>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let tracer = self.traces.as_ref()?.tracer("hotline-stream-node");
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(
                    Targets::new().with_target("hotline_stream_node", tracing::Level::INFO),
                ),
        )
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // What is still batched goes out before the process ends (a drained node's last calls).
        if let Some(traces) = self.traces.take()
            && let Err(e) = traces.shutdown()
        {
            tracing::warn!(error = %e, "flushing traces at shutdown");
        }
        if let Some(metrics) = self.metrics.take()
            && let Err(e) = metrics.shutdown()
        {
            tracing::warn!(error = %e, "flushing metrics at shutdown");
        }
    }
}

/// `service` names the process unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// already do.
fn resource(service: &str) -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let builder = Resource::builder();
    if named {
        builder.build()
    } else {
        builder.with_service_name(service.to_owned()).build()
    }
}

/// The latency histograms, in milliseconds, on the global meter (a no-op until
/// [`Telemetry::from_env`] configures one).
pub struct Instruments {
    /// Caller stopped speaking → the reply's first audio sent to Twilio.
    pub turn_respond: Histogram<u64>,
    /// Caller stopped speaking → Twilio echoed the mark behind that audio (heard).
    pub turn_heard: Histogram<u64>,
    /// The AI provider's session opened and configured.
    pub provider_connect: Histogram<u64>,
    /// A tool call, from the model's request to its answer.
    pub tool: Histogram<u64>,
}

pub fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter("hotline-stream-node");
        let ms = |name: &'static str, description: &'static str| {
            meter
                .u64_histogram(name)
                .with_unit("ms")
                .with_description(description)
                .build()
        };
        Instruments {
            turn_respond: ms(
                "hotline.turn.respond",
                "caller stopped speaking to the reply's first audio sent",
            ),
            turn_heard: ms(
                "hotline.turn.heard",
                "caller stopped speaking to the reply's first audio played to the caller",
            ),
            provider_connect: ms(
                "hotline.provider.connect",
                "the AI provider's session opened and configured",
            ),
            tool: ms("hotline.tool.duration", "a tool call, asked to answered"),
        }
    })
}

/// Runs a tool call's future in a `tool` span and records its duration.
pub fn tool<F: Future>(name: &str, run: F) -> impl Future<Output = F::Output> + use<F> {
    let span = tracing::info_span!("tool", tool = %name);
    let attribute = [KeyValue::new("tool", name.to_owned())];
    async move {
        let started = Instant::now();
        let output = run.await;
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        instruments().tool.record(took, &attribute);
        output
    }
    .instrument(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(vars: &[(&str, &str)]) -> Wanted {
        Wanted::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn nothing_is_exported_unless_an_endpoint_is_set() {
        let off = Wanted {
            traces: false,
            metrics: false,
        };
        assert_eq!(wanted(&[]), off);
        assert_eq!(wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), off);
        assert_eq!(
            wanted(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            off
        );
    }

    #[test]
    fn one_endpoint_sends_both_signals_and_a_signal_endpoint_only_its_own() {
        assert_eq!(
            wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")]),
            Wanted {
                traces: true,
                metrics: true
            }
        );
        assert_eq!(
            wanted(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/v1/traces")]),
            Wanted {
                traces: true,
                metrics: false
            }
        );
        assert_eq!(
            wanted(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
                ("OTEL_METRICS_EXPORTER", "none")
            ]),
            Wanted {
                traces: true,
                metrics: false
            }
        );
    }
}
