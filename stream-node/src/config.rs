//! The stream node's settings, read once at start.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `HOTLINE_STREAM_ADDR`: where to listen (default `127.0.0.1:3001`).
    pub addr: SocketAddr,
    /// `HOTLINE_STREAM_PUBLIC_URL`: the public `wss://` base Twilio connects to; the
    /// upgrade signature is checked over `{it}/twilio/stream`.
    pub public_url: String,
    /// `HOTLINE_MAX_CALLS`: concurrent calls; upgrades beyond it are refused with 503
    /// (default [`CALLS_PER_VCPU`], one vCPU's worth).
    pub max_calls: usize,
    /// `HOTLINE_DRAIN_SECS`: on SIGTERM, how long live calls may go on before they are
    /// told to end (default [`DEFAULT_DRAIN_SECS`]). A deploy only sends SIGTERM after
    /// the load balancer has drained the task, so this covers the calls of a task stopped
    /// any other way, and must end, with [`crate::server::FINISH_GRACE`], within the
    /// container's stop timeout (at most 120 s on Fargate) or SIGKILL cuts the calls.
    pub drain: Duration,
    /// `HOTLINE_START_TIMEOUT_MS`: how long a new stream may take to send `start`.
    pub start_timeout: Duration,
    /// `OPENAI_BASE_URL` (default `https://api.openai.com/v1`).
    pub openai_base_url: String,
    /// `OPENAI_API_KEY`; empty is allowed against a simulator.
    pub openai_api_key: SecretString,
    /// `HOTLINE_NODE_PUBLIC_URL`: this node's own public `wss://` base, when Twilio can
    /// reach it directly. Set, the node reports itself in the registry on a heartbeat
    /// and the voice webhook may send calls straight to it; streams signed over either
    /// URL are accepted.
    pub node_url: Option<String>,
    /// `HOTLINE_NODE_HEARTBEAT_SECS`: how often the node reports itself (default 5,
    /// a third of [`hotline_core::routing::STALE_AFTER_SECS`]).
    pub heartbeat: Duration,
    /// `HOTLINE_METRICS_SERVICE`: when set (deployed: the stack's name), the node
    /// publishes its share of capacity in use as a CloudWatch metric with this
    /// `Service` dimension, which the service scales on ([`crate::live_metric`]).
    pub metrics_service: Option<String>,
    /// `HOTLINE_PREWARM_UNUSED_SECS`: how long a session opened before its call's stream
    /// (pre-warm) waits for it before it is closed (default 15, 1–120).
    pub prewarm_unused_after: Duration,
    /// `GEMINI_BASE_URL` (default `https://generativelanguage.googleapis.com`), for
    /// agents with `provider: gemini_live`.
    pub gemini_base_url: String,
    /// `GEMINI_API_KEY`; empty is allowed against a simulator (and where no agent uses
    /// Gemini).
    pub gemini_api_key: SecretString,
    /// The pipeline's LLM: chat completions at `OPENAI_BASE_URL` with `OPENAI_API_KEY`
    /// (the same two as above, apart only so that a local run can simulate each).
    pub llm_base_url: String,
    pub llm_api_key: SecretString,
    /// The pipeline's OpenAI voice (`tts.vendor: openai`): `/audio/speech` at
    /// `OPENAI_BASE_URL` with `OPENAI_API_KEY`, apart as the LLM's are.
    pub openai_speech_base_url: String,
    pub openai_speech_api_key: SecretString,
    /// `DEEPGRAM_BASE_URL` (default `https://api.deepgram.com`), the speech-to-text
    /// of agents with `provider: pipeline`.
    pub deepgram_base_url: String,
    /// `DEEPGRAM_API_KEY`; empty is allowed against a simulator (and where no agent
    /// uses the pipeline).
    pub deepgram_api_key: SecretString,
    /// `ELEVENLABS_BASE_URL` (default `https://api.elevenlabs.io`), the text-to-speech
    /// of agents with `provider: pipeline`.
    pub elevenlabs_base_url: String,
    /// `ELEVENLABS_API_KEY`; empty is allowed as for Deepgram's.
    pub elevenlabs_api_key: SecretString,
    /// `TWILIO_API_BASE_URL` (default `https://api.twilio.com`).
    pub twilio_api_base_url: String,
    /// `HOTLINE_PUBLIC_URL`: base of the webhook routes, where a warm transfer's person's
    /// leg reports (`/twilio/transfer/…`). Unset, warm transfers are made cold.
    pub webhook_url: Option<String>,
    /// `HOTLINE_WEBHOOK_ALLOW_PRIVATE` (`true` for local runs only): webhook tools may
    /// use `http` and loopback or private addresses. Deployed, a tool's URL must be
    /// `https` to a host whose every address is public.
    pub webhook_allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{name} is invalid: {value:?}")]
    Invalid { name: &'static str, value: String },
}

pub use hotline_core::routes::STREAM as STREAM_PATH;

/// Concurrent calls one vCPU carries: the load bench's conversation mode (`--turns`, marks
/// echoed as Twilio does, one malloc arena) measured 1,095-1,273 µs of node CPU per
/// call-second for OpenAI Realtime calls (README, "Benchmark"), so 75 % of a vCPU is
/// 0.75 × 1,000,000 / 1,273 ≈ 590 calls. The quarter left is headroom for what the bench's
/// lean fake AI does not cost (TLS to the provider, tools, logs) and for bursts. Gemini
/// and pipeline calls cost two to three times as much: a node serving mostly those wants
/// `HOTLINE_MAX_CALLS` set lower, about 200 per vCPU. The template sizes
/// `HOTLINE_MAX_CALLS` from the task's CPU with this figure.
pub const CALLS_PER_VCPU: usize = 590;

/// Fargate sends SIGKILL 120 s after SIGTERM at most: 90 s of drain, then
/// [`crate::server::FINISH_GRACE`] for the calls to apologise and close, fit inside.
pub const DEFAULT_DRAIN_SECS: u64 = 90;

impl NodeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: Option<String>,
            default: T,
        ) -> Result<T, ConfigError> {
            match value {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError::Invalid { name, value: v }),
            }
        }
        let public = get("HOTLINE_STREAM_PUBLIC_URL")
            .ok_or(ConfigError::Missing("HOTLINE_STREAM_PUBLIC_URL"))?;
        let public_url =
            hotline_core::routes::stream_base_url(&public).ok_or(ConfigError::Invalid {
                name: "HOTLINE_STREAM_PUBLIC_URL",
                value: public.clone(),
            })?;
        let node_url = match get("HOTLINE_NODE_PUBLIC_URL") {
            None => None,
            Some(url) => Some(hotline_core::routes::stream_base_url(&url).ok_or(
                ConfigError::Invalid {
                    name: "HOTLINE_NODE_PUBLIC_URL",
                    value: url,
                },
            )?),
        };
        let heartbeat_secs: u64 = parse(
            "HOTLINE_NODE_HEARTBEAT_SECS",
            get("HOTLINE_NODE_HEARTBEAT_SECS"),
            5,
        )?;
        if !(1..=60).contains(&heartbeat_secs) {
            return Err(ConfigError::Invalid {
                name: "HOTLINE_NODE_HEARTBEAT_SECS",
                value: heartbeat_secs.to_string(),
            });
        }
        let webhook_url = match get("HOTLINE_PUBLIC_URL") {
            None => None,
            Some(url) => Some(
                hotline_core::routes::base_url(&url, &["https", "http"]).ok_or(
                    ConfigError::Invalid {
                        name: "HOTLINE_PUBLIC_URL",
                        value: url,
                    },
                )?,
            ),
        };
        Ok(Self {
            webhook_url,
            node_url,
            heartbeat: Duration::from_secs(heartbeat_secs),
            metrics_service: get("HOTLINE_METRICS_SERVICE").filter(|s| !s.trim().is_empty()),
            prewarm_unused_after: {
                let secs: u64 = parse(
                    "HOTLINE_PREWARM_UNUSED_SECS",
                    get("HOTLINE_PREWARM_UNUSED_SECS"),
                    crate::call::prewarm::UNUSED_AFTER.as_secs(),
                )?;
                if !(1..=120).contains(&secs) {
                    return Err(ConfigError::Invalid {
                        name: "HOTLINE_PREWARM_UNUSED_SECS",
                        value: secs.to_string(),
                    });
                }
                Duration::from_secs(secs)
            },
            addr: parse(
                "HOTLINE_STREAM_ADDR",
                get("HOTLINE_STREAM_ADDR"),
                SocketAddr::from(([127, 0, 0, 1], 3001)),
            )?,
            public_url,
            max_calls: parse(
                "HOTLINE_MAX_CALLS",
                get("HOTLINE_MAX_CALLS"),
                CALLS_PER_VCPU,
            )?,
            drain: Duration::from_secs(parse(
                "HOTLINE_DRAIN_SECS",
                get("HOTLINE_DRAIN_SECS"),
                DEFAULT_DRAIN_SECS,
            )?),
            start_timeout: Duration::from_millis(parse(
                "HOTLINE_START_TIMEOUT_MS",
                get("HOTLINE_START_TIMEOUT_MS"),
                5000,
            )?),
            openai_base_url: get("OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            openai_api_key: get("OPENAI_API_KEY").unwrap_or_default().into(),
            gemini_base_url: get("GEMINI_BASE_URL")
                .unwrap_or_else(|| hotline_realtime::gemini::DEFAULT_BASE_URL.into()),
            gemini_api_key: get("GEMINI_API_KEY").unwrap_or_default().into(),
            llm_base_url: get("OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            llm_api_key: get("OPENAI_API_KEY").unwrap_or_default().into(),
            openai_speech_base_url: get("OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            openai_speech_api_key: get("OPENAI_API_KEY").unwrap_or_default().into(),
            deepgram_base_url: get("DEEPGRAM_BASE_URL")
                .unwrap_or_else(|| "https://api.deepgram.com".into()),
            deepgram_api_key: get("DEEPGRAM_API_KEY").unwrap_or_default().into(),
            elevenlabs_base_url: get("ELEVENLABS_BASE_URL")
                .unwrap_or_else(|| "https://api.elevenlabs.io".into()),
            elevenlabs_api_key: get("ELEVENLABS_API_KEY").unwrap_or_default().into(),
            twilio_api_base_url: get("TWILIO_API_BASE_URL")
                .unwrap_or_else(|| "https://api.twilio.com".into()),
            webhook_allow_private: match get("HOTLINE_WEBHOOK_ALLOW_PRIVATE").as_deref() {
                None | Some("false" | "0") => false,
                Some("true" | "1") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "HOTLINE_WEBHOOK_ALLOW_PRIVATE",
                        value: other.to_owned(),
                    });
                }
            },
        })
    }

    /// The URL Twilio signs when it opens a stream through the load balancer.
    pub fn stream_url(&self) -> String {
        format!("{}{STREAM_PATH}", self.public_url)
    }

    /// Every URL a stream to this node may have been signed over: the shared one, and
    /// the node's own when it has one.
    pub fn stream_urls(&self) -> Vec<String> {
        let mut urls = vec![self.stream_url()];
        if let Some(own) = &self.node_url {
            urls.push(format!("{own}{STREAM_PATH}"));
        }
        urls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<NodeConfig, ConfigError> {
        NodeConfig::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_carry_one_vcpu_of_calls_and_drain_within_fargates_stop_timeout() {
        let c =
            config(&[("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com")]).expect("config");
        assert_eq!(c.max_calls, 590);
        assert_eq!(
            c.gemini_base_url,
            "https://generativelanguage.googleapis.com"
        );
        assert_eq!(c.drain, Duration::from_secs(90));
        assert_eq!(c.deepgram_base_url, "https://api.deepgram.com");
        assert_eq!(c.elevenlabs_base_url, "https://api.elevenlabs.io");
        assert!(
            !c.webhook_allow_private,
            "deployed, tools reach public https only"
        );
        assert!(c.drain + crate::server::FINISH_GRACE <= Duration::from_secs(120));
    }

    #[test]
    fn the_environment_overrides_the_defaults() {
        let c = config(&[
            ("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com"),
            ("HOTLINE_MAX_CALLS", "12"),
            ("HOTLINE_DRAIN_SECS", "30"),
        ])
        .expect("config");
        assert_eq!(c.max_calls, 12);
        assert_eq!(c.drain, Duration::from_secs(30));
        assert!(matches!(
            config(&[
                ("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com"),
                ("HOTLINE_MAX_CALLS", "many"),
            ]),
            Err(ConfigError::Invalid {
                name: "HOTLINE_MAX_CALLS",
                ..
            })
        ));
    }

    #[test]
    fn a_node_with_its_own_url_accepts_streams_signed_over_either() {
        let c = config(&[
            ("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com"),
            ("HOTLINE_NODE_PUBLIC_URL", "wss://node-7.stream.example.com"),
            ("HOTLINE_NODE_HEARTBEAT_SECS", "2"),
        ])
        .expect("config");
        assert_eq!(
            c.stream_urls(),
            [
                "wss://stream.example.com/twilio/stream",
                "wss://node-7.stream.example.com/twilio/stream"
            ]
        );
        assert_eq!(c.heartbeat, Duration::from_secs(2));
        let plain =
            config(&[("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com")]).expect("config");
        assert_eq!(plain.node_url, None);
        assert_eq!(plain.heartbeat, Duration::from_secs(5));
        for (name, value) in [
            ("HOTLINE_NODE_PUBLIC_URL", "node-7.stream.example.com"),
            ("HOTLINE_NODE_HEARTBEAT_SECS", "0"),
        ] {
            assert!(
                matches!(
                    config(&[("HOTLINE_STREAM_PUBLIC_URL", "wss://stream.example.com"), (name, value)]),
                    Err(ConfigError::Invalid { name: n, .. }) if n == name
                ),
                "{name}={value}"
            );
        }
    }
}
