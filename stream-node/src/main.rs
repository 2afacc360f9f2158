//! The stream node's process: read the environment, serve until SIGTERM or Ctrl-C, drain.

use anyhow::Context as _;
use hotline_store::{StoreConfig, Stores};
use hotline_stream_node::telemetry::Telemetry;
use hotline_stream_node::{NodeConfig, StreamNode, shutdown_signal};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = Telemetry::from_env("hotline-stream-node").context("telemetry")?;
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    tracing_subscriber::registry()
        .with(logs)
        .with(telemetry.layer())
        .init();
    let config = NodeConfig::from_env().context("configuration")?;
    let stores = Stores::open(&StoreConfig::from_env().context("store configuration")?)
        .await
        .context("opening the store")?;
    let node = StreamNode::bind(config, stores.directory, stores.calls)
        .await
        .context("binding")?
        .with_registry(stores.nodes)
        .with_opt_out(hotline_stream_node::opt_out_tool::OptOutPorts {
            campaigns: stores.campaigns,
            dials: stores.dials,
        })
        .with_memory(hotline_stream_node::memory::Memory {
            contacts: stores.contacts,
            messages: stores.messages,
            // Delivery reports of texts sent during calls (`send_sms`).
            status_callback: std::env::var("HOTLINE_PUBLIC_URL")
                .ok()
                .and_then(|v| hotline_core::routes::base_url(&v, &["https", "http"]))
                .map(|base| format!("{base}{}", hotline_core::routes::SMS_STATUS)),
        });
    tracing::info!(addr = %node.local_addr()?, "stream node listening");
    node.serve(shutdown_signal()).await;
    Ok(())
}
