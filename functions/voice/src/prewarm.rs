//! Asking the chosen stream node to open a call's AI session while Twilio is still
//! connecting the call (the `<Say>` greeting, the stream's upgrade), so the session is
//! live when the stream starts. Advice only: a node that does not answer in time, or
//! refuses, opens the session at the stream's start as it otherwise would.

use std::time::Duration;

use chrono::Utc;
use hotline_core::model::Call;
use hotline_core::routes::{PREWARM, node_http_url};
use hotline_outbound::signing::{SIGNATURE_HEADER, signature};

/// How long the webhook waits for the node: the node answers once it has checked the
/// request (a store read), before it connects anything.
const TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Prewarmer {
    client: reqwest::Client,
}

impl Default for Prewarmer {
    fn default() -> Self {
        Self::new()
    }
}

/// `HOTLINE_PREWARM` (`true` by default; `false` or `0` turns pre-warming off), read
/// through `get`.
pub fn enabled(get: impl Fn(&str) -> Option<String>) -> bool {
    !matches!(
        get("HOTLINE_PREWARM").as_deref().map(str::trim),
        Some("false" | "0")
    )
}

impl Prewarmer {
    /// A prewarmer when `HOTLINE_PREWARM` allows one.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        enabled(get).then(Self::new)
    }

    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Asks the node at `stream_base` to open `call`'s session. The request is signed
    /// with the call's stream token, which only this webhook and the call's record know.
    pub async fn ask(&self, stream_base: &str, call: &Call) {
        let Some(url) = node_http_url(stream_base, PREWARM) else {
            return;
        };
        let body = serde_json::json!({ "call_sid": call.sid.as_str() }).to_string();
        let Ok(signed) = signature(
            call.stream_token.as_bytes(),
            Utc::now().timestamp(),
            body.as_bytes(),
        ) else {
            return;
        };
        let sent = self
            .client
            .post(&url)
            .header(SIGNATURE_HEADER, signed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => tracing::debug!("session pre-warm accepted"),
            Ok(r) => tracing::info!(status = r.status().as_u16(), "session pre-warm refused"),
            Err(e) => tracing::info!(error = %e, "session pre-warm not delivered"),
        }
    }
}
