//! The public URL webhooks are signed over, read once per cold start.

use hotline_core::routes;

/// Where Twilio sends webhooks. Signatures are computed over what Twilio requested, so
/// this must be exactly the base configured in Twilio (lowercase host, no trailing
/// slash), never derived from the incoming request behind API Gateway or a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `HOTLINE_PUBLIC_URL`: base of the webhook routes, e.g. `https://api.example.com`
    /// or `https://abc.execute-api.us-east-1.amazonaws.com/prod` (stage included).
    pub public_url: String,
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

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let public_url = setting(&get, "HOTLINE_PUBLIC_URL", "http(s)", |v| {
            routes::base_url(v, &["https", "http"])
        })?;
        Ok(Self { public_url })
    }

    /// The public URL of one of hotline's routes, e.g. a callback URL put into TwiML.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// The URL Twilio signed for a request to `path` with this raw query string.
    pub fn signed_url(&self, path: &str, raw_query: Option<&str>) -> String {
        match raw_query.filter(|q| !q.is_empty()) {
            Some(q) => format!("{}{path}?{q}", self.public_url),
            None => self.url(path),
        }
    }
}

/// The setting `name`, required and non-empty, normalized by `parse` (which refuses a
/// value by returning `None`); errors name the setting and, for a refused value, the
/// `schemes` expected.
pub fn setting(
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

    fn config(public: &str) -> Result<WebhookConfig, ConfigError> {
        WebhookConfig::from_lookup(|k| (k == "HOTLINE_PUBLIC_URL").then(|| public.to_owned()))
    }

    #[test]
    fn stage_paths_are_kept_and_trailing_slashes_dropped() {
        let c = config("https://abc.execute-api.us-east-1.amazonaws.com/prod/").expect("valid");
        assert_eq!(
            c.signed_url(routes::STATUS, Some("a=1")),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/status?a=1"
        );
        assert_eq!(
            c.signed_url(routes::RECORDING, Some("")),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/recording"
        );
        assert_eq!(
            c.url(routes::VOICE),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/twilio/voice"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_their_name() {
        assert_eq!(config(""), Err(ConfigError::Missing("HOTLINE_PUBLIC_URL")));
        assert_eq!(
            WebhookConfig::from_lookup(|_| None),
            Err(ConfigError::Missing("HOTLINE_PUBLIC_URL"))
        );
        for bad in [
            "api.example.com",
            "ftp://x",
            "https://x/?a=1",
            "https://",
            "wss://x",
        ] {
            let err = config(bad).expect_err(bad);
            assert!(err.to_string().contains("HOTLINE_PUBLIC_URL"), "{err}");
        }
    }
}
