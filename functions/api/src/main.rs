//! Lambda entry point: build the dependencies once per cold start, then serve.

use hotline_api::{Deps, TwilioSetup, handle};
use hotline_store::{StoreConfig, Stores};
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
        directory: stores.directory,
        calls: stores.calls,
        api_keys: stores.api_keys,
        twilio: TwilioSetup::from_env()?,
    };
    let deps = &deps;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handle(deps, req).await)
    }))
    .await
}
