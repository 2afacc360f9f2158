//! Lambda entry point: build the dependencies once per cold start, then serve.

use std::sync::Arc;
use std::time::Duration;

use hotline_llm::OpenAiRest;
use hotline_sms::{Deps, SmsConfig, route};
use hotline_store::{StoreConfig, Stores};
use hotline_twilio::messages::TwilioTexts;
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
    let config = SmsConfig::from_env()?;
    let stores = Stores::open(&StoreConfig::from_env()?).await?;
    let key = config.openai_key.resolve().await?;
    let llm = OpenAiRest::new(&config.openai_base_url, key, reqwest::Client::new())
        .with_timeout(config.llm_timeout);
    let deps = Deps {
        config: WebhookConfig::from_env()?,
        directory: stores.directory,
        calls: stores.calls,
        contacts: stores.contacts,
        messages: stores.messages,
        llm,
        model: config.model,
        claim: config.llm_timeout + Duration::from_secs(5),
        // A retry waits within Twilio's 15 s for the answer the first delivery makes.
        wait: Duration::from_secs(12),
        reply_budget: config.reply_budget,
        texts: Arc::new(TwilioTexts(TwilioClient::from_env(reqwest::Client::new()))),
    };
    let deps = &deps;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(route(deps, req).await)
    }))
    .await
}
