//! The client: a base URL, the API key and a shared HTTP client, and the one place a
//! request is sent and a response turned into bytes or an [`LlmError`].

use std::time::Duration;

use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};

use crate::LlmError;

/// Where OpenAI's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// How long one request may take, connect to last byte, unless changed with
/// [`OpenAiRest::with_timeout`]. Transcribing a long call takes a while.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// OpenAI's REST API, for the post-call work: transcription and structured analysis.
/// Cheap to clone. Its `Debug` shows the base URL only.
#[derive(Clone)]
pub struct OpenAiRest {
    base_url: String,
    api_key: SecretString,
    http: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAiRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRest")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl OpenAiRest {
    /// A client for the API at `base_url`, e.g. [`DEFAULT_BASE_URL`] or a fake's
    /// `http://127.0.0.1:PORT/v1`. A trailing `/` is ignored.
    pub fn new(base_url: impl Into<String>, api_key: SecretString, http: reqwest::Client) -> Self {
        let base_url: String = base_url.into();
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            http,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A POST to `{base}/{path}`, not yet authenticated.
    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(format!("{}/{path}", self.base_url))
    }

    /// Sends with the key and the timeout; a 2xx answer's body, or the error.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Vec<u8>, LlmError> {
        let response = request
            .bearer_auth(self.api_key.expose_secret())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(LlmError::Network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(LlmError::Network)?;
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "openai answered"
        );
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(LlmError::from_response(status, &headers, &body))
        }
    }
}
