//! How long sessions live and how failed logins are throttled, from the environment,
//! and the clock they are measured by (tests bring their own).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hotline_core::people::{SessionPolicy, ThrottlePolicy};

/// The current time. A function, so tests can move it instead of sleeping.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct AuthSettings {
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub clock: Clock,
    /// The API's own origin (`https://api.example.com`): cookie writes from any other are
    /// refused. `None` accepts only the host each request was sent to.
    pub origin: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            throttle: ThrottlePolicy::default(),
            clock: Arc::new(Utc::now),
            origin: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} must be a whole number above 0, not {1:?}")]
    Number(&'static str, String),
    #[error("{0} must be an http(s) URL, not {1:?}")]
    Origin(&'static str, String),
}

impl AuthSettings {
    /// `HOTLINE_SESSION_IDLE_SECS` (1800), `HOTLINE_SESSION_MAX_SECS` (43200),
    /// `HOTLINE_LOGIN_FAILURES_PER_ACCOUNT` (5), `HOTLINE_LOGIN_FAILURES_PER_ADDRESS` (20),
    /// `HOTLINE_LOGIN_WINDOW_SECS` (900); `HOTLINE_API_ORIGIN` (the origin of
    /// `HOTLINE_PUBLIC_URL` when unset); each optional.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let number = |name: &'static str, default: u32| -> Result<u32, SettingsError> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(SettingsError::Number(name, v)),
            }
        };
        let secs = |name, default: TimeDelta| -> Result<TimeDelta, SettingsError> {
            let default = u32::try_from(default.num_seconds()).unwrap_or(u32::MAX);
            number(name, default).map(|n| TimeDelta::seconds(i64::from(n)))
        };
        let origin = ["HOTLINE_API_ORIGIN", "HOTLINE_PUBLIC_URL"]
            .into_iter()
            .find_map(|name| {
                get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
            .map(|(name, v)| {
                crate::auth::origin_of(&v)
                    .filter(|o| o.starts_with("http"))
                    .ok_or(SettingsError::Origin(name, v))
            })
            .transpose()?;
        let (s, t) = (SessionPolicy::default(), ThrottlePolicy::default());
        Ok(Self {
            sessions: SessionPolicy {
                idle: secs("HOTLINE_SESSION_IDLE_SECS", s.idle)?,
                absolute: secs("HOTLINE_SESSION_MAX_SECS", s.absolute)?,
            },
            throttle: ThrottlePolicy {
                per_account: number("HOTLINE_LOGIN_FAILURES_PER_ACCOUNT", t.per_account)?,
                per_address: number("HOTLINE_LOGIN_FAILURES_PER_ADDRESS", t.per_address)?,
                window: secs("HOTLINE_LOGIN_WINDOW_SECS", t.window)?,
            },
            clock: Arc::new(Utc::now),
            origin,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_bad_numbers_are_named() {
        let s = AuthSettings::from_lookup(|_| None).expect("defaults");
        assert_eq!(s.sessions.idle, TimeDelta::minutes(30));
        assert_eq!(s.sessions.absolute, TimeDelta::hours(12));
        assert_eq!((s.throttle.per_account, s.throttle.per_address), (5, 20));
        let s = AuthSettings::from_lookup(|k| {
            (k == "HOTLINE_SESSION_IDLE_SECS").then(|| "60".to_owned())
        })
        .expect("idle");
        assert_eq!(s.sessions.idle, TimeDelta::minutes(1));
        let err = AuthSettings::from_lookup(|k| {
            (k == "HOTLINE_LOGIN_WINDOW_SECS").then(|| "-1".to_owned())
        })
        .err()
        .expect("refused");
        assert!(
            err.to_string().contains("HOTLINE_LOGIN_WINDOW_SECS"),
            "{err}"
        );
    }

    #[test]
    fn the_origin_is_configured_or_the_public_urls() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let s = AuthSettings::from_lookup(vars(&[(
            "HOTLINE_PUBLIC_URL",
            "https://api.example.com/prod/",
        )]))
        .expect("public url");
        assert_eq!(s.origin.as_deref(), Some("https://api.example.com"));
        let s = AuthSettings::from_lookup(vars(&[
            ("HOTLINE_PUBLIC_URL", "https://api.example.com"),
            ("HOTLINE_API_ORIGIN", "http://127.0.0.1:3000"),
        ]))
        .expect("origin");
        assert_eq!(s.origin.as_deref(), Some("http://127.0.0.1:3000"));
        assert!(
            AuthSettings::from_lookup(|_| None)
                .expect("none")
                .origin
                .is_none()
        );
        let err = AuthSettings::from_lookup(vars(&[("HOTLINE_API_ORIGIN", "nope")]))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("HOTLINE_API_ORIGIN"), "{err}");
    }
}
