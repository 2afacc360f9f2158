//! Webhook tools: the model's arguments POSTed as JSON to the tool's URL, signed as the
//! call reports are (`Hotline-Signature`, keyed with the organization's report webhook
//! secret), through the same guard against requests into hotline's own network, and
//! the answer handed back to the model as the tool's output.
//!
//! Whatever goes wrong becomes an output that says so (`{"ok":false,"error":…}`), so the
//! model can tell the caller; a tool never ends or stalls a call. Arguments and answers
//! are the caller's data: only the tool's name, the status and the duration are logged.

use std::time::Duration;

use hotline_core::model::{ToolKind, ToolSpec};
use hotline_outbound::egress;
use hotline_outbound::signing::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tracing::{info, warn};

/// The largest answer handed to the model: a tool's answer is read aloud, not a document.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A webhook tool as declared on the agent.
#[derive(Debug, Clone)]
pub struct WebhookTool {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
}

impl WebhookTool {
    /// The agent's webhook tools.
    pub fn of(tools: &[ToolSpec]) -> Vec<Self> {
        tools
            .iter()
            .filter_map(|t| match &t.kind {
                ToolKind::Webhook { url, timeout_secs } => Some(Self {
                    name: t.name.clone(),
                    url: url.clone(),
                    timeout: ToolKind::webhook_timeout(*timeout_secs),
                }),
                ToolKind::EndCall
                | ToolKind::TransferCall { .. }
                | ToolKind::SendSms
                | ToolKind::SendDtmf
                | ToolKind::OptOut => None,
            })
            .collect()
    }
}

/// What is needed to sign and send one tool call.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The organization's `report_webhook_secret`; without one no tool call is sent.
    pub secret: Option<SecretString>,
    /// Local runs only: `http` and loopback or private addresses are allowed.
    pub allow_private: bool,
}

/// Why a tool call produced no answer. The text goes to the model: it never quotes the
/// arguments or the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("the tool's arguments are not valid JSON")]
    Arguments,
    #[error(
        "the organization has no webhook secret to sign tool calls with, so the tool was not called"
    )]
    NoSecret,
    #[error("the tool's URL is refused: {0}")]
    Refused(String),
    #[error("the tool did not answer within {0} s")]
    Timeout(u64),
    #[error("the tool answered HTTP {0}")]
    Status(u16),
    #[error("the tool's answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the tool could not be reached: {0}")]
    Unreachable(String),
}

impl ToolError {
    /// How the failure reads in the logs.
    fn kind(&self) -> &'static str {
        match self {
            Self::Arguments => "arguments",
            Self::NoSecret => "no_secret",
            Self::Refused(_) => "refused",
            Self::Timeout(_) => "timeout",
            Self::Status(_) => "status",
            Self::TooLarge => "too_large",
            Self::Unreachable(_) => "unreachable",
        }
    }
}

/// Runs `tool` with the model's `arguments` and returns the output for the model: the
/// JSON answer as is, any other answer as a JSON string, or an error object.
/// `event_id` is the same for this tool call whatever happens, so a receiver can
/// recognise a call it has already handled.
pub async fn run(tool: &WebhookTool, sender: &Sender, event_id: &str, arguments: &str) -> String {
    let started = Instant::now();
    let result = call(tool, sender, event_id, arguments).await;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok((status, answer)) => {
            info!(tool = %tool.name, status, ms, "webhook tool answered");
            answer
        }
        Err(e) => {
            let status = match e {
                ToolError::Status(s) => Some(s),
                _ => None,
            };
            warn!(tool = %tool.name, failure = e.kind(), status, ms, "webhook tool failed");
            serde_json::json!({"ok": false, "error": e.to_string()}).to_string()
        }
    }
}

async fn call(
    tool: &WebhookTool,
    sender: &Sender,
    event_id: &str,
    arguments: &str,
) -> Result<(u16, String), ToolError> {
    // A tool without parameters may be called with no arguments at all.
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    if serde_json::from_str::<serde_json::Value>(arguments).is_err() {
        return Err(ToolError::Arguments);
    }
    let secret = sender.secret.as_ref().ok_or(ToolError::NoSecret)?;
    // One deadline over everything, name resolution included: the caller is waiting.
    tokio::time::timeout(tool.timeout, async {
        let target = egress::check(&tool.url, sender.allow_private)
            .await
            .map_err(ToolError::Refused)?;
        let http = egress::client_for(&target, tool.timeout)
            .map_err(|e| ToolError::Unreachable(e.without_url().to_string()))?;
        let now = chrono::Utc::now().timestamp();
        let signed = signature(secret.expose_secret().as_bytes(), now, arguments.as_bytes())
            .map_err(|e| ToolError::Unreachable(e.to_string()))?;
        let mut response = http
            .post(target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "hotline-tools/1")
            .header(SIGNATURE_HEADER, signed)
            .header(EVENT_ID_HEADER, event_id)
            .body(arguments.to_owned())
            .send()
            .await
            .map_err(|e| unreachable_or_timeout(e, tool.timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ToolError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable_or_timeout(e, tool.timeout))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ToolError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status.as_u16(), answer(&body)))
    })
    .await
    .unwrap_or(Err(ToolError::Timeout(tool.timeout.as_secs())))
}

fn unreachable_or_timeout(e: reqwest::Error, timeout: Duration) -> ToolError {
    if e.is_timeout() {
        ToolError::Timeout(timeout.as_secs())
    } else {
        // reqwest's error names the URL, a tenant's setting: the model needs none of it.
        ToolError::Unreachable(e.without_url().to_string())
    }
}

/// The answer as the model gets it: JSON as sent, anything else as a JSON string.
fn answer(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(_) => String::from_utf8_lossy(body).into_owned(),
        Err(_) => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use hotline_sim::webhook::WebhookReceiver;

    use super::*;

    const SECRET: &str = "whsec_tools";

    fn tool(url: &str, timeout: Duration) -> WebhookTool {
        WebhookTool {
            name: "lookup_order".into(),
            url: url.into(),
            timeout,
        }
    }

    fn local() -> Sender {
        Sender {
            secret: Some(SECRET.to_owned().into()),
            allow_private: true,
        }
    }

    fn error_of(output: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(output).expect("JSON output");
        assert_eq!(value["ok"], false, "{output}");
        value["error"].as_str().expect("error").to_owned()
    }

    #[test]
    fn answers_are_json_as_sent_or_wrapped_as_a_string() {
        assert_eq!(
            answer(br#"{"status":"shipped"}"#),
            r#"{"status":"shipped"}"#
        );
        assert_eq!(answer(b"shipped today"), r#""shipped today""#);
        assert_eq!(answer(b""), r#""""#);
    }

    #[tokio::test]
    async fn the_arguments_go_signed_and_the_json_answer_comes_back() {
        let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
        hook.answer_with(r#"{"status":"shipped","eta":"Tuesday"}"#);
        let t = tool(hook.url(), Duration::from_secs(5));
        let out = run(&t, &local(), "CA1:call_1", r#"{"order":"42"}"#).await;
        assert_eq!(out, r#"{"status":"shipped","eta":"Tuesday"}"#);
        let d = &hook.deliveries()[0];
        assert_eq!(d.verified, Ok(()));
        assert_eq!(d.event_id.as_deref(), Some("CA1:call_1"));
        assert_eq!(d.body, br#"{"order":"42"}"#);
        run(&t, &local(), "CA1:call_2", "").await;
        assert_eq!(
            hook.deliveries()[1].body,
            b"{}",
            "no arguments is an empty object"
        );
    }

    #[tokio::test]
    async fn no_secret_means_no_request() {
        let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
        let t = tool(hook.url(), Duration::from_secs(5));
        let sender = Sender {
            secret: None,
            allow_private: true,
        };
        let out = run(&t, &sender, "e", "{}").await;
        assert!(error_of(&out).contains("no webhook secret"), "{out}");
        assert!(hook.deliveries().is_empty(), "never sent unsigned");
    }

    #[tokio::test]
    async fn failures_become_errors_for_the_model() {
        let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
        let t = tool(hook.url(), Duration::from_secs(1));
        hook.respond_with(vec![500]);
        assert_eq!(
            error_of(&run(&t, &local(), "e1", "{}").await),
            "the tool answered HTTP 500"
        );
        assert!(error_of(&run(&t, &local(), "e2", "not json").await).contains("not valid JSON"));
        hook.answer_with(&format!("\"{}\"", "x".repeat(MAX_ANSWER_BYTES)));
        assert!(error_of(&run(&t, &local(), "e3", "{}").await).contains("larger than"));
        hook.answer_with("{}");
        hook.delay(Duration::from_secs(3));
        let started = Instant::now();
        assert_eq!(
            error_of(&run(&t, &local(), "e4", "{}").await),
            "the tool did not answer within 1 s"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let strict = Sender {
            allow_private: false,
            ..local()
        };
        let out = run(&t, &strict, "e5", "{}").await;
        assert!(error_of(&out).contains("refused"), "{out}");
        assert_eq!(
            hook.deliveries().len(),
            3,
            "the refused URL was never called"
        );
    }

    /// A log sink the test can read.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_logs_name_the_tool_never_the_arguments_or_the_answer() {
        let logs = Logs::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // Another test's thread may have met these callsites first, with no subscriber
        // to want them: ask every callsite again now that this one listens.
        tracing::callsite::rebuild_interest_cache();
        let hook = WebhookReceiver::start(SECRET).await.expect("receiver");
        hook.answer_with(r#"{"balance":"9731.55"}"#);
        let t = tool(hook.url(), Duration::from_secs(5));
        run(&t, &local(), "e", r#"{"card":"4111111111111111"}"#).await;
        hook.respond_with(vec![502]);
        run(&t, &local(), "e", r#"{"card":"4111111111111111"}"#).await;
        let text = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
        assert!(
            text.contains("lookup_order") && text.contains("502"),
            "{text}"
        );
        assert!(!text.contains("4111111111111111"), "{text}");
        assert!(!text.contains("9731.55"), "{text}");
    }
}
