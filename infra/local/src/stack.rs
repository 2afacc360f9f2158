//! The whole platform in one process: every function's routes behind the local gateway,
//! the stream node, and (as they arrive) the queue consumers, on one store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline_store::Stores;
use hotline_stream_node::{NodeConfig, StreamNode};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::gateway::{self, Handler, Routes};

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub http_addr: SocketAddr,
    pub stream_addr: SocketAddr,
    /// What Twilio calls; default `http://{http address}`.
    pub public_url: Option<String>,
    /// Where Twilio opens streams; default `ws://{stream address}`.
    pub stream_public_url: Option<String>,
    /// The realtime AI the stream node talks to.
    pub openai_base_url: String,
    pub openai_api_key: SecretString,
    /// Gemini Live, for agents with `provider: gemini_live`.
    pub gemini_base_url: String,
    pub gemini_api_key: SecretString,
    /// OpenAI's REST API (chat completions), which answers texts: not the realtime one
    /// when the conversation is simulated.
    pub openai_rest_base_url: String,
    pub openai_rest_api_key: SecretString,
    pub twilio_api_base_url: String,
    pub max_calls: usize,
    pub drain: Duration,
    /// Webhook tools may reach `http` and loopback or private addresses: true for
    /// `hotline up` (a developer's own endpoints), false to run as deployed.
    pub webhook_allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

pub struct Stack {
    pub http: SocketAddr,
    pub stream: SocketAddr,
    pub public_url: String,
    pub stream_public_url: String,
    pub routes: Vec<String>,
    stop: CancellationToken,
    calls_shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

/// The SMS function's dependencies: the stack's OpenAI endpoint and key;
/// `HOTLINE_SMS_MODEL` and `HOTLINE_SMS_LLM_TIMEOUT_SECS` from the environment as in AWS.
fn sms_deps(
    config: &StackConfig,
    webhook: &hotline_webhook::WebhookConfig,
    stores: &Stores,
) -> Result<hotline_sms::Deps, StackError> {
    let sms = hotline_sms::SmsConfig::from_lookup(|k| match k {
        "OPENAI_API_KEY" => Some(config.openai_rest_api_key.expose_secret().to_owned()),
        "OPENAI_BASE_URL" => Some(config.openai_rest_base_url.clone()),
        "HOTLINE_SMS_MODEL" | "HOTLINE_SMS_LLM_TIMEOUT_SECS" => std::env::var(k).ok(),
        _ => None,
    })
    .map_err(|e| StackError::Config(e.to_string()))?;
    let llm = hotline_llm::OpenAiRest::new(
        &sms.openai_base_url,
        config.openai_rest_api_key.clone(),
        reqwest::Client::new(),
    )
    .with_timeout(sms.llm_timeout);
    Ok(hotline_sms::Deps {
        config: webhook.clone(),
        directory: stores.directory.clone(),
        calls: stores.calls.clone(),
        contacts: stores.contacts.clone(),
        messages: stores.messages.clone(),
        llm,
        model: sms.model,
        claim: sms.llm_timeout + Duration::from_secs(5),
        wait: Duration::from_secs(12),
    })
}

impl Stack {
    pub async fn start(config: StackConfig, stores: Stores) -> Result<Self, StackError> {
        let http_listener = TcpListener::bind(config.http_addr)
            .await
            .map_err(|e| StackError::Bind(config.http_addr, e))?;
        let http = http_listener
            .local_addr()
            .map_err(|e| StackError::Bind(config.http_addr, e))?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http}"));

        let stream_listener = TcpListener::bind(config.stream_addr)
            .await
            .map_err(|e| StackError::Bind(config.stream_addr, e))?;
        let stream = stream_listener
            .local_addr()
            .map_err(|e| StackError::Bind(config.stream_addr, e))?;
        let stream_public_url = config
            .stream_public_url
            .clone()
            .unwrap_or_else(|| format!("ws://{stream}"));
        let node = StreamNode::from_listener(
            stream_listener,
            NodeConfig {
                addr: stream,
                public_url: stream_public_url.clone(),
                max_calls: config.max_calls,
                drain: config.drain,
                start_timeout: Duration::from_secs(5),
                openai_base_url: config.openai_base_url.clone(),
                openai_api_key: config.openai_api_key.clone(),
                gemini_base_url: config.gemini_base_url.clone(),
                gemini_api_key: config.gemini_api_key.clone(),
                twilio_api_base_url: config.twilio_api_base_url.clone(),
                webhook_allow_private: config.webhook_allow_private,
            },
            stores.directory.clone(),
            stores.calls.clone(),
        );
        let calls_shutdown = node.calls_shutdown();

        let voice = hotline_voice::Deps {
            config: hotline_voice::VoiceConfig::from_lookup(|k| match k {
                "HOTLINE_PUBLIC_URL" => Some(public_url.clone()),
                "HOTLINE_STREAM_PUBLIC_URL" => Some(stream_public_url.clone()),
                _ => None,
            })
            .map_err(|e| StackError::Config(e.to_string()))?,
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            contacts: stores.contacts.clone(),
        };
        let status = Arc::new(hotline_status::Deps {
            config: voice.config.webhook.clone(),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
        });
        let recording = Arc::new(hotline_recording::Deps {
            config: voice.config.webhook.clone(),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            queue: stores.postcall.clone(),
        });
        let sms = Arc::new(sms_deps(&config, &voice.config.webhook, &stores)?);
        let voice = Arc::new(voice);
        let voice_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&voice);
            Box::pin(async move { hotline_voice::handle(&deps, req).await })
        });
        let status_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&status);
            Box::pin(async move { hotline_status::handle(&deps, req).await })
        });
        let recording_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&recording);
            Box::pin(async move { hotline_recording::handle(&deps, req).await })
        });
        let api = Arc::new(hotline_api::Deps {
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            api_keys: stores.api_keys.clone(),
        });
        let api_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&api);
            Box::pin(async move { hotline_api::handle(&deps, req).await })
        });
        let sms_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&sms);
            Box::pin(async move { hotline_sms::handle(&deps, req).await })
        });
        // One line per route, as the template declares them (infra/tests/consistency.py).
        let routes = Routes::default()
            .route("POST", "/twilio/voice", voice_handler)
            .route("POST", "/twilio/status", status_handler)
            .route("POST", "/twilio/recording", recording_handler)
            .route("GET", "/api/v1/openapi.json", api_handler.clone())
            .route("GET", "/api/v1/agents", api_handler.clone())
            .route("GET", "/api/v1/agents/{id}", api_handler.clone())
            .route("PUT", "/api/v1/agents/{id}", api_handler.clone())
            .route("GET", "/api/v1/numbers", api_handler.clone())
            .route("GET", "/api/v1/calls", api_handler.clone())
            .route("GET", "/api/v1/calls/{sid}", api_handler)
            .route("POST", "/twilio/sms", sms_handler);
        let route_keys = routes.keys();

        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(gateway::serve(http_listener, routes, stop.clone()));
        let node_stop = stop.clone();
        tasks.spawn(async move { node.serve(node_stop.cancelled_owned()).await });
        Ok(Self {
            http,
            stream,
            public_url,
            stream_public_url,
            routes: route_keys,
            stop,
            calls_shutdown,
            tasks,
        })
    }

    /// Runs a queue worker the way a Lambda SQS event source mapping would, until stop.
    pub fn spawn_worker(
        &mut self,
        queue: Arc<dyn hotline_core::ports::Queue>,
        handler: crate::sqs_mapping::SqsHandler,
        mapping: crate::sqs_mapping::Mapping,
    ) {
        self.tasks.spawn(crate::sqs_mapping::run(
            queue,
            handler,
            mapping,
            self.stop.clone(),
        ));
    }

    /// Runs the post-call sweeper every `period`, as its schedule does in AWS, until stop.
    pub fn spawn_sweeper(&mut self, deps: Arc<hotline_sweeper::Deps>, period: Duration) {
        self.tasks
            .spawn(crate::sweeper_timer::run(deps, period, self.stop.clone()));
    }

    /// Stops serving, lets live calls drain (up to the configured deadline), then ends.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Ends live calls now (they finish with `Shutdown`), then stops.
    pub async fn abort_calls_and_stop(self) {
        self.calls_shutdown.cancel();
        self.stop().await;
    }
}
