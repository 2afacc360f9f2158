//! The Realtime WebSocket URL, derived from the REST base URL kept in configuration.

/// OpenAI's REST base URL, the default for `OPENAI_BASE_URL`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Why a base URL cannot yield a Realtime URL. Names the problem, not the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Only `http`, `https`, `ws` and `wss` base URLs are accepted.
    #[error("base URL scheme must be http, https, ws or wss")]
    Scheme,
    /// Nothing after the scheme.
    #[error("base URL has no host")]
    NoHost,
    /// The base URL carries a query or a fragment, which the model query would break.
    #[error("base URL must not have a query or fragment")]
    QueryOrFragment,
    /// An empty model name.
    #[error("model name is empty")]
    EmptyModel,
}

/// The Realtime WebSocket URL for `model` from an `OPENAI_BASE_URL`-style base:
/// `http` becomes `ws`, `https` becomes `wss`, then `/realtime?model=<model>` is appended
/// (the model percent-encoded, trailing slashes of the base ignored).
///
/// `https://api.openai.com/v1` and `gpt-realtime` give
/// `wss://api.openai.com/v1/realtime?model=gpt-realtime`.
pub fn realtime_url(base_url: &str, model: &str) -> Result<String, UrlError> {
    if model.is_empty() {
        return Err(UrlError::EmptyModel);
    }
    let base = base_url.trim();
    let (scheme, rest) = base.split_once("://").ok_or(UrlError::Scheme)?;
    let ws_scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        _ => return Err(UrlError::Scheme),
    };
    if rest.contains(['?', '#']) {
        return Err(UrlError::QueryOrFragment);
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.starts_with('/') {
        return Err(UrlError::NoHost);
    }
    let mut url = String::with_capacity(ws_scheme.len() + rest.len() + model.len() * 3 + 24);
    url.push_str(ws_scheme);
    url.push_str("://");
    url.push_str(rest);
    url.push_str("/realtime?model=");
    percent_encode_into(&mut url, model);
    Ok(url)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_base_gives_openais_realtime_endpoint() {
        assert_eq!(
            realtime_url(DEFAULT_BASE_URL, "gpt-realtime").as_deref(),
            Ok("wss://api.openai.com/v1/realtime?model=gpt-realtime")
        );
    }

    #[test]
    fn http_becomes_ws_and_trailing_slashes_are_ignored() {
        assert_eq!(
            realtime_url("http://127.0.0.1:8080/v1/", "gpt-realtime-2.1").as_deref(),
            Ok("ws://127.0.0.1:8080/v1/realtime?model=gpt-realtime-2.1")
        );
        assert_eq!(
            realtime_url("HTTPS://proxy.example.com//", "m").as_deref(),
            Ok("wss://proxy.example.com/realtime?model=m")
        );
        assert_eq!(
            realtime_url("wss://fake.local/v1", "m").as_deref(),
            Ok("wss://fake.local/v1/realtime?model=m")
        );
    }

    #[test]
    fn the_model_is_percent_encoded() {
        assert_eq!(
            realtime_url("https://x.test/v1", "my model/é&v=1").as_deref(),
            Ok("wss://x.test/v1/realtime?model=my%20model%2F%C3%A9%26v%3D1")
        );
    }

    #[test]
    fn unusable_bases_and_models_are_refused() {
        assert_eq!(realtime_url("ftp://x.test", "m"), Err(UrlError::Scheme));
        assert_eq!(
            realtime_url("api.openai.com/v1", "m"),
            Err(UrlError::Scheme)
        );
        assert_eq!(realtime_url("https://", "m"), Err(UrlError::NoHost));
        assert_eq!(realtime_url("https:///v1", "m"), Err(UrlError::NoHost));
        assert_eq!(
            realtime_url("https://x.test/v1?a=b", "m"),
            Err(UrlError::QueryOrFragment)
        );
        assert_eq!(
            realtime_url(DEFAULT_BASE_URL, ""),
            Err(UrlError::EmptyModel)
        );
    }
}
