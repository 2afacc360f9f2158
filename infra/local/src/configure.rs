//! The configuration `hotline up` and `hotline demo` apply at start: the file given with
//! `--config`, or the example shipped in `shared/config` (the `demo` organization with its
//! `receptionist` agent), so the first command needs nothing.

use std::path::PathBuf;

use hotline_config::Config;
use hotline_config::apply::{self, ApplyError, Plan};
use hotline_core::ports::Directory;

/// The shipped example's organization, agent and transfer number.
pub const DEMO_ORG: &str = "demo";
pub const DEMO_AGENT: &str = "receptionist";
pub const DEMO_TRANSFER_TO: &str = "+15005550006";

/// Where the configuration comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigSource {
    /// `shared/config/hotline.example.yaml`, built in.
    #[default]
    Example,
    File(PathBuf),
}

impl ConfigSource {
    pub fn read(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigureError> {
        match self {
            Self::Example => Config::example(env).map_err(ConfigureError::Example),
            Self::File(path) => Config::load(path, env).map_err(|error| ConfigureError::File {
                path: path.display().to_string(),
                error,
            }),
        }
    }

    /// Whether the example runs on its placeholder Twilio account (no credentials in the
    /// environment): then nothing may reach the real Twilio with it.
    pub fn uses_placeholder_twilio(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
        *self == Self::Example && !(set("TWILIO_ACCOUNT_SID") && set("TWILIO_AUTH_TOKEN"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    #[error("the built-in example configuration: {0}")]
    Example(hotline_config::ConfigError),
    /// Not a `#[source]`: the message already carries it, and a chain would repeat it.
    #[error("{path}:\n{error}")]
    File {
        path: String,
        error: hotline_config::ConfigError,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What applying a configuration did.
#[derive(Debug, Clone)]
pub struct Configured {
    pub config: Config,
    pub plan: Plan,
}

/// Reads `source` and makes `directory` hold it.
pub async fn configure(
    directory: &dyn Directory,
    source: &ConfigSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Configured, ConfigureError> {
    let config = source.read(env)?;
    let plan = apply::plan(directory, &config).await?;
    apply::apply(directory, &plan).await?;
    Ok(Configured { config, plan })
}

/// The number the shipped example routes to its receptionist (`TWILIO_PHONE_NUMBER`, or
/// the example's placeholder): what `hotline call` dials when given no `--to`.
pub fn example_number(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<hotline_core::E164, ConfigureError> {
    let config = ConfigSource::Example.read(env)?;
    config
        .organizations
        .iter()
        .flat_map(|o| &o.numbers)
        .map(|n| n.number.clone())
        .next()
        .ok_or_else(|| {
            ConfigureError::Example(hotline_config::ConfigError::Invalid {
                problems: vec![hotline_config::Problem {
                    path: "organizations[0].numbers".into(),
                    message: "the example declares no number".into(),
                }],
            })
        })
}
