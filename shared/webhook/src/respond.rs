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

/// A refused or failed webhook: `status` with the error as plain text, logged in `span`
/// as `warn` when it is hotline's failure (5xx: worth Twilio's retry, worth a look) and
/// as `info` when the request itself was refused (4xx). Webhook errors name fields and
/// reasons, never values or secrets, so they are safe both to log and to answer.
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
        .body(Body::Text(format!("{error}\n")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_plain_text_with_their_status() {
        let resp = error_response(
            &Span::none(),
            "status",
            StatusCode::FORBIDDEN,
            &"missing X-Twilio-Signature",
        );
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert!(matches!(resp.body(), Body::Text(t) if t == "missing X-Twilio-Signature\n"));
        let ok = no_content();
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert!(matches!(ok.body(), Body::Empty));
    }
}
