//! Opaque page cursors: where the previous page stopped in the call list.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hotline_core::CallSid;
use hotline_core::ports::CallPosition;

use crate::problem::ApiError;

pub fn encode(position: &CallPosition) -> String {
    let sid = position.sid.as_ref().map_or("", CallSid::as_str);
    URL_SAFE_NO_PAD.encode(format!("{}|{sid}", position.started_at.to_rfc3339()))
}

pub fn decode(cursor: &str) -> Result<CallPosition, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API gave out".into());
    if cursor.len() > 200 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, sid) = text.split_once('|').ok_or_else(bad)?;
    let started_at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    let sid = if sid.is_empty() {
        None
    } else {
        Some(CallSid::parse(sid).map_err(|_| bad())?)
    };
    Ok(CallPosition { started_at, sid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let position = CallPosition {
            started_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
                .expect("time")
                .with_timezone(&Utc),
            sid: Some(CallSid::parse(&format!("CA{}", "1".repeat(32))).expect("sid")),
        };
        assert_eq!(decode(&encode(&position)).expect("decode"), position);
        for bad in ["", "!!!", "bm9waXBl", &"A".repeat(500)] {
            assert!(decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
