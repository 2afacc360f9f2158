//! Why a request to OpenAI failed, and how an error response becomes an [`LlmError`].
//!
//! Nothing here ever holds the audio, the transcript, the prompts or the API key: only
//! statuses, OpenAI's own error `code` and a shortened copy of its error `message`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Longest piece of OpenAI's error message (or refusal) kept in an error, in characters.
const MAX_MESSAGE: usize = 200;

/// Why a request to OpenAI failed. [`LlmError::is_retryable`] says whether the same
/// request may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// 401 or 403: the API key is wrong, revoked, or may not use this model or region.
    #[error("OpenAI refused the API key (HTTP {status}{}): {message}", code_text(.code.as_deref()))]
    Auth {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// 429: too many requests or tokens; `Retry-After` when OpenAI sent one. (A 429 for
    /// an exhausted quota is [`LlmError::Rejected`]: waiting does not help.)
    #[error("OpenAI: rate limited (HTTP 429), retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx: OpenAI's side failed or is overloaded.
    #[error("OpenAI: server error (HTTP {status})")]
    Server { status: u16 },
    /// No complete answer: connect failure, timeout, or the body could not be read.
    #[error("OpenAI: no answer from the API: {0}")]
    Network(#[source] reqwest::Error),
    /// Any other 4xx: OpenAI understood and refused the request (an invalid schema,
    /// a file too large or of the wrong format, an unknown model, no quota). Permanent.
    #[error("OpenAI rejected the request (HTTP {status}{}): {message}", code_text(.code.as_deref()))]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The model declined to answer (`message.refusal`); its words, shortened.
    #[error("OpenAI: the model refused: {0}")]
    Refused(String),
    /// The answer stopped early (`finish_reason` `length` or `content_filter`), so the
    /// JSON is incomplete.
    #[error("OpenAI: the answer was cut short")]
    Truncated,
    /// A success status, but not the documented shape, or content that is not a JSON
    /// object.
    #[error("OpenAI: unexpected response: {0}")]
    Invalid(String),
}

fn code_text(code: Option<&str>) -> String {
    code.map_or_else(String::new, |c| format!(", code {c}"))
}

impl LlmError {
    /// Rate limits, server errors and network failures: worth another try with backoff.
    /// Everything else is permanent for this request.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Network(_)
        )
    }

    /// The error for a non-success response, from its status, headers and body.
    pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let (code, message) = parse_error_body(body);
        let message =
            message.unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        match status.as_u16() {
            s @ (401 | 403) => Self::Auth {
                status: s,
                code,
                message: without_keys(&message),
            },
            429 if code.as_deref() != Some("insufficient_quota") => Self::RateLimited {
                retry_after: retry_after(headers),
            },
            s @ 500..=599 => Self::Server { status: s },
            s => Self::Rejected {
                status: s,
                code,
                message,
            },
        }
    }

    /// A refusal, shortened and made printable.
    pub(crate) fn refused(text: &str) -> Self {
        Self::Refused(shorten(text))
    }
}

/// OpenAI's error JSON, `{"error": {"message", "type", "param", "code"}}`: the code
/// (a string, or a number on some endpoints) and the shortened message. A body of
/// another shape gives neither: it could be anything, so none of it is kept.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let error = &json["error"];
    let code = match &error["code"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let message = error["message"]
        .as_str()
        .map(shorten)
        .filter(|m| !m.is_empty());
    (code, message)
}

/// At most [`MAX_MESSAGE`] characters, control characters dropped.
fn shorten(text: &str) -> String {
    let mut short: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect();
    if text.trim().chars().count() > MAX_MESSAGE {
        short.push('…');
    }
    short
}

/// OpenAI's 401 message names the key it got, masked (`sk-proj-****…abcd`). Even
/// masked, it stays out of our errors.
fn without_keys(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            if word.starts_with("sk-") || word.contains("***") {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `retry-after-ms` (OpenAI's) or `retry-after` in seconds, as OpenAI's SDKs read them.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = header("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after"))?;
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn error(status: u16, body: &str) -> LlmError {
        let status = StatusCode::from_u16(status).expect("valid status");
        LlmError::from_response(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn an_openai_error_body_gives_code_and_message() {
        let body = r#"{"error":{"message":"Invalid schema for response_format 'x': In context=(), 'additionalProperties' is required to be supplied and to be false.","type":"invalid_request_error","param":"response_format","code":null}}"#;
        let err = error(400, body);
        let LlmError::Rejected {
            status,
            code,
            message,
        } = &err
        else {
            panic!("rejected: {err:?}");
        };
        assert_eq!(*status, 400);
        assert_eq!(*code, None);
        assert!(message.starts_with("Invalid schema for response_format 'x'"));
        assert!(!err.is_retryable());

        let err = error(
            413,
            r#"{"error":{"message":"Maximum content size limit (26214400) exceeded (26214500 bytes read)","type":"server_error","param":null,"code":null}}"#,
        );
        assert!(
            matches!(err, LlmError::Rejected { status: 413, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_bad_key_is_an_auth_error_that_does_not_repeat_the_key() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-abc*********************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let err = error(401, body);
        let text = err.to_string();
        assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");
        assert!(text.contains("code invalid_api_key"), "{text}");
        assert!(!text.contains("sk-"), "{text}");
        assert!(!text.contains("wxyz"), "{text}");
        assert!(!err.is_retryable());
        assert!(matches!(
            error(403, "{}"),
            LlmError::Auth { status: 403, .. }
        ));
    }

    #[test]
    fn rate_limits_keep_retry_after_but_an_empty_quota_is_permanent() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        let err = LlmError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}");
        assert!(
            matches!(err, LlmError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)),
            "{err:?}"
        );
        assert!(err.is_retryable());

        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        let err = LlmError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}");
        assert!(
            matches!(err, LlmError::RateLimited { retry_after: Some(d) } if d == Duration::from_millis(250)),
            "{err:?}"
        );

        let quota = error(
            429,
            r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert!(
            matches!(&quota, LlmError::Rejected { status: 429, code: Some(c), .. } if c == "insufficient_quota"),
            "{quota:?}"
        );
        assert!(!quota.is_retryable());
    }

    #[test]
    fn server_errors_are_retryable_and_odd_bodies_are_not_repeated() {
        let err = error(503, "<html>upstream connect error</html>");
        assert!(matches!(err, LlmError::Server { status: 503 }), "{err:?}");
        assert!(err.is_retryable());

        let err = error(400, "some proxy said no: secret-looking text");
        let LlmError::Rejected { message, code, .. } = &err else {
            panic!("rejected: {err:?}");
        };
        assert_eq!(message, "Bad Request");
        assert_eq!(*code, None);
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(1000);
        let body = serde_json::json!({"error": {"message": long, "code": "c"}}).to_string();
        let LlmError::Rejected { message, .. } = error(400, &body) else {
            panic!("rejected");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE + 1);
    }
}
