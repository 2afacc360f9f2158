//! The subcommands. Each reads its settings from the environment and flags.

pub mod apply;
pub mod call;
pub mod calls;
pub mod campaign;
pub mod demo;
pub mod dial;
pub mod keys;
pub mod sms;
pub mod tunnel;
pub mod up;
pub mod users;

use hotline_stream_node::telemetry::Telemetry;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Human-readable logs on stderr, `RUST_LOG` to filter (default: info).
pub fn init_logs() {
    init_logs_or("info,hyper=warn,aws=warn");
}

/// As [`init_logs`], with `default` as the filter when `RUST_LOG` is not set.
pub fn init_logs_or(default: &str) {
    install(default, None);
}

/// As [`init_logs`], and the stream nodes' traces and latency histograms exported
/// over OTLP when the standard `OTEL_EXPORTER_OTLP_*` variables say where; the returned
/// guard flushes them when dropped.
pub fn init_logs_and_telemetry() -> anyhow::Result<Telemetry> {
    let telemetry = Telemetry::from_env("hotline")?;
    install("info,hyper=warn,aws=warn", Some(&telemetry));
    Ok(telemetry)
}

fn install(default: &str, telemetry: Option<&Telemetry>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(telemetry.and_then(Telemetry::layer))
        .try_init();
}
