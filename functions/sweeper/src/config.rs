//! The sweeper's settings, read once per cold start.

use std::time::Duration;

/// How long after its end a call is given for its recording callback before the
/// sweeper steps in: Twilio usually calls back within seconds of the hang-up.
pub const DEFAULT_AFTER_SECS: u64 = 300;

#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// `HOTLINE_SWEEP_AFTER_SECS` (default 300).
    pub after: Duration,
    /// `TWILIO_API_BASE_URL` (default `https://api.twilio.com`).
    pub twilio_api_base_url: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name} is invalid: {why}")]
pub struct ConfigError {
    pub name: &'static str,
    pub why: String,
}

impl SweepConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let after = match get("HOTLINE_SWEEP_AFTER_SECS") {
            None => DEFAULT_AFTER_SECS,
            Some(v) => v.trim().parse().map_err(|_| ConfigError {
                name: "HOTLINE_SWEEP_AFTER_SECS",
                why: format!("{v:?} is not a whole number of seconds"),
            })?,
        };
        Ok(Self {
            after: Duration::from_secs(after),
            twilio_api_base_url: hotline_twilio::rest::TwilioClient::base_url_from(|k| get(k)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let c = SweepConfig::from_lookup(|_| None).expect("defaults");
        assert_eq!(c.after, Duration::from_secs(DEFAULT_AFTER_SECS));
        assert_eq!(c.twilio_api_base_url, "https://api.twilio.com");
        let c = SweepConfig::from_lookup(|k| (k == "HOTLINE_SWEEP_AFTER_SECS").then(|| "0".into()))
            .expect("zero");
        assert_eq!(c.after, Duration::ZERO);
        let err = SweepConfig::from_lookup(|k| {
            (k == "HOTLINE_SWEEP_AFTER_SECS").then(|| "five minutes".into())
        })
        .expect_err("words");
        assert_eq!(err.name, "HOTLINE_SWEEP_AFTER_SECS");
    }
}
