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

/// Human-readable logs on stderr, `RUST_LOG` to filter (default: info).
pub fn init_logs() {
    init_logs_or("info,hyper=warn,aws=warn");
}

/// As [`init_logs`], with `default` as the filter when `RUST_LOG` is not set.
pub fn init_logs_or(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .try_init();
}
