//! The stream node: terminates Twilio Media Streams and bridges each call's audio to a
//! realtime AI, one task per call.

pub mod auth;
pub mod call;
pub mod config;
pub mod dtmf_tool;
pub mod gemini;
pub mod heartbeat;
pub mod live_metric;
pub mod memory;
pub mod openai;
pub mod opt_out_tool;
pub mod pipeline;
pub mod provider;
pub mod server;
pub mod sms_tool;
pub mod telemetry;
pub mod tools;
pub mod transfer;

pub use call::{CallContext, run_call};
pub use config::NodeConfig;
pub use server::StreamNode;

/// Resolves on SIGTERM (what ECS sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
}
