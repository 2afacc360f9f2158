//! Lambda entry point: build the dependencies once per cold start, then sweep on every
//! scheduled event.

use hotline_store::{StoreConfig, Stores};
use hotline_sweeper::{Deps, SweepConfig, TwilioRecordings, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let config = SweepConfig::from_env()?;
    let stores = Stores::open(&StoreConfig::from_env()?).await?;
    let deps = Deps {
        recordings: TwilioRecordings::new(&config.twilio_api_base_url)?,
        config,
        directory: stores.directory,
        calls: stores.calls,
        queue: stores.postcall,
    };
    let deps = &deps;
    // The EventBridge event says nothing the sweep needs.
    run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let swept = handle(deps).await?;
            Ok::<_, Error>(serde_json::json!({
                "requested": swept.requested,
                "already_requested": swept.already_requested,
                "waiting": swept.waiting,
                "failed": swept.failed,
            }))
        },
    ))
    .await
}
