//! Lambda entry point: build the dependencies once per cold start, then serve.

use std::sync::Arc;

use hotline_status::{Deps, route};
use hotline_store::{StoreConfig, Stores};
use hotline_twilio::calls::TwilioCalls;
use hotline_twilio::rest::TwilioClient;
use hotline_webhook::WebhookConfig;
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
        config: WebhookConfig::from_env()?,
        directory: stores.directory,
        calls: stores.calls,
        dials: stores.dials,
        campaigns: stores.campaigns,
        placer: Arc::new(TwilioCalls(TwilioClient::from_env(reqwest::Client::new()))),
    };
    let deps = &deps;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(route(deps, req).await)
    }))
    .await
}
