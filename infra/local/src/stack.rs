//! The whole platform in one process: every function's routes behind the local gateway,
//! the stream node, and (as they arrive) the queue consumers, on one store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline_store::Stores;
use hotline_store::local::SignedLinks;
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
    /// The pipeline's services (agents with `provider: pipeline`): its LLM (streaming
    /// chat completions), Deepgram and ElevenLabs.
    pub llm_base_url: String,
    pub llm_api_key: SecretString,
    pub deepgram_base_url: String,
    pub deepgram_api_key: SecretString,
    pub elevenlabs_base_url: String,
    pub elevenlabs_api_key: SecretString,
    /// OpenAI's REST API (chat completions), which answers texts: not the realtime one
    /// when the conversation is simulated.
    pub openai_rest_base_url: String,
    pub openai_rest_api_key: SecretString,
    pub twilio_api_base_url: String,
    /// Per node.
    pub max_calls: usize,
    pub drain: Duration,
    /// How many stream nodes, each on its own port (the next ones after `stream_addr`'s),
    /// behind the registry the voice webhook routes by; at least one.
    pub nodes: usize,
    /// Webhook tools may reach `http` and loopback or private addresses: true for
    /// `hotline up` (a developer's own endpoints), false to run as deployed.
    pub webhook_allow_private: bool,
    /// The voice webhook asks the chosen node to open an inbound call's AI session while
    /// the call connects (`HOTLINE_PREWARM`).
    pub prewarm: bool,
    /// How long such a session waits for its call's stream before it is closed.
    pub prewarm_unused_after: Duration,
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
    /// Every stream node; the first is at [`Self::stream`].
    pub nodes: Vec<LocalNode>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

/// One of the stack's stream nodes.
pub struct LocalNode {
    pub addr: SocketAddr,
    /// Its own URL, as it reports it in the registry.
    pub url: String,
    stop: CancellationToken,
    calls_shutdown: CancellationToken,
}

impl LocalNode {
    /// Starts this node's drain, as SIGTERM does to a deployed one; the others go on.
    pub fn drain(&self) {
        self.stop.cancel();
    }

    /// Ends this node's live calls now, as a crash would cut them.
    pub fn end_calls(&self) {
        self.calls_shutdown.cancel();
    }
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
        "HOTLINE_SMS_MODEL" | "HOTLINE_SMS_LLM_TIMEOUT_SECS" | "HOTLINE_SMS_REPLY_BUDGET_SECS" => {
            std::env::var(k).ok()
        }
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
        reply_budget: sms.reply_budget,
        texts: Arc::new(hotline_twilio::messages::TwilioTexts(
            hotline_twilio::rest::TwilioClient::new(
                &config.twilio_api_base_url,
                reqwest::Client::new(),
            ),
        )),
    })
}

impl Stack {
    /// Starts the stack; links to recordings and transcripts die with it (a fresh secret).
    pub async fn start(config: StackConfig, stores: Stores) -> Result<Self, StackError> {
        Self::start_with(config, stores, None).await
    }

    /// Starts the stack; links to recordings and transcripts are signed with the secret
    /// kept in `link_secret_dir` (the local store's data directory), so they outlive a
    /// restart until they expire.
    pub async fn start_with(
        config: StackConfig,
        stores: Stores,
        link_secret_dir: Option<&std::path::Path>,
    ) -> Result<Self, StackError> {
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
        let mut nodes = Vec::with_capacity(config.nodes.max(1));
        let mut listeners = vec![(stream_listener, stream, stream_public_url.clone())];
        for i in 1..config.nodes {
            // The next ports after the first node's (any free port when it had port 0).
            let port = match config.stream_addr.port() {
                0 => 0,
                p => p.saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
            };
            let want = SocketAddr::new(config.stream_addr.ip(), port);
            let listener = TcpListener::bind(want)
                .await
                .map_err(|e| StackError::Bind(want, e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| StackError::Bind(want, e))?;
            listeners.push((listener, addr, format!("ws://{addr}")));
        }
        for (listener, addr, own_url) in listeners {
            let node = StreamNode::from_listener(
                listener,
                NodeConfig {
                    addr,
                    // The first node stands in for the load balancer's URL too.
                    public_url: stream_public_url.clone(),
                    max_calls: config.max_calls,
                    drain: config.drain,
                    start_timeout: Duration::from_secs(5),
                    openai_base_url: config.openai_base_url.clone(),
                    openai_api_key: config.openai_api_key.clone(),
                    gemini_base_url: config.gemini_base_url.clone(),
                    gemini_api_key: config.gemini_api_key.clone(),
                    llm_base_url: config.llm_base_url.clone(),
                    llm_api_key: config.llm_api_key.clone(),
                    // The OpenAI REST API (simulated without a key) speaks for agents
                    // whose voice is OpenAI's.
                    openai_speech_base_url: config.openai_rest_base_url.clone(),
                    openai_speech_api_key: config.openai_rest_api_key.clone(),
                    deepgram_base_url: config.deepgram_base_url.clone(),
                    deepgram_api_key: config.deepgram_api_key.clone(),
                    elevenlabs_base_url: config.elevenlabs_base_url.clone(),
                    elevenlabs_api_key: config.elevenlabs_api_key.clone(),
                    twilio_api_base_url: config.twilio_api_base_url.clone(),
                    webhook_url: Some(public_url.clone()),
                    webhook_allow_private: config.webhook_allow_private,
                    // Every local node reports itself like a deployed one, so the voice
                    // webhook routes through the registry here too.
                    node_url: Some(own_url.clone()),
                    heartbeat: Duration::from_secs(1),
                    metrics_service: None,
                    prewarm_unused_after: config.prewarm_unused_after,
                },
                stores.directory.clone(),
                stores.calls.clone(),
            )
            .with_registry(stores.nodes.clone())
            .with_opt_out(hotline_stream_node::opt_out_tool::OptOutPorts {
                campaigns: stores.campaigns.clone(),
                dials: stores.dials.clone(),
            })
            .with_memory(hotline_stream_node::memory::Memory {
                contacts: stores.contacts.clone(),
                messages: stores.messages.clone(),
                status_callback: Some(format!("{public_url}{}", hotline_core::routes::SMS_STATUS)),
            });
            nodes.push((node, addr, own_url));
        }

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
            dials: stores.dials.clone(),
            nodes: stores.nodes.clone(),
            prewarm: config.prewarm.then(hotline_voice::Prewarmer::new),
            twilio: hotline_twilio::rest::TwilioClient::new(
                &config.twilio_api_base_url,
                reqwest::Client::new(),
            ),
        };
        let status = Arc::new(hotline_status::Deps {
            config: voice.config.webhook.clone(),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            dials: stores.dials.clone(),
            campaigns: stores.campaigns.clone(),
            placer: Arc::new(hotline_twilio::calls::TwilioCalls(
                hotline_twilio::rest::TwilioClient::new(
                    &config.twilio_api_base_url,
                    reqwest::Client::new(),
                ),
            )),
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
            Box::pin(async move { hotline_voice::route(&deps, req).await })
        });
        let status_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&status);
            Box::pin(async move { hotline_status::route(&deps, req).await })
        });
        let recording_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&recording);
            Box::pin(async move { hotline_recording::handle(&deps, req).await })
        });
        let links = match link_secret_dir {
            Some(dir) => SignedLinks::open(dir, &public_url)
                .map_err(|e| StackError::Config(format!("blob link secret: {e}")))?,
            None => SignedLinks::new(&public_url, rand::random::<[u8; 32]>().to_vec()),
        };
        let api = Arc::new(hotline_api::Deps::new(
            &stores,
            hotline_api::AuthSettings::from_env().map_err(|e| StackError::Config(e.to_string()))?,
            Arc::new(hotline_twilio::messages::TwilioTexts(
                hotline_twilio::rest::TwilioClient::new(
                    &config.twilio_api_base_url,
                    reqwest::Client::new(),
                ),
            )),
            Some(format!("{public_url}{}", hotline_core::routes::SMS_STATUS)),
            Arc::new(links.clone()),
            hotline_api::TwilioSetup::from_lookup(|k| match k {
                "HOTLINE_PUBLIC_URL" => Some(public_url.clone()),
                "TWILIO_API_BASE_URL" => Some(config.twilio_api_base_url.clone()),
                _ => std::env::var(k).ok(),
            })
            .map_err(StackError::Config)?,
        ));
        let api_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&api);
            Box::pin(async move { hotline_api::handle(&deps, req).await })
        });
        let sms_status = Arc::clone(&sms);
        let sms_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&sms);
            Box::pin(async move { hotline_sms::handle(&deps, req).await })
        });
        let sms_status_handler: Handler = Arc::new(move |req| {
            let deps = Arc::clone(&sms_status);
            Box::pin(async move { hotline_sms::handle_status(&deps, req).await })
        });
        // One line per route, as the template declares them (infra/tests/consistency.py).
        let routes = Routes::default()
            .route("POST", "/twilio/voice", voice_handler.clone())
            .route("POST", "/twilio/fallback", voice_handler.clone())
            .route("POST", "/twilio/transfer/answer", voice_handler.clone())
            .route("POST", "/twilio/transfer/choice", voice_handler.clone())
            .route("POST", "/twilio/transfer/status", voice_handler)
            .route("POST", "/twilio/status", status_handler.clone())
            .route("POST", "/twilio/amd", status_handler)
            .route("POST", "/twilio/recording", recording_handler)
            .route("GET", "/api/v1/openapi.json", api_handler.clone())
            .route("GET", "/api/v1/agents", api_handler.clone())
            .route("GET", "/api/v1/agents/{id}", api_handler.clone())
            .route("PUT", "/api/v1/agents/{id}", api_handler.clone())
            .route("POST", "/api/v1/session", api_handler.clone())
            .route("GET", "/api/v1/session", api_handler.clone())
            .route("DELETE", "/api/v1/session", api_handler.clone())
            .route("POST", "/api/v1/session/password", api_handler.clone())
            .route("GET", "/api/v1/organization", api_handler.clone())
            .route("PATCH", "/api/v1/organization", api_handler.clone())
            .route("GET", "/api/v1/users", api_handler.clone())
            .route("PATCH", "/api/v1/users/{id}", api_handler.clone())
            .route("DELETE", "/api/v1/users/{id}", api_handler.clone())
            .route("GET", "/api/v1/invitations", api_handler.clone())
            .route("POST", "/api/v1/invitations", api_handler.clone())
            .route("DELETE", "/api/v1/invitations/{id}", api_handler.clone())
            .route("POST", "/api/v1/invitations/accept", api_handler.clone())
            .route("GET", "/api/v1/keys", api_handler.clone())
            .route("POST", "/api/v1/keys", api_handler.clone())
            .route("DELETE", "/api/v1/keys/{id}", api_handler.clone())
            .route("GET", "/api/v1/audit", api_handler.clone())
            .route("GET", "/api/v1/numbers", api_handler.clone())
            .route("GET", "/api/v1/calls", api_handler.clone())
            .route("GET", "/api/v1/calls/{sid}", api_handler.clone())
            .route("POST", "/api/v1/calls", api_handler.clone())
            .route("POST", "/api/v1/calls/{sid}/end", api_handler.clone())
            .route("POST", "/api/v1/numbers", api_handler.clone())
            .route("DELETE", "/api/v1/numbers/{e164}", api_handler.clone())
            .route("GET", "/api/v1/numbers/{e164}", api_handler.clone())
            .route("PATCH", "/api/v1/numbers/{e164}", api_handler.clone())
            .route("POST", "/api/v1/twilio/subaccount", api_handler.clone())
            .route("GET", "/api/v1/twilio/status", api_handler.clone())
            .route("GET", "/api/v1/analyzers", api_handler.clone())
            .route("GET", "/api/v1/analyzers/{name}", api_handler.clone())
            .route("PUT", "/api/v1/analyzers/{name}", api_handler.clone())
            .route("DELETE", "/api/v1/analyzers/{name}", api_handler.clone())
            .route("GET", "/api/v1/contacts", api_handler.clone())
            .route("GET", "/api/v1/contacts/{id}", api_handler.clone())
            .route("PATCH", "/api/v1/contacts/{id}", api_handler.clone())
            .route("GET", "/api/v1/todos", api_handler.clone())
            .route("POST", "/api/v1/todos/{id}/complete", api_handler.clone())
            .route("PATCH", "/api/v1/todos/{id}", api_handler.clone())
            .route("POST", "/api/v1/campaigns", api_handler.clone())
            .route("GET", "/api/v1/campaigns", api_handler.clone())
            .route("GET", "/api/v1/campaigns/{id}", api_handler.clone())
            .route("POST", "/api/v1/campaigns/{id}/leads", api_handler.clone())
            .route("GET", "/api/v1/campaigns/{id}/leads", api_handler.clone())
            .route("POST", "/api/v1/campaigns/{id}/start", api_handler.clone())
            .route("POST", "/api/v1/campaigns/{id}/pause", api_handler.clone())
            .route("POST", "/api/v1/campaigns/{id}/resume", api_handler.clone())
            .route("POST", "/api/v1/campaigns/{id}/cancel", api_handler.clone())
            .route("GET", "/api/v1/do-not-call", api_handler.clone())
            .route("POST", "/api/v1/do-not-call", api_handler.clone())
            .route("DELETE", "/api/v1/do-not-call/{e164}", api_handler.clone())
            .route("POST", "/twilio/sms", sms_handler)
            .route("POST", "/api/v1/messages", api_handler.clone())
            .route("GET", "/console", api_handler.clone())
            .route("POST", "/console", api_handler.clone())
            .route("GET", "/console/{proxy+}", api_handler.clone())
            .route("POST", "/console/{proxy+}", api_handler)
            .route("POST", "/twilio/sms/status", sms_status_handler);

        let routes = crate::blob_links::serve_links(routes, links, stores.blobs.clone());
        let route_keys = routes.keys();

        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(gateway::serve(http_listener, routes, stop.clone()));
        let mut node_handles = Vec::with_capacity(nodes.len());
        for (node, addr, url) in nodes {
            let node_stop = stop.child_token();
            node_handles.push(LocalNode {
                addr,
                url,
                stop: node_stop.clone(),
                calls_shutdown: node.calls_shutdown(),
            });
            tasks.spawn(async move { node.serve(node_stop.cancelled_owned()).await });
        }
        Ok(Self {
            http,
            stream,
            nodes: node_handles,
            public_url,
            stream_public_url,
            routes: route_keys,
            stop,
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

    /// Runs the post-call sweeper every `period`, as its schedule does in AWS, and
    /// deletes expired sessions, invitations and sign-in counters (DynamoDB's TTL in
    /// AWS), until stop.
    pub fn spawn_sweeper(
        &mut self,
        deps: Arc<hotline_sweeper::Deps>,
        expiry: Arc<dyn hotline_core::ports::Expiry>,
        period: Duration,
    ) {
        self.tasks.spawn(crate::sweeper_timer::run(
            deps,
            expiry,
            period,
            self.stop.clone(),
        ));
    }

    /// Runs the campaign dialer every `period`, as its schedule does in AWS, until stop.
    pub fn spawn_dialer(&mut self, deps: Arc<hotline_dialer::Deps>, period: Duration) {
        self.tasks
            .spawn(crate::dialer_timer::run(deps, period, self.stop.clone()));
    }

    /// Stops serving, lets live calls drain (up to the configured deadline), then ends.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Ends live calls now (they finish with `Shutdown`), then stops.
    pub async fn abort_calls_and_stop(self) {
        for node in &self.nodes {
            node.calls_shutdown.cancel();
        }
        self.stop().await;
    }
}
