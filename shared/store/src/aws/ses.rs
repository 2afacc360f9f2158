use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use hotline_core::ports::{Email, MailError, Mailer};

/// Every part of a message is sent as UTF-8.
const CHARSET: &str = "UTF-8";

/// Amazon SES (API v2) `SendEmail` with simple content: subject, a text body and, when
/// there is one, an HTML body. The sender must be a verified identity of the account.
#[derive(Clone)]
pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        if email.to.is_empty() {
            return Err(MailError::Rejected("no recipients".into()));
        }
        let text = |data: &str| {
            Content::builder()
                .data(data)
                .charset(CHARSET)
                .build()
                .map_err(|e| MailError::Rejected(e.to_string()))
        };
        let mut body = Body::builder().text(text(&email.text)?);
        if let Some(html) = &email.html {
            body = body.html(text(html)?);
        }
        let message = Message::builder()
            .subject(text(&email.subject)?)
            .body(body.build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(send_error)?;
        let id = out.message_id.unwrap_or_default();
        tracing::debug!(message_id = %id, recipients = email.to.len(), "email sent through SES");
        Ok(id)
    }
}

/// Sorts SES's answer into "this message will never go" and "try again later". Only the
/// service's error code and message are kept: never the request, which holds the body.
fn send_error(e: SdkError<SendEmailError, HttpResponse>) -> MailError {
    let SdkError::ServiceError(context) = &e else {
        // Could not build, send or read the request: a timeout, a dropped connection, a
        // response that did not parse. The message may still go on a later try.
        return MailError::Unavailable(format!("{}", DisplayErrorContext(&e)));
    };
    let err = context.err();
    let what = format!(
        "{}: {}",
        err.code().unwrap_or("unknown SES error"),
        err.message().unwrap_or("no message")
    );
    match err {
        SendEmailError::MessageRejected(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::AccountSuspendedException(_)
        | SendEmailError::BadRequestException(_)
        | SendEmailError::NotFoundException(_) => MailError::Rejected(what),
        SendEmailError::TooManyRequestsException(_)
        | SendEmailError::LimitExceededException(_)
        | SendEmailError::SendingPausedException(_) => MailError::Unavailable(what),
        _ if unhandled_is_final(err.code(), context.raw().status().as_u16()) => {
            MailError::Rejected(what)
        }
        _ => MailError::Unavailable(what),
    }
}

/// For an error code this SDK version does not model: whether sending again is
/// pointless. Client errors are, except throttling and authentication (credentials
/// expire and are refreshed); server errors are not.
fn unhandled_is_final(code: Option<&str>, status: u16) -> bool {
    const PASSING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredToken",
        "ExpiredTokenException",
        "ServiceUnavailable",
        "InternalFailure",
    ];
    (400..500).contains(&status)
        && !matches!(status, 401 | 403 | 408 | 429)
        && !code.is_some_and(|c| PASSING.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::unhandled_is_final;

    #[test]
    fn unknown_client_errors_are_final_but_throttling_and_server_errors_are_not() {
        assert!(unhandled_is_final(Some("InvalidParameterValue"), 400));
        assert!(!unhandled_is_final(Some("Throttling"), 400));
        assert!(!unhandled_is_final(Some("ExpiredToken"), 400));
        assert!(!unhandled_is_final(None, 403));
        assert!(!unhandled_is_final(None, 429));
        assert!(!unhandled_is_final(Some("InternalFailure"), 500));
        assert!(!unhandled_is_final(None, 503));
    }
}
