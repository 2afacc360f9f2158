//! hotline's configuration file (`hotline.yaml`): organizations, their Twilio account,
//! report settings, agents and numbers, declared once and applied to any store.
//!
//! Reading a file goes: `${VAR}` interpolation (errors name the variable and line) →
//! YAML → the shipped JSON Schema (errors name the path: `organizations[0].agents[1].provider:
//! unknown value "gemni"`) → the domain model, with the checks a schema cannot make. Then
//! [`apply::plan`] compares it with a store and [`apply::apply`] writes the difference.

pub mod apply;
mod file;
mod interpolate;
mod schema;

use std::fmt;
use std::path::Path;

use hotline_core::model::{Agent, Organization, PhoneNumber};

pub use file::{
    agent_decl_json as agent_json, check_analyzers, translate_one_agent as agent_from_json,
};
pub use interpolate::interpolate;
pub use schema::SCHEMA;

/// The example `hotline up` and `hotline demo` apply when given no file.
pub const EXAMPLE: &str = include_str!("../hotline.example.yaml");

/// One thing wrong in a file, at a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `organizations[0].agents[1].provider`; empty for the whole document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: ${{{variable}}} is not set and has no default")]
    Unset { variable: String, line: usize },
    #[error("line {line}: {message}")]
    Placeholder { line: usize, message: String },
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// One organization as the file declares it, in the domain model's terms.
#[derive(Debug, Clone)]
pub struct DeclaredOrg {
    pub org: Organization,
    /// The organization's default analyzers when the file names them (`analyzers`);
    /// `None` keeps whatever the store holds (the API's).
    pub default_analyzers: Option<Vec<hotline_core::model::Analyzer>>,
    pub agents: Vec<Agent>,
    pub numbers: Vec<PhoneNumber>,
}

/// A whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub organizations: Vec<DeclaredOrg>,
}

impl Config {
    /// Reads a configuration from its text; `env` answers `${VAR}`s.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = interpolate(text, env)?;
        let document: serde_json::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Yaml(yaml_error(&e)))?;
        let problems = schema::check(&document);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        let file: file::File =
            serde_json::from_value(document).map_err(|e| ConfigError::Invalid {
                problems: vec![Problem {
                    path: String::new(),
                    message: e.to_string(),
                }],
            })?;
        let organizations =
            file::translate(file).map_err(|problems| ConfigError::Invalid { problems })?;
        Ok(Self { organizations })
    }

    /// Reads the configuration file at `path`.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, env)
    }

    /// The shipped example, with `env` for its `${VAR:-placeholder}`s.
    pub fn example(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::parse(EXAMPLE, env)
    }
}

/// A YAML error with its position but without the document's text: a line may hold a
/// secret that was interpolated into it.
fn yaml_error(e: &serde_yaml_ng::Error) -> String {
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    match e.location() {
        Some(at) => format!("line {}, column {}: {message}", at.line(), at.column()),
        None => message,
    }
}
