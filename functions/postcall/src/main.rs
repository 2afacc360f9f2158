//! Lambda entry point: build the dependencies once per cold start, then serve batches.

use aws_lambda_events::event::sqs::SqsEvent;
use hotline_postcall::{Deps, PostcallConfig, handle_batch_before};
use hotline_store::{StoreConfig, Stores};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let config = PostcallConfig::from_env()?;
    let stores = Stores::open(&StoreConfig::from_env()?).await?;
    let key = config.openai_key.resolve().await?;
    let deps = Deps::new(config, &stores, key)?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = instant_of(event.context.deadline);
        Ok::<_, Error>(handle_batch_before(deps, event.payload, Some(deadline)).await?)
    }))
    .await
}

/// Lambda's deadline (milliseconds since the epoch) on tokio's clock.
fn instant_of(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
