//! OpenAI's REST API for what happens after a call (see `protocols/openai-realtime.md`
//! sections 9 and 10): [`OpenAiRest::transcribe`] sends the recording to
//! `POST /audio/transcriptions`, [`OpenAiRest::structured`] asks
//! `POST /chat/completions` for a JSON answer that follows a strict schema.
//!
//! Failures are [`LlmError`]s that say whether a retry can help. No error, `Debug`
//! output or log line carries the audio, a transcript, a prompt or the API key.

mod chat;
mod client;
mod error;
mod ssm_key;
mod transcribe;

pub use chat::{StructuredRequest, TextRequest};
pub use client::{DEFAULT_BASE_URL, DEFAULT_TIMEOUT, OpenAiRest};
pub use error::LlmError;
pub use ssm_key::{ApiKeySource, KeyError, read_ssm_key};
pub use transcribe::{Transcription, TranscriptionRequest};

/// Longest schema name OpenAI accepts.
const MAX_SCHEMA_NAME: usize = 64;

/// A schema name OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`) made from any name, e.g. an
/// analyzer's: each run of other characters becomes one `_`, and a name still too long
/// keeps its start and ends in a hash of the whole, so different long names stay
/// different. The same name always gives the same result.
pub fn schema_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        return "schema".to_owned();
    }
    if trimmed.len() <= MAX_SCHEMA_NAME {
        return trimmed.to_owned();
    }
    let hash = format!("{:08x}", fnv1a(name.as_bytes()) as u32);
    // ASCII only by now, so any byte index is a character boundary.
    let keep = MAX_SCHEMA_NAME - hash.len() - 1;
    format!("{}_{hash}", &trimmed[..keep])
}

/// FNV-1a, 64 bit: small, and stable across Rust versions unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptable(name: &str) -> bool {
        (1..=MAX_SCHEMA_NAME).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn good_names_are_kept() {
        assert_eq!(schema_name("call_summary"), "call_summary");
        assert_eq!(schema_name("lead-score-2"), "lead-score-2");
    }

    #[test]
    fn other_characters_become_underscores() {
        assert_eq!(schema_name("Call summary (v2)"), "Call_summary_v2");
        assert_eq!(schema_name("Résumé d'appel"), "R_sum_d_appel");
        assert_eq!(schema_name("  "), "schema");
        assert_eq!(schema_name(""), "schema");
        assert_eq!(schema_name("電話"), "schema");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let a = schema_name(&"analyzer ".repeat(20));
        let b = schema_name(&format!("{}x", "analyzer ".repeat(20)));
        assert!(acceptable(&a), "{a}");
        assert!(acceptable(&b), "{b}");
        assert_eq!(a.len(), MAX_SCHEMA_NAME);
        assert_ne!(a, b);
        assert_eq!(a, schema_name(&"analyzer ".repeat(20)), "deterministic");
    }

    #[test]
    fn every_result_is_acceptable() {
        for name in [
            "a",
            "-",
            "_x_",
            "a/b\\c",
            "ünïcödé",
            &"z".repeat(65),
            "x".repeat(64).as_str(),
        ] {
            let got = schema_name(name);
            assert!(acceptable(&got), "{name:?} -> {got:?}");
        }
    }
}
