//! The subcommands. Each reads its settings from the environment and flags.

pub mod apply;
pub mod call;
pub mod calls;
pub mod demo;
pub mod up;

/// Human-readable logs on stderr, `RUST_LOG` to filter (default: info).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,aws=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .try_init();
}
