//! POST the call report to the organization's webhook, signed (see `signing`), retried
//! with backoff within the run and then by the queue's redelivery.

use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::job::{JobCx, Retry, StageOutcome, StageResult};
use crate::report::Report;
use hotline_outbound::egress;
use hotline_outbound::signing::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature};

/// Organizations' webhooks should answer quickly; a slow one is retried later.
const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub async fn run(cx: &mut JobCx<'_>) -> StageResult {
    let Some(url) = cx.org.settings.report_webhook_url.clone() else {
        return Ok(StageOutcome::Skipped("no report webhook".into()));
    };
    let Some(secret) = cx.org.settings.report_webhook_secret.clone() else {
        return Ok(StageOutcome::Failed(
            "the organization has a report webhook but no secret to sign it with".into(),
        ));
    };
    let target = match egress::check(&url, cx.deps.config.webhook_allow_private).await {
        Ok(target) => target,
        Err(why) => return Ok(StageOutcome::Failed(why)),
    };
    let http = egress::client_for(&target, WEBHOOK_TIMEOUT)
        .map_err(|e| Retry(e.without_url().to_string()))?;
    let report = Report::current(cx).await?;
    let body = serde_json::to_vec(&report).map_err(|e| Retry(e.to_string()))?;
    let waits = std::iter::once(std::time::Duration::ZERO)
        .chain(cx.deps.config.webhook_backoff.iter().copied());
    let mut last = String::new();
    for (attempt, wait) in waits.enumerate() {
        tokio::time::sleep(wait).await;
        // Signed per attempt: the timestamp must be fresh for the receiver's window.
        let now = chrono::Utc::now().timestamp();
        let signed = signature(secret.expose_secret().as_bytes(), now, &body)
            .map_err(|e| Retry(e.to_string()))?;
        let sent = http
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "hotline-webhooks/1")
            .header(SIGNATURE_HEADER, signed)
            .header(EVENT_ID_HEADER, &report.id)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                info!(
                    attempt = attempt + 1,
                    status = r.status().as_u16(),
                    "report delivered"
                );
                return Ok(StageOutcome::Done(format!(
                    "delivered ({} after {} attempts)",
                    r.status().as_u16(),
                    attempt + 1
                )));
            }
            Ok(r) if !worth_retrying(r.status()) => {
                return Ok(StageOutcome::Failed(format!(
                    "the webhook refused the report: HTTP {}",
                    r.status().as_u16()
                )));
            }
            Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
            // reqwest's error names the URL, which is the organization's own setting.
            Err(e) => last = e.without_url().to_string(),
        }
        warn!(attempt = attempt + 1, error = %last, "report webhook attempt failed");
    }
    Err(Retry(format!(
        "the webhook did not take the report: {last}"
    )))
}

/// Redirects are not followed (a report goes where it was configured to go) and count as
/// refusals, like other 4xx; 408, 429 and 5xx are passing.
fn worth_retrying(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}
