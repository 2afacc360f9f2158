//! Lambda entry point: build the dependencies once per cold start, then serve.

use std::sync::Arc;

use hotline_api::{AuthSettings, Deps, TwilioSetup, handle, status_callback_from};
use hotline_store::{StoreConfig, Stores, blob_links};
use hotline_twilio::messages::TwilioTexts;
use hotline_twilio::rest::TwilioClient;
use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let store = StoreConfig::from_env()?;
    let stores = Stores::open(&store).await?;
    // The local store's links are served by `hotline up`, which builds its own; this
    // base only matters for a local store behind a Lambda emulator.
    let links = blob_links(&store, "http://127.0.0.1:3000").await?;
    let deps = Deps::new(
        &stores,
        AuthSettings::from_env()?,
        Arc::new(TwilioTexts(TwilioClient::from_env(reqwest::Client::new()))),
        status_callback_from(std::env::var("HOTLINE_PUBLIC_URL").ok())?,
        links,
        TwilioSetup::from_env()?,
    );
    let deps = &deps;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handle(deps, req).await)
    }))
    .await
}
