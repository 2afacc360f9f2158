//! What the worker needs, built once per cold start.

use std::sync::Arc;
use std::time::Duration;

use hotline_core::model::Stage;
use hotline_core::ports::{Blobs, Calls, Contacts, Directory, Mailer, Messages, Todos};
use hotline_llm::OpenAiRest;
use hotline_store::Stores;
use hotline_twilio::rest::TwilioClient;
use secrecy::SecretString;

use crate::config::PostcallConfig;

/// A failpoint for tests: asked after each stage is checkpointed; `true` stops the job
/// there as if the process had died (no clean-up, the lease stays taken).
pub type CrashHook = Arc<dyn Fn(Stage) -> bool + Send + Sync>;

#[derive(Clone)]
pub struct Deps {
    pub config: PostcallConfig,
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub contacts: Arc<dyn Contacts>,
    /// The contact's conversations: the call's turns join them as `phone` messages.
    pub messages: Arc<dyn Messages>,
    pub todos: Arc<dyn Todos>,
    pub blobs: Arc<dyn Blobs>,
    pub mailer: Arc<dyn Mailer>,
    pub twilio: TwilioClient,
    pub openai: OpenAiRest,
    pub crash_after: Option<CrashHook>,
}

/// Long enough to move an hour of MP3 or transcribe it; short of the function timeout.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(240);

impl Deps {
    pub fn new(
        config: PostcallConfig,
        stores: &Stores,
        openai_key: SecretString,
    ) -> Result<Self, reqwest::Error> {
        let providers = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            twilio: TwilioClient::new(&config.twilio_api_base_url, providers.clone())
                .with_timeout(PROVIDER_TIMEOUT),
            openai: OpenAiRest::new(config.openai_base_url.clone(), openai_key, providers),
            config,
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            contacts: stores.contacts.clone(),
            messages: stores.messages.clone(),
            todos: stores.todos.clone(),
            blobs: stores.blobs.clone(),
            mailer: stores.mailer.clone(),
            crash_after: None,
        })
    }
}
