//! Lambda entry point: build the dependencies once per cold start, then run the dialer
//! on every scheduled event.

use std::sync::Arc;

use hotline_dialer::{Deps, handle, urls_from_env};
use hotline_store::{StoreConfig, Stores};
use hotline_twilio::calls::TwilioCalls;
use hotline_twilio::rest::TwilioClient;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let urls = urls_from_env()?;
    let stores = Stores::open(&StoreConfig::from_env()?).await?;
    let deps = Deps {
        directory: stores.directory,
        calls: stores.calls,
        contacts: stores.contacts,
        dials: stores.dials,
        campaigns: stores.campaigns,
        placer: Arc::new(TwilioCalls(TwilioClient::from_env(reqwest::Client::new()))),
        urls,
    };
    let deps = &deps;
    // The EventBridge event says nothing the run needs.
    run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let report = handle(deps).await?;
            Ok::<_, Error>(serde_json::json!({
                "campaigns": report.campaigns,
                "placed": report.placed,
                "failed": report.failed,
                "opted_out": report.opted_out,
                "released": report.released,
                "completed": report.completed,
            }))
        },
    ))
    .await
}
