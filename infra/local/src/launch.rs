//! Bringing the local platform up from the environment: store, its configuration (a file,
//! or the shipped example), the simulated AI and Twilio API when no real ones are
//! configured, and the stack itself.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use hotline_postcall::PostcallConfig;
use hotline_sim::chat::ChatSim;
use hotline_sim::deepgram::DeepgramSim;
use hotline_sim::elevenlabs::ElevenLabsSim;
use hotline_sim::gemini::GeminiSim;
use hotline_sim::openai_rest::FakeOpenAi;
use hotline_sim::realtime::{RealtimeSim, Script, ToolCue};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_store::{StoreConfig, Stores};
use secrecy::{ExposeSecret, SecretString};

use crate::configure::{ConfigSource, Configured, configure};
use crate::sqs_mapping::{Mapping, SqsHandler};
use crate::stack::{Stack, StackConfig};

/// Where and how to run, as read from the environment (see the README).
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub http_addr: SocketAddr,
    pub stream_addr: SocketAddr,
    pub public_url: Option<String>,
    pub stream_public_url: Option<String>,
    pub store: StoreConfig,
    pub openai_api_key: Option<SecretString>,
    pub openai_base_url: Option<String>,
    /// `GEMINI_API_KEY` and `GEMINI_BASE_URL`: without a key, Gemini Live is simulated.
    pub gemini_api_key: Option<SecretString>,
    pub gemini_base_url: Option<String>,
    /// `DEEPGRAM_API_KEY` / `DEEPGRAM_BASE_URL` and `ELEVENLABS_API_KEY` /
    /// `ELEVENLABS_BASE_URL`: without a key, that stage of the pipeline is simulated.
    pub deepgram_api_key: Option<SecretString>,
    pub deepgram_base_url: Option<String>,
    pub elevenlabs_api_key: Option<SecretString>,
    pub elevenlabs_base_url: Option<String>,
    pub twilio_api_base_url: Option<String>,
    pub drain: Duration,
    /// `HOTLINE_MAX_CALLS`, as the stream node reads it.
    pub max_calls: usize,
    /// Stream nodes to run (`hotline up --nodes N`), at least one.
    pub nodes: usize,
    /// Applied to the store at start.
    pub config: ConfigSource,
}

impl LaunchConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let addr = |k: &str, default: &str| -> anyhow::Result<SocketAddr> {
            let v = get(k).unwrap_or_else(|| default.to_owned());
            v.parse()
                .map_err(|_| anyhow::anyhow!("{k} must be an address like {default}, not {v:?}"))
        };
        Ok(Self {
            http_addr: addr("HOTLINE_HTTP_ADDR", "127.0.0.1:3000")?,
            stream_addr: addr("HOTLINE_STREAM_ADDR", "127.0.0.1:3001")?,
            public_url: get("HOTLINE_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            stream_public_url: get("HOTLINE_STREAM_PUBLIC_URL")
                .map(|u| u.trim_end_matches('/').to_owned()),
            store: StoreConfig::from_lookup(|k| get(k))?,
            openai_api_key: get("OPENAI_API_KEY").map(SecretString::from),
            openai_base_url: get("OPENAI_BASE_URL"),
            gemini_api_key: get("GEMINI_API_KEY").map(SecretString::from),
            gemini_base_url: get("GEMINI_BASE_URL"),
            deepgram_api_key: get("DEEPGRAM_API_KEY").map(SecretString::from),
            deepgram_base_url: get("DEEPGRAM_BASE_URL"),
            elevenlabs_api_key: get("ELEVENLABS_API_KEY").map(SecretString::from),
            elevenlabs_base_url: get("ELEVENLABS_BASE_URL"),
            twilio_api_base_url: get("TWILIO_API_BASE_URL"),
            drain: Duration::from_secs(
                get("HOTLINE_DRAIN_SECS")
                    .map(|v| v.parse())
                    .transpose()?
                    .unwrap_or(30),
            ),
            max_calls: get("HOTLINE_MAX_CALLS")
                .map(|v| v.parse())
                .transpose()
                .map_err(|_| anyhow::anyhow!("HOTLINE_MAX_CALLS must be a whole number"))?
                .unwrap_or(hotline_stream_node::config::CALLS_PER_VCPU),
            nodes: 1,
            config: ConfigSource::Example,
        })
    }
}

/// A running local platform.
pub struct Launched {
    pub stack: Stack,
    pub stores: Stores,
    /// The configuration applied at start, and what applying it changed.
    pub configured: Configured,
    /// The example runs on its placeholder Twilio account (see [`ConfigSource`]).
    pub placeholder_twilio: bool,
    /// Set when no `OPENAI_API_KEY` was given: the conversation is simulated…
    pub simulated_ai: Option<RealtimeSim>,
    /// Set when no `GEMINI_API_KEY` was given: agents on `gemini_live` talk to this.
    pub simulated_gemini: Option<GeminiSim>,
    /// Set when no `OPENAI_API_KEY` was given: the pipeline's LLM (streaming chat
    /// completions) is simulated.
    pub simulated_llm: Option<ChatSim>,
    /// Set when no `DEEPGRAM_API_KEY` was given: the pipeline's speech-to-text.
    pub simulated_deepgram: Option<DeepgramSim>,
    /// Set when no `ELEVENLABS_API_KEY` was given: the pipeline's voice, and its ears
    /// for agents with `stt.vendor: elevenlabs`.
    pub simulated_elevenlabs: Option<ElevenLabsSim>,
    /// …and so are the transcription and analysis after it, and OpenAI's voice for
    /// pipeline agents with `tts.vendor: openai`.
    pub simulated_openai: Option<FakeOpenAi>,
    /// A fresh owner API key for each configured organization, made at this start.
    pub api_keys: Vec<(hotline_core::OrgId, String)>,
    /// Each configured organization's console sign-in: (org, e-mail, password), the same
    /// at every start (kept in the data directory, like the API key).
    pub console_users: Vec<(hotline_core::OrgId, String, String)>,
    /// Set when no `TWILIO_API_BASE_URL` was given and the credentials are placeholders:
    /// hang-ups and transfers go to this stand-in instead of api.twilio.com.
    pub fake_twilio: Option<FakeTwilio>,
}

pub async fn launch(
    config: LaunchConfig,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Launched> {
    let stores = Stores::open(&config.store).await?;
    let configured = configure(stores.directory.as_ref(), &config.config, &env).await?;
    // Applying the file at start is `hotline apply`: the audit log says so.
    configured
        .plan
        .record_audit(stores.audit.as_ref(), chrono::Utc::now())
        .await?;
    let placeholder_twilio = config.config.uses_placeholder_twilio(&env);
    // Only hashes are stored; the key to print is kept in the data directory, so every
    // start prints the same one (`hotline keys revoke` retires it; the next start makes
    // another).
    let data_dir = match &config.store {
        StoreConfig::Local { data_dir } => Some(data_dir.clone()),
        StoreConfig::Aws { .. } => None,
    };
    let mut api_keys = Vec::new();
    for declared in &configured.config.organizations {
        let org = &declared.org.id;
        let secret =
            crate::demo_key::demo_key(stores.api_keys.as_ref(), org, data_dir.as_deref()).await?;
        api_keys.push((org.clone(), secret));
    }
    let mut console_users = Vec::new();
    for declared in &configured.config.organizations {
        let org = &declared.org.id;
        let (email, password) =
            crate::demo_user::demo_user(stores.users.as_ref(), org, data_dir.as_deref()).await?;
        console_users.push((org.clone(), email, password));
    }
    let (simulated_openai, openai_rest_url, openai_rest_key) = match &config.openai_api_key {
        Some(key) => (
            None,
            config
                .openai_base_url
                .clone()
                .unwrap_or_else(|| hotline_llm::DEFAULT_BASE_URL.into()),
            key.clone(),
        ),
        None => {
            let fake = FakeOpenAi::start(SIMULATED_KEY).await?;
            script_postcall(&fake);
            let url = fake.base_url().to_owned();
            (Some(fake), url, SecretString::from(SIMULATED_KEY))
        }
    };

    let (simulated_llm, llm_base_url, llm_api_key) = match &config.openai_api_key {
        Some(key) => (
            None,
            config
                .openai_base_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            key.clone(),
        ),
        None => {
            let sim = ChatSim::start(demo_pipeline_llm()).await?;
            let url = sim.base_url().to_owned();
            // Any key: a bearer header with none is no header at all.
            (Some(sim), url, SecretString::from("simulated".to_owned()))
        }
    };
    let (simulated_ai, openai_base_url, openai_api_key) = match config.openai_api_key {
        Some(key) => (
            None,
            config
                .openai_base_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            key,
        ),
        None => {
            let sim = RealtimeSim::start(demo_script()).await?;
            let url = sim.base_url().to_owned();
            (Some(sim), url, SecretString::from(String::new()))
        }
    };
    let (simulated_deepgram, deepgram_base_url, deepgram_api_key) = match config.deepgram_api_key {
        Some(key) => (
            None,
            config
                .deepgram_base_url
                .clone()
                .unwrap_or_else(|| "https://api.deepgram.com".into()),
            key,
        ),
        None => {
            let sim = DeepgramSim::start(demo_deepgram_script()).await?;
            let url = sim.base_url().to_owned();
            (Some(sim), url, SecretString::from("simulated".to_owned()))
        }
    };
    let (simulated_elevenlabs, elevenlabs_base_url, elevenlabs_api_key) =
        match config.elevenlabs_api_key {
            Some(key) => (
                None,
                config
                    .elevenlabs_base_url
                    .clone()
                    .unwrap_or_else(|| "https://api.elevenlabs.io".into()),
                key,
            ),
            None => {
                let sim = ElevenLabsSim::start(hotline_sim::elevenlabs::Script {
                    // Spoken about as fast as a voice speaks, so a barge-in lands mid-reply.
                    pace: hotline_sim::realtime::Pace::RealTime,
                    // Its speech-to-text hears the demo caller, as Deepgram's does.
                    heard: demo_deepgram_script().heard,
                    ..hotline_sim::elevenlabs::Script::default()
                })
                .await?;
                let url = sim.base_url().to_owned();
                (Some(sim), url, SecretString::from("simulated".to_owned()))
            }
        };
    let (simulated_gemini, gemini_base_url, gemini_api_key) = match config.gemini_api_key {
        Some(key) => (
            None,
            config
                .gemini_base_url
                .clone()
                .unwrap_or_else(|| hotline_realtime::gemini::DEFAULT_BASE_URL.into()),
            key,
        ),
        None => {
            let sim = GeminiSim::start(demo_gemini_script()).await?;
            let url = sim.base_url().to_owned();
            (Some(sim), url, SecretString::from(String::new()))
        }
    };
    let (fake_twilio, twilio_api_base_url): (Option<FakeTwilio>, String) =
        match (&config.twilio_api_base_url, placeholder_twilio) {
            (Some(url), _) => (None, url.clone()),
            (None, false) => (None, "https://api.twilio.com".to_owned()),
            (None, true) => {
                let fake = FakeTwilio::start().await?;
                for declared in &configured.config.organizations {
                    fake.add_account(
                        declared.org.twilio.account_sid.as_str(),
                        declared.org.twilio.auth_token.expose_secret(),
                    );
                }
                // The simulated phones report a recording of every call; this is its media.
                fake.record_every_call(hotline_sim::recording::silent_mp3(Duration::from_secs(20)));
                // Calls placed through the API ring a simulated callee (`hotline dial
                // --callee`): a person by default.
                fake.place_outbound_calls(hotline_sim::twilio_rest::OutboundTiming::default());
                if let Some(dir) = &data_dir {
                    // Where `hotline dial --callee` finds this simulator.
                    let _ = std::fs::write(dir.join(crate::SIM_URL_FILE), fake.base_url());
                }
                let url = fake.base_url().to_owned();
                (Some(fake), url)
            }
        };

    let stack_twilio_url = twilio_api_base_url;
    let link_secret_dir = data_dir;
    let mut stack = Stack::start_with(
        StackConfig {
            http_addr: config.http_addr,
            stream_addr: config.stream_addr,
            public_url: config.public_url,
            stream_public_url: config.stream_public_url,
            openai_base_url,
            openai_api_key,
            gemini_base_url,
            gemini_api_key,
            llm_base_url,
            llm_api_key,
            deepgram_base_url,
            deepgram_api_key,
            elevenlabs_base_url,
            elevenlabs_api_key,
            openai_rest_base_url: openai_rest_url.clone(),
            openai_rest_api_key: openai_rest_key.clone(),
            twilio_api_base_url: stack_twilio_url.clone(),
            max_calls: config.max_calls,
            drain: config.drain,
            nodes: config.nodes.max(1),
            // A developer's own machine: tools on localhost are the point.
            webhook_allow_private: true,
            prewarm: hotline_voice::prewarm::enabled(&env),
            prewarm_unused_after: hotline_stream_node::call::prewarm::UNUSED_AFTER,
        },
        stores.clone(),
        link_secret_dir.as_deref(),
    )
    .await?;

    let postcall = PostcallConfig::from_lookup(|k| match k {
        "OPENAI_API_KEY" => Some(openai_rest_key.expose_secret().to_owned()),
        "OPENAI_BASE_URL" => Some(openai_rest_url.clone()),
        "TWILIO_API_BASE_URL" => Some(stack_twilio_url.clone()),
        "HOTLINE_REPORT_FROM" => env(k).or_else(|| Some(LOCAL_REPORT_FROM.into())),
        // A developer's own machine: webhooks to localhost are the point.
        "HOTLINE_WEBHOOK_ALLOW_PRIVATE" => Some("true".into()),
        _ => env(k),
    })?;
    let deps = Arc::new(hotline_postcall::Deps::new(
        postcall,
        &stores,
        openai_rest_key,
    )?);
    let worker: SqsHandler = Arc::new(move |event| {
        let deps = Arc::clone(&deps);
        Box::pin(async move {
            hotline_postcall::handle_batch(&deps, event)
                .await
                .map_err(|e| e.to_string())
        })
    });
    stack.spawn_worker(
        stores.postcall.clone(),
        worker,
        Mapping {
            queue_arn: "arn:aws:sqs:local:000000000000:postcall".into(),
            batch_size: 10,
        },
    );
    let sweeper = hotline_sweeper::SweepConfig::from_lookup(|k| match k {
        "TWILIO_API_BASE_URL" => Some(stack_twilio_url.clone()),
        _ => env(k),
    })?;
    let sweeper = Arc::new(hotline_sweeper::Deps {
        recordings: hotline_sweeper::TwilioRecordings::new(&sweeper.twilio_api_base_url)?,
        config: sweeper,
        directory: stores.directory.clone(),
        calls: stores.calls.clone(),
        queue: stores.postcall.clone(),
    });
    stack.spawn_sweeper(
        sweeper,
        stores.expiry.clone(),
        crate::sweeper_timer::period(&env)?,
    );
    let dialer = Arc::new(hotline_dialer::Deps {
        directory: stores.directory.clone(),
        calls: stores.calls.clone(),
        contacts: stores.contacts.clone(),
        dials: stores.dials.clone(),
        campaigns: stores.campaigns.clone(),
        placer: Arc::new(hotline_twilio::calls::TwilioCalls(
            hotline_twilio::rest::TwilioClient::new(&stack_twilio_url, reqwest::Client::new()),
        )),
        urls: hotline_core::dial::DialUrls {
            base: stack.public_url.clone(),
        },
    });
    stack.spawn_dialer(dialer, crate::dialer_timer::period(&env)?);
    Ok(Launched {
        stack,
        stores,
        configured,
        placeholder_twilio,
        api_keys,
        console_users,
        simulated_ai,
        simulated_gemini,
        simulated_llm,
        simulated_deepgram,
        simulated_elevenlabs,
        simulated_openai,
        fake_twilio,
    })
}

/// The bearer key the simulated OpenAI REST API expects.
const SIMULATED_KEY: &str = "sk-hotline-local-simulator";
/// Sender of call reports locally (they land in the data directory's outbox).
pub const LOCAL_REPORT_FROM: &str = "reports@hotline.localhost";

/// What the simulated models answer after the demo call (see [`demo_script`]).
pub fn script_postcall(openai: &FakeOpenAi) {
    openai.set_transcript(
        "Hello, you've reached Bright Smile Dental. How can I help you today? Sorry to cut \
         in, I need to move my cleaning appointment. Of course. I can offer Tuesday at three \
         or Thursday at ten. Tuesday at three works. That's all, thanks! You're all set for \
         Tuesday at three. Goodbye!",
    );
    openai.respond(
        "summary",
        serde_json::json!({"summary": "The caller moved their cleaning appointment to Tuesday at three."}),
    );
    openai.respond(
        "appointment",
        serde_json::json!({"request": "move", "when": "Tuesday at 3 pm"}),
    );
    openai.respond(
        "call_todos",
        serde_json::json!({"todos": [
            {"title": "Move the caller's cleaning to Tuesday at 3 pm in the calendar", "due": null, "assignee": "front desk"},
            {"title": "Send the caller an appointment confirmation", "due": null, "assignee": null}
        ]}),
    );
    openai.respond(
        "contact_facts",
        serde_json::json!({"name": null, "company": null, "notes": "Had a cleaning booked; moved it to Tuesday at 3 pm."}),
    );
    // Every text is answered alike: the simulator does not read the prompt.
    openai.respond_text(
        "Thanks for your text! This is the simulated assistant: you're booked for Tuesday \
         at 3 pm. Reply here if anything changes.",
    );
}

/// The simulated receptionist's side of a short booking call: it greets, answers two
/// caller utterances and, after the third, ends the call with the `end_call` tool.
pub fn demo_script() -> Script {
    Script {
        caller_transcripts: vec![
            "Sorry to cut in, I need to move my cleaning appointment.".into(),
            "Tuesday at three works. That's all, thanks!".into(),
        ],
        replies: vec![
            "Hello, you've reached Bright Smile Dental. How can I help you today?".into(),
            "Of course. I can offer Tuesday at three or Thursday at ten.".into(),
            "You're all set for Tuesday at three. Goodbye!".into(),
        ],
        reply_ms: 3000,
        tool_calls: vec![ToolCue::new(1, "end_call", "{}")],
        ..Script::default()
    }
}

/// The demo call on the simulated Gemini Live: the same conversation as
/// [`demo_script`], in Gemini's wire format.
pub fn demo_gemini_script() -> hotline_sim::gemini::Script {
    let openai = demo_script();
    hotline_sim::gemini::Script {
        caller_transcripts: openai.caller_transcripts,
        replies: openai.replies,
        reply_ms: openai.reply_ms,
        // Spoken as it is generated, so the caller's barge-in lands mid-reply, where
        // Gemini reports it (it has no speech-started event of its own).
        pace: hotline_sim::gemini::Pace::RealTime,
        tool_calls: vec![hotline_sim::gemini::ToolCue::new(
            1,
            "end_call",
            serde_json::json!({}),
        )],
        ..hotline_sim::gemini::Script::default()
    }
}

/// The demo call on the simulated pipeline: what Deepgram hears of the caller…
pub fn demo_deepgram_script() -> hotline_sim::deepgram::Script {
    hotline_sim::deepgram::Script {
        heard: demo_script().caller_transcripts,
        ..hotline_sim::deepgram::Script::default()
    }
}

/// …and what the model answers: the same conversation as [`demo_script`], the greeting
/// first, then a reply per caller turn, and `end_call` after the second.
pub fn demo_pipeline_llm() -> hotline_sim::chat::Script {
    use hotline_sim::chat::Reply;
    let mut replies: Vec<Reply> = demo_script().replies.into_iter().map(Reply::Text).collect();
    // The greeting, the first answer; then the tool call, then its goodbye.
    let goodbye = replies.pop();
    replies.push(Reply::call("end_call", serde_json::json!({})));
    replies.extend(goodbye);
    hotline_sim::chat::Script {
        replies,
        word_ms: 40,
        ..hotline_sim::chat::Script::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_bound_is_the_stream_nodes_unless_the_environment_says() {
        let defaults = LaunchConfig::from_lookup(|_| None).expect("defaults");
        assert_eq!(
            defaults.max_calls,
            hotline_stream_node::config::CALLS_PER_VCPU
        );
        let set = LaunchConfig::from_lookup(|k| (k == "HOTLINE_MAX_CALLS").then(|| "7".into()))
            .expect("set");
        assert_eq!(set.max_calls, 7);
        assert!(
            LaunchConfig::from_lookup(|k| (k == "HOTLINE_MAX_CALLS").then(|| "lots".into()))
                .is_err()
        );
    }
}
