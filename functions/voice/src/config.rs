//! The voice function's settings, read once per cold start.

use hotline_core::routes;
use hotline_webhook::{WebhookConfig, setting};

pub use hotline_core::routes::{
    RECORDING as RECORDING_PATH, STREAM as STREAM_PATH, VOICE as WEBHOOK_PATH,
};
pub use hotline_webhook::ConfigError;

/// The public URLs Twilio uses. Signatures are computed over what Twilio requested, so
/// these must be exactly the URLs configured in Twilio (lowercase host, no trailing
/// slash), never derived from the incoming request behind API Gateway or a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConfig {
    /// `HOTLINE_PUBLIC_URL`: base of the webhook routes, e.g. `https://api.example.com`
    /// or `https://abc.execute-api.us-east-1.amazonaws.com/prod` (stage included).
    pub webhook: WebhookConfig,
    /// `HOTLINE_STREAM_PUBLIC_URL`: base of the stream node, e.g. `wss://stream.example.com`.
    pub stream_url: String,
}

impl VoiceConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            webhook: WebhookConfig::from_env()?,
            stream_url: stream_url(&|k| std::env::var(k).ok())?,
        })
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            webhook: WebhookConfig::from_lookup(&get)?,
            stream_url: stream_url(&get)?,
        })
    }
}

fn stream_url(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    setting(
        get,
        "HOTLINE_STREAM_PUBLIC_URL",
        "ws(s)",
        routes::stream_base_url,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(public: &str, stream: &str) -> Result<VoiceConfig, ConfigError> {
        VoiceConfig::from_lookup(|k| match k {
            "HOTLINE_PUBLIC_URL" => Some(public.to_owned()),
            "HOTLINE_STREAM_PUBLIC_URL" => Some(stream.to_owned()),
            _ => None,
        })
    }

    #[test]
    fn stage_paths_are_kept_and_trailing_slashes_dropped() {
        let c = config(
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/",
            "https://stream.example.com",
        )
        .expect("valid");
        assert_eq!(
            c.webhook.signed_url(WEBHOOK_PATH, Some("agent_id=a")),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/voice?agent_id=a"
        );
        assert_eq!(c.stream_url, "wss://stream.example.com");
        assert_eq!(
            c.webhook.signed_url(WEBHOOK_PATH, Some("")),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/voice"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_their_name() {
        assert_eq!(
            config("", "wss://s"),
            Err(ConfigError::Missing("HOTLINE_PUBLIC_URL"))
        );
        for bad in ["api.example.com", "ftp://x", "https://x/?a=1", "https://"] {
            let err = config(bad, "wss://s").expect_err(bad);
            assert!(err.to_string().contains("HOTLINE_PUBLIC_URL"), "{err}");
        }
        for bad in ["", "stream.example.com", "wss://x/?a=1"] {
            let err = config("https://api.example.com", bad).expect_err(bad);
            assert!(
                err.to_string().contains("HOTLINE_STREAM_PUBLIC_URL"),
                "{err}"
            );
        }
    }
}
