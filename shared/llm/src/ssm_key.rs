//! The OpenAI key a deployed function reads at cold start: a SecureString in SSM
//! Parameter Store, named by the function's environment (the key itself never is).

use std::time::Duration;

use secrecy::SecretString;

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
