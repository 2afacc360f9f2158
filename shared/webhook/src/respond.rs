//! The answers every webhook shares.

use std::fmt::Display;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use tracing::{Span, info, warn};

/// `204 No Content`: a callback was taken in and needs no TwiML.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .unwrap_or_default()
}

/// A refused or failed webhook: `status` with a plain-text body, the error logged in
/// `span` as `warn` when it is hotline's failure (5xx: worth Twilio's retry, worth a look)
/// and as `info` when the request itself was refused (4xx). The log has the reason; the
/// body has only [`public_body`].
pub fn error_response(
    span: &Span,
    webhook: &str,
    status: StatusCode,
    error: &dyn Display,
) -> Response<Body> {
    span.in_scope(|| {
        if status.is_server_error() {
            warn!(error = %error, status = status.as_u16(), "{webhook} webhook failed");
        } else {
            info!(error = %error, status = status.as_u16(), "{webhook} webhook refused");
        }
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(public_body(status, error)))
        .unwrap_or_default()
}

/// What a refused or failed request is told. Only a 400 says what is wrong: it comes
/// after the signature was checked, and names a field, never a value. Everything else
/// gets its status's reason phrase, so an unauthenticated caller cannot tell a bad
/// signature from an unknown account or a missing header, and a store failure's text
/// (AWS error messages carry the account id and resource ARNs) stays in the log.
fn public_body(status: StatusCode, error: &dyn Display) -> String {
    if status == StatusCode::BAD_REQUEST {
        format!("{error}\n")
    } else {
        format!("{}\n", status.canonical_reason().unwrap_or("error"))
    }
}

#[cfg(test)]
mod tests {
    use hotline_core::ports::StoreError;

    use super::*;
    use crate::WebhookError;

    #[test]
    fn refusals_are_plain_text_with_their_status() {
        let resp = error_response(
            &Span::none(),
            "status",
            StatusCode::BAD_REQUEST,
            &"malformed webhook: CallSid is missing",
        );
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert!(
            matches!(resp.body(), Body::Text(t) if t == "malformed webhook: CallSid is missing\n")
        );
        let ok = no_content();
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert!(matches!(ok.body(), Body::Empty));
    }

    #[test]
    fn every_403_says_the_same_whatever_the_reason() {
        let bodies: Vec<String> = [
            WebhookError::Unsigned,
            WebhookError::UnknownAccount,
            WebhookError::BadSignature,
        ]
        .iter()
        .map(|e| {
            let resp = error_response(&Span::none(), "voice", e.status(), e);
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{e}");
            match resp.body() {
                Body::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
        assert_eq!(bodies, ["Forbidden\n"; 3]);
    }

    #[test]
    fn a_store_failure_answers_503_without_its_text() {
        let e = WebhookError::Store(StoreError::Unavailable(
            "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/voice/fn \
             is not authorized to perform dynamodb:GetItem on resource \
             arn:aws:dynamodb:us-east-1:123456789012:table/hotline"
                .into(),
        ));
        let resp = error_response(&Span::none(), "voice", e.status(), &e);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let Body::Text(body) = resp.body() else {
            panic!("{:?}", resp.body())
        };
        assert_eq!(body, "Service Unavailable\n");
    }
}
