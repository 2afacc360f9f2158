//! The function's settings, read once per cold start.

use std::time::Duration;

pub use hotline_llm::ApiKeySource;

#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// `OPENAI_BASE_URL` (default `https://api.openai.com/v1`).
    pub openai_base_url: String,
    pub openai_key: ApiKeySource,
    /// `HOTLINE_SMS_MODEL` (default `gpt-4.1-mini`): the chat model answering texts.
    pub model: String,
    /// `HOTLINE_SMS_LLM_TIMEOUT_SECS` (default 25, at most 50): how long the LLM may
    /// take in all. An answer later than the reply budget is texted separately.
    pub llm_timeout: Duration,
    /// `HOTLINE_SMS_REPLY_BUDGET_SECS` (default 10, at most 14): how long an answer may
    /// take to go back in the TwiML; Twilio waits 15 s.
    pub reply_budget: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("set OPENAI_API_KEY or HOTLINE_OPENAI_SSM_PARAMETER")]
    NoApiKey,
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

impl SmsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let openai_key =
            ApiKeySource::from_lookup(&get, "OPENAI_API_KEY", "HOTLINE_OPENAI_SSM_PARAMETER")
                .ok_or(ConfigError::NoApiKey)?;
        let llm_timeout = seconds(&get, "HOTLINE_SMS_LLM_TIMEOUT_SECS", 25.0, 50.0)?;
        let reply_budget = seconds(&get, "HOTLINE_SMS_REPLY_BUDGET_SECS", 10.0, 14.0)?;
        Ok(Self {
            openai_base_url: get("OPENAI_BASE_URL")
                .unwrap_or_else(|| hotline_llm::DEFAULT_BASE_URL.into()),
            openai_key,
            model: get("HOTLINE_SMS_MODEL").unwrap_or_else(|| "gpt-4.1-mini".into()),
            llm_timeout,
            reply_budget,
        })
    }
}

/// A number of seconds in (0, `max`], `default` when unset.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    max: f64,
) -> Result<Duration, ConfigError> {
    let Some(v) = get(name) else {
        return Ok(Duration::from_secs_f64(default));
    };
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= max)
        .map(Duration::from_secs_f64)
        .ok_or(ConfigError::Invalid {
            name,
            why: format!("{v:?} is not a number of seconds in (0, {max}]"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SmsConfig, ConfigError> {
        SmsConfig::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_key_comes_from_the_environment_or_ssm_and_bad_values_are_named() {
        let c = config(&[("HOTLINE_OPENAI_SSM_PARAMETER", "/hotline/openai")]).expect("config");
        assert!(
            matches!(c.openai_key, ApiKeySource::SsmParameter(ref n) if n == "/hotline/openai")
        );
        assert_eq!(c.model, "gpt-4.1-mini");
        assert_eq!(c.llm_timeout, Duration::from_secs(25));
        assert_eq!(c.reply_budget, Duration::from_secs(10));
        assert_eq!(config(&[]).err(), Some(ConfigError::NoApiKey));
        let err = config(&[
            ("OPENAI_API_KEY", "k"),
            ("HOTLINE_SMS_REPLY_BUDGET_SECS", "15"),
        ])
        .expect_err("too long for Twilio");
        assert!(
            err.to_string().contains("HOTLINE_SMS_REPLY_BUDGET_SECS"),
            "{err}"
        );
        let err = config(&[
            ("OPENAI_API_KEY", "k"),
            ("HOTLINE_SMS_LLM_TIMEOUT_SECS", "90"),
        ])
        .expect_err("longer than the function may run");
        assert!(
            err.to_string().contains("HOTLINE_SMS_LLM_TIMEOUT_SECS"),
            "{err}"
        );
    }
}
