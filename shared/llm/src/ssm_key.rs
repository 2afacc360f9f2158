//! The OpenAI key a deployed function reads at cold start: a SecureString in SSM
//! Parameter Store, named by the function's environment (the key itself never is).

use std::time::Duration;

use secrecy::SecretString;

/// Where the OpenAI API key comes from. A Lambda's environment is readable by anyone who
/// can read the function, so in AWS the key is read from SSM at cold start.
#[derive(Debug, Clone)]
pub enum ApiKeySource {
    /// `OPENAI_API_KEY` (local runs and tests).
    Value(SecretString),
    /// `HOTLINE_OPENAI_SSM_PARAMETER`: name of an SSM SecureString parameter.
    SsmParameter(String),
}

impl ApiKeySource {
    /// The key in variable `value` if set, else the parameter named in `ssm_parameter`;
    /// `None` with neither. The caller names the variables, so each function's
    /// configuration says what it reads (`infra/tests/consistency.py` checks it).
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        value: &str,
        ssm_parameter: &str,
    ) -> Option<Self> {
        match (get(value), get(ssm_parameter)) {
            (Some(key), _) => Some(Self::Value(SecretString::from(key))),
            (None, Some(name)) => Some(Self::SsmParameter(name)),
            (None, None) => None,
        }
    }

    /// The key itself: as given, or read from SSM (at a function's cold start).
    pub async fn resolve(&self) -> Result<SecretString, KeyError> {
        match self {
            Self::Value(key) => Ok(key.clone()),
            Self::SsmParameter(name) => read_ssm_key(name).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading SSM parameter {name}: {reason}")]
    Ssm { name: String, reason: String },
    #[error("SSM parameter {0} has no value")]
    Empty(String),
}

/// The key, decrypted from the SSM SecureString parameter `name`.
pub async fn read_ssm_key(name: &str) -> Result<SecretString, KeyError> {
    // A cold start that cannot read its key fails fast rather than hang to the timeout.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(5))
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    let out = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| KeyError::Ssm {
            name: name.to_owned(),
            reason: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
        })?;
    out.parameter
        .and_then(|p| p.value)
        .map(SecretString::from)
        .ok_or_else(|| KeyError::Empty(name.to_owned()))
}
