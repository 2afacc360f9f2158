//! Lambda entry point: build the dependencies once per cold start, then serve.

use hotline_store::{StoreConfig, Stores};
use hotline_voice::{Deps, VoiceConfig, route};
use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let stores = Stores::open(&StoreConfig::from_env()?).await?;
    let deps = Deps {
        config: VoiceConfig::from_env()?,
        directory: stores.directory,
        calls: stores.calls,
        contacts: stores.contacts,
        dials: stores.dials,
        nodes: stores.nodes,
        prewarm: hotline_voice::Prewarmer::from_lookup(|k| std::env::var(k).ok()),
    };
    let deps = &deps;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(route(deps, req).await)
    }))
    .await
}
