//! E-mail the call report to the organization's recipients.

use hotline_core::ports::{Email, MailError};

use crate::job::{JobCx, Retry, StageOutcome, StageResult};
use crate::report::Report;

pub async fn run(cx: &mut JobCx<'_>) -> StageResult {
    let to = cx.org.settings.report_emails.clone();
    if to.is_empty() {
        return Ok(StageOutcome::Skipped("no report recipients".into()));
    }
    let Some(from) = cx.deps.config.report_from.clone() else {
        return Ok(StageOutcome::Skipped(
            "HOTLINE_REPORT_FROM is not set: no sender for reports".into(),
        ));
    };
    let report = Report::current(cx).await?;
    let email = Email {
        from,
        to,
        subject: report.subject(),
        text: report.text(),
        html: None,
    };
    match cx.deps.mailer.send(&email).await {
        Ok(id) => Ok(StageOutcome::Done(format!(
            "sent to {} recipients, message {id}",
            email.to.len()
        ))),
        Err(e @ MailError::Rejected(_)) => Ok(StageOutcome::Failed(e.to_string())),
        Err(e @ MailError::Unavailable(_)) => Err(Retry(e.to_string())),
    }
}
