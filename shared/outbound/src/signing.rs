//! Signing the call reports hotline POSTs to an organization's webhook.
//!
//! `Hotline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Receivers recompute the HMAC over the raw body, compare in constant time, and refuse
//! a timestamp more than five minutes from their clock ([`REPLAY_WINDOW_SECS`]); with
//! `Hotline-Event-Id`, which stays the same across retries, they drop duplicates.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Hotline-Signature";
pub const EVENT_ID_HEADER: &str = "Hotline-Event-Id";
/// How far a receiver should let a signature's timestamp be from its own clock.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// The `Hotline-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn signature(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
) -> Result<String, hmac::digest::InvalidLength> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Whether `header` (a `Hotline-Signature` value) signs `body` with `secret` at a
/// timestamp within [`REPLAY_WINDOW_SECS`] of `now` (unix seconds). Any of several
/// `v1=` may match; the comparison is constant-time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp.filter(|t| (now - t).abs() <= REPLAY_WINDOW_SECS) else {
        return false;
    };
    candidates.iter().any(|candidate| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(candidate).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_a_fresh_time() {
        let header = signature(b"k", 1_700_000_000, b"{}").expect("any key length");
        assert!(verify(b"k", &header, b"{}", 1_700_000_100));
        assert!(!verify(b"other", &header, b"{}", 1_700_000_100));
        assert!(!verify(b"k", &header, b"{ }", 1_700_000_100));
        assert!(!verify(
            b"k",
            &header,
            b"{}",
            1_700_000_000 + REPLAY_WINDOW_SECS + 1
        ));
        assert!(!verify(b"k", "t=1700000000", b"{}", 1_700_000_000));
        assert!(!verify(b"k", "garbage", b"{}", 1_700_000_000));
    }

    #[test]
    fn matches_an_independent_hmac() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test",
        //   b"1700000000.{\"a\":1}",hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#).expect("any key length"),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
