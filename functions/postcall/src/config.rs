//! The worker's settings, read once per cold start.

use std::time::Duration;

pub use hotline_llm::ApiKeySource;

#[derive(Debug, Clone)]
pub struct PostcallConfig {
    /// `OPENAI_BASE_URL` (default `https://api.openai.com/v1`).
    pub openai_base_url: String,
    pub openai_key: ApiKeySource,
    /// `TWILIO_API_BASE_URL` (default `https://api.twilio.com`).
    pub twilio_api_base_url: String,
    /// `HOTLINE_TRANSCRIBE_MODEL` (default `gpt-4o-transcribe`).
    pub transcribe_model: String,
    /// `HOTLINE_ANALYSIS_MODEL` (default `gpt-4.1-mini`): analyzers, to-dos and contact.
    pub analysis_model: String,
    /// `HOTLINE_REPORT_FROM`: the verified SES sender of call reports. Without it, reports
    /// are not e-mailed (the stage says so on the call).
    pub report_from: Option<String>,
    /// `HOTLINE_POSTCALL_MAX_RECEIVES` (default 5): the queue's redrive `maxReceiveCount`.
    /// A job failing on its last receive is marked dead-lettered on the call.
    pub max_receives: u32,
    /// `HOTLINE_POSTCALL_LEASE_SECS` (default 300, the function's timeout): how long one
    /// worker holds a job before another delivery may take it over.
    pub lease: Duration,
    /// `HOTLINE_RECORDING_RETRY_SECS` (default `1,2,4,8`): waits between downloads while
    /// Twilio still answers 404 just after the callback.
    pub recording_backoff: Vec<Duration>,
    /// `HOTLINE_WEBHOOK_RETRY_SECS` (default `1,4,16`): waits between report webhook
    /// attempts within one run; later retries ride on the queue's redelivery.
    pub webhook_backoff: Vec<Duration>,
    /// `HOTLINE_WEBHOOK_ALLOW_PRIVATE` (`true` for local runs only): report webhooks may
    /// be plain `http` and reach loopback or private addresses.
    pub webhook_allow_private: bool,
    /// `HOTLINE_CALL_SETTLE_SECS` (default 10): how long to wait for the stream node to
    /// finish writing a call that Twilio already reported recorded.
    pub call_settle: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("set OPENAI_API_KEY or HOTLINE_OPENAI_SSM_PARAMETER")]
    NoApiKey,
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

impl PostcallConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let openai_key =
            ApiKeySource::from_lookup(&get, "OPENAI_API_KEY", "HOTLINE_OPENAI_SSM_PARAMETER")
                .ok_or(ConfigError::NoApiKey)?;
        let secs = |name: &'static str, default: &str| -> Result<Vec<Duration>, ConfigError> {
            let v = get(name).unwrap_or_else(|| default.to_owned());
            v.split(',')
                .map(|s| s.trim().parse::<f64>())
                .map(|r| match r {
                    Ok(s) if s.is_finite() && (0.0..=600.0).contains(&s) => {
                        Ok(Duration::from_secs_f64(s))
                    }
                    _ => Err(ConfigError::Invalid {
                        name,
                        why: format!("{v:?} is not a list of seconds like {default}"),
                    }),
                })
                .collect()
        };
        let one = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            secs(name, default)?
                .first()
                .copied()
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    why: "empty".into(),
                })
        };
        let max_receives = match get("HOTLINE_POSTCALL_MAX_RECEIVES") {
            None => 5,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(ConfigError::Invalid {
                    name: "HOTLINE_POSTCALL_MAX_RECEIVES",
                    why: format!("{v:?} is not a positive number"),
                })?,
        };
        Ok(Self {
            openai_base_url: get("OPENAI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".into()),
            openai_key,
            twilio_api_base_url: get("TWILIO_API_BASE_URL")
                .unwrap_or_else(|| "https://api.twilio.com".into()),
            transcribe_model: get("HOTLINE_TRANSCRIBE_MODEL")
                .unwrap_or_else(|| "gpt-4o-transcribe".into()),
            analysis_model: get("HOTLINE_ANALYSIS_MODEL").unwrap_or_else(|| "gpt-4.1-mini".into()),
            report_from: get("HOTLINE_REPORT_FROM"),
            max_receives,
            lease: one("HOTLINE_POSTCALL_LEASE_SECS", "300")?,
            recording_backoff: secs("HOTLINE_RECORDING_RETRY_SECS", "1,2,4,8")?,
            webhook_backoff: secs("HOTLINE_WEBHOOK_RETRY_SECS", "1,4,16")?,
            call_settle: one("HOTLINE_CALL_SETTLE_SECS", "10")?,
            webhook_allow_private: match get("HOTLINE_WEBHOOK_ALLOW_PRIVATE").as_deref() {
                None | Some("false" | "0") => false,
                Some("true" | "1") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "HOTLINE_WEBHOOK_ALLOW_PRIVATE",
                        why: format!("{other:?} is not true or false"),
                    });
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<PostcallConfig, ConfigError> {
        PostcallConfig::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_suit_production() {
        let c =
            config(&[("HOTLINE_OPENAI_SSM_PARAMETER", "/hotline/openai-api-key")]).expect("config");
        assert!(
            matches!(c.openai_key, ApiKeySource::SsmParameter(ref n) if n == "/hotline/openai-api-key")
        );
        assert_eq!(c.transcribe_model, "gpt-4o-transcribe");
        assert_eq!(c.max_receives, 5);
        assert_eq!(c.recording_backoff.len(), 4);
        assert_eq!(c.lease, Duration::from_secs(300));
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(config(&[]).err(), Some(ConfigError::NoApiKey));
        for (name, value) in [
            ("HOTLINE_RECORDING_RETRY_SECS", "1,x"),
            ("HOTLINE_WEBHOOK_RETRY_SECS", "-1"),
            ("HOTLINE_POSTCALL_MAX_RECEIVES", "0"),
        ] {
            let err = config(&[("OPENAI_API_KEY", "k"), (name, value)]).expect_err(name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
