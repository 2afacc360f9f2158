//! Lambda entry point: build the dependencies once per cold start, then serve batches.

use aws_lambda_events::event::sqs::SqsEvent;
use hotline_postcall::{ApiKeySource, Deps, PostcallConfig, handle_batch_before};
use hotline_store::{StoreConfig, Stores};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use secrecy::SecretString;

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
    let key = match &config.openai_key {
        ApiKeySource::Value(key) => key.clone(),
        ApiKeySource::SsmParameter(name) => read_parameter(name).await?,
    };
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

/// The OpenAI key, decrypted from its SSM SecureString parameter.
async fn read_parameter(name: &str) -> Result<SecretString, Error> {
    // A cold start that cannot read its key fails fast rather than hang to the timeout.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    let out = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await?;
    let value = out
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| format!("SSM parameter {name} has no value"))?;
    Ok(SecretString::from(value))
}
