//! The voice function's settings, read once per cold start.

use hotline_core::routes;

/// The public URLs Twilio uses. Signatures are computed over what Twilio requested, so
/// these must be exactly the URLs configured in Twilio (lowercase host, no trailing
/// slash), never derived from the incoming request behind API Gateway or a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConfig {
    /// `HOTLINE_PUBLIC_URL`: base of the webhook routes, e.g. `https://api.example.com`
    /// or `https://abc.execute-api.us-east-1.amazonaws.com/prod` (stage included).
    pub public_url: String,
    /// `HOTLINE_STREAM_PUBLIC_URL`: base of the stream node, e.g. `wss://stream.example.com`.
    pub stream_url: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{name} must be an absolute {schemes} URL without query or fragment, not {value:?}")]
    Invalid {
        name: &'static str,
        schemes: &'static str,
        value: String,
    },
}

pub use hotline_core::routes::{
    RECORDING as RECORDING_PATH, STREAM as STREAM_PATH, VOICE as WEBHOOK_PATH,
};

impl VoiceConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let public_url = setting(&get, "HOTLINE_PUBLIC_URL", "http(s)", |v| {
            routes::base_url(v, &["https", "http"])
        })?;
        let stream_url = setting(
            &get,
            "HOTLINE_STREAM_PUBLIC_URL",
            "ws(s)",
            routes::stream_base_url,
        )?;
        Ok(Self {
            public_url,
            stream_url,
        })
    }

    /// The URL Twilio signed for a request to `path` with this raw query string.
    pub fn signed_url(&self, path: &str, raw_query: Option<&str>) -> String {
        match raw_query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{}{path}?{q}", self.public_url),
            None => format!("{}{path}", self.public_url),
        }
    }
}

fn setting(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    schemes: &'static str,
    parse: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let value = get(name)
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))?;
    parse(&value).ok_or(ConfigError::Invalid {
        name,
        schemes,
        value,
    })
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
            c.signed_url(WEBHOOK_PATH, Some("agent_id=a")),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/voice?agent_id=a"
        );
        assert_eq!(c.stream_url, "wss://stream.example.com");
        assert_eq!(
            c.signed_url(WEBHOOK_PATH, Some("")),
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
    }
}
