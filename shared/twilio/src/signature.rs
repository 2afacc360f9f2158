//! `X-Twilio-Signature`: proof that a webhook or WebSocket upgrade came from Twilio.
//!
//! The signed string is the full URL Twilio requested (still percent-encoded, query
//! included) followed by each POST parameter as `name + value`, names sorted, and for a
//! repeated name each distinct value once, values sorted. Sorting is by code point, which
//! for UTF-8 is plain byte order. This matches twilio-python's
//! `RequestValidator.compute_signature`; the fixture
//! `tests/fixtures/twilio/signatures.json` is generated from that library.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio would send for a request to `url` carrying `params`: base64 of
/// HMAC-SHA1 keyed with the account's auth token. `url` is used byte for byte, so pass it
/// exactly as configured at Twilio; for GET requests and WebSocket upgrades pass no params.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(signed_mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` is Twilio's signature for this request, compared in constant time.
///
/// Twilio is inconsistent about writing the scheme's default port, so like the official
/// helper libraries this accepts a signature over the URL with or without it (`:443` for
/// `https`/`wss`, `:80` for `http`/`ws`). Nothing else about the URL is normalised: host
/// case, trailing slash and query encoding must match what Twilio signed.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = BASE64.decode(signature) else {
        return false;
    };
    let mut valid = false;
    for candidate in url_variants(url) {
        // Every variant is checked, so timing does not tell which one matched.
        valid |= signed_mac(auth_token, &candidate, params)
            .verify_slice(&expected)
            .is_ok();
    }
    valid
}

/// Validates a request with an `application/json` body. Twilio then appends
/// `bodySHA256=<hex sha256 of the body>` to the URL and signs the URL alone; both the
/// signature and the body hash must match. A URL without `bodySHA256` is refused.
pub fn validate_body_sha256(auth_token: &str, url: &str, raw_body: &[u8], signature: &str) -> bool {
    let signature_ok = validate(auth_token, url, &[], signature);
    let body_ok = query_value(url, "bodySHA256")
        .is_some_and(|claimed| claimed == hex::encode(Sha256::digest(raw_body)));
    signature_ok && body_ok
}

/// HMAC-SHA1 over the signed string, not yet finalised.
fn signed_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().insert(value);
    }
    let mut mac = keyed(auth_token);
    mac.update(url.as_bytes());
    for (name, values) in grouped {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    mac
}

/// An HMAC-SHA1 keyed with `auth_token`.
fn keyed(auth_token: &str) -> HmacSha1 {
    <HmacSha1 as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length")
}

/// The URL as given, then the same URL with its scheme's default port toggled (added when
/// absent, removed when present). The rest of the URL is copied untouched.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Some(other) = toggle_default_port(url) {
        variants.push(other);
    }
    variants
}

fn toggle_default_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "443",
        "http" | "ws" => "80",
        _ => return None,
    };
    let authority_start = scheme.len() + 3;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // Userinfo may itself contain ':' (user:pass@), so the host starts after the last '@'.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal is bracketed and full of ':'; the port, if any, follows the ']'.
    let host_len = if host_port.starts_with('[') {
        host_port.find(']')? + 1
    } else {
        host_port.find(':').unwrap_or(host_port.len())
    };
    if host_len == 0 {
        return None;
    }
    let port_at = authority_start + host_start + host_len;
    let authority_end = authority_start + authority_len;
    match &host_port[host_len..] {
        "" => Some(format!(
            "{}:{default_port}{}",
            &url[..port_at],
            &url[port_at..]
        )),
        port if port.strip_prefix(':') == Some(default_port) => {
            Some(format!("{}{}", &url[..port_at], &url[authority_end..]))
        }
        _ => None,
    }
}

/// The first value of `name` in the URL's query, percent-decoded.
fn query_value(url: &str, name: &str) -> Option<String> {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants(url: &str) -> Vec<String> {
        url_variants(url)
    }

    #[test]
    fn default_port_is_added_or_removed_and_nothing_else_changes() {
        assert_eq!(
            variants("https://example.com/a%20b?q=a%2Bb&x=1#f"),
            [
                "https://example.com/a%20b?q=a%2Bb&x=1#f",
                "https://example.com:443/a%20b?q=a%2Bb&x=1#f"
            ]
        );
        assert_eq!(
            variants("http://example.com:80?x=1"),
            ["http://example.com:80?x=1", "http://example.com?x=1"]
        );
        assert_eq!(
            variants("wss://example.com/media"),
            ["wss://example.com/media", "wss://example.com:443/media"]
        );
        assert_eq!(
            variants("ws://example.com:80"),
            ["ws://example.com:80", "ws://example.com"]
        );
        assert_eq!(
            variants("HTTPS://example.com"),
            ["HTTPS://example.com", "HTTPS://example.com:443"]
        );
    }

    #[test]
    fn userinfo_and_ipv6_keep_their_colons() {
        assert_eq!(
            variants("https://user:p%40ss@example.com/v"),
            [
                "https://user:p%40ss@example.com/v",
                "https://user:p%40ss@example.com:443/v"
            ]
        );
        assert_eq!(
            variants("https://user:pass@example.com:443/v"),
            [
                "https://user:pass@example.com:443/v",
                "https://user:pass@example.com/v"
            ]
        );
        assert_eq!(
            variants("https://[2001:db8::1]:443/v"),
            ["https://[2001:db8::1]:443/v", "https://[2001:db8::1]/v"]
        );
        assert_eq!(
            variants("https://[2001:db8::1]/v"),
            ["https://[2001:db8::1]/v", "https://[2001:db8::1]:443/v"]
        );
    }

    #[test]
    fn other_ports_and_odd_urls_have_no_variant() {
        for url in [
            "https://example.com:8443/v",
            "https://example.com:80/v",
            "http://example.com:443/v",
            "https://example.com:/v",
            "ftp://example.com/v",
            "example.com/v",
            "https:///v",
            "https://[::1/v",
            "",
        ] {
            assert_eq!(variants(url), [url], "{url:?}");
        }
    }

    #[test]
    fn malformed_signatures_are_rejected_not_panicked_on() {
        let url = "https://example.com/v";
        let good = compute("t", url, &[]);
        assert!(validate("t", url, &[], &good));
        for bad in [
            "",
            "!!!!",
            "AAAA",
            &good[..good.len() - 1],
            &format!("{good} "),
        ] {
            assert!(!validate("t", url, &[], bad), "{bad:?}");
        }
    }

    #[test]
    fn body_hash_must_be_present_and_match() {
        let body = br#"{"a":1}"#;
        let digest = hex::encode(Sha256::digest(body));
        let url = format!("https://example.com/e?bodySHA256={digest}");
        let sig = compute("t", &url, &[]);
        assert!(validate_body_sha256("t", &url, body, &sig));
        assert!(!validate_body_sha256("t", &url, br#"{"a":2}"#, &sig));
        let no_hash = "https://example.com/e";
        let sig = compute("t", no_hash, &[]);
        assert!(!validate_body_sha256("t", no_hash, body, &sig));
        assert_eq!(
            query_value(
                "https://e/x?a=1&bodySHA256=ab%63#bodySHA256=zz",
                "bodySHA256"
            ),
            Some("abc".to_owned())
        );
    }
}
