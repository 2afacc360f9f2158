//! hotline's public URLs. The voice webhook writes the stream URL into TwiML and the
//! stream node checks Twilio's signature over it, so both derive it here, the same way.

pub const VOICE: &str = "/twilio/voice";
pub const STATUS: &str = "/twilio/status";
pub const RECORDING: &str = "/twilio/recording";
pub const SMS: &str = "/twilio/sms";
/// Delivery reports of the texts hotline sends (`StatusCallback`).
pub const SMS_STATUS: &str = "/twilio/sms/status";
pub const STREAM: &str = "/twilio/stream";
/// Answering-machine detection results of outbound calls (`AsyncAmdStatusCallback`).
pub const AMD: &str = "/twilio/amd";
/// Where Twilio asks for TwiML when the voice webhook failed (`FallbackUrl`).
pub const FALLBACK: &str = "/twilio/fallback";
/// On a stream node: the voice webhook asks it to open a call's AI session while the
/// call is still being connected (signed with the call's stream token).
pub const PREWARM: &str = "/internal/prewarm";

/// The HTTP URL of `path` on the node whose stream base is `stream_base`
/// (`wss://host` → `https://host{path}`, `ws://` → `http://`).
pub fn node_http_url(stream_base: &str, path: &str) -> Option<String> {
    let (scheme, rest) = stream_base.split_once("://")?;
    let scheme = match scheme {
        "wss" | "https" => "https",
        "ws" | "http" => "http",
        _ => return None,
    };
    Some(format!("{scheme}://{}{path}", rest.trim_end_matches('/')))
}

/// A configured base URL: absolute, one of `schemes`, a host, no query or fragment;
/// trailing slashes dropped (Twilio signs the URL byte for byte, `/x` ≠ `/x/`).
pub fn base_url(value: &str, schemes: &[&str]) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    if !schemes.contains(&scheme)
        || rest.is_empty()
        || rest.starts_with('/')
        || rest.contains(['?', '#'])
    {
        return None;
    }
    Some(value.trim_end_matches('/').to_owned())
}

/// The stream node's public base (`HOTLINE_STREAM_PUBLIC_URL`) as Twilio dials it:
/// `wss://` (`ws://` for local plain-text testing); an `https://`/`http://` base names
/// the same host.
pub fn stream_base_url(value: &str) -> Option<String> {
    let base = base_url(value, &["wss", "ws", "https", "http"])?;
    Some(match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some(("http", rest)) => format!("ws://{rest}"),
        _ => base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_http_url_keeps_its_host_and_security() {
        assert_eq!(
            node_http_url("wss://n1.example.com", PREWARM).as_deref(),
            Some("https://n1.example.com/internal/prewarm")
        );
        assert_eq!(
            node_http_url("ws://127.0.0.1:3002/", PREWARM).as_deref(),
            Some("http://127.0.0.1:3002/internal/prewarm")
        );
        assert_eq!(node_http_url("ftp://x", PREWARM), None);
    }

    #[test]
    fn stream_bases_become_websocket_urls() {
        assert_eq!(
            stream_base_url("https://stream.example.com/").as_deref(),
            Some("wss://stream.example.com")
        );
        assert_eq!(
            stream_base_url("ws://127.0.0.1:3001").as_deref(),
            Some("ws://127.0.0.1:3001")
        );
        for bad in [
            "stream.example.com",
            "ftp://x",
            "wss://x/?a=1",
            "wss://",
            "wss:///x",
        ] {
            assert_eq!(stream_base_url(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn bases_keep_stage_paths() {
        assert_eq!(
            base_url(
                "https://abc.execute-api.us-east-1.amazonaws.com/prod/",
                &["https"]
            )
            .as_deref(),
            Some("https://abc.execute-api.us-east-1.amazonaws.com/prod")
        );
    }
}
