//! The built-in `send_dtmf` tool: the agent presses keys on the far end's phone menu
//! (an outbound call that meets "press 1 for…") by playing the keys' tones into the
//! media stream it already has. `<Play digits>` would mean new TwiML and the end of
//! `<Connect><Stream>`, so the tones travel as ordinary audio, in 20 ms frames, queued
//! behind whatever the agent is still saying.

use hotline_audio::dtmf::{DtmfTiming, dtmf_mulaw};
use hotline_core::model::{ToolKind, ToolSpec};
use serde_json::json;

/// Twilio's own frame: 20 ms of µ-law at 8 kHz.
pub const FRAME_BYTES: usize = 160;

/// The names the agent's `send_dtmf` tools go by.
pub fn names(tools: &[ToolSpec]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| matches!(t.kind, ToolKind::SendDtmf))
        .map(|t| t.name.clone())
        .collect()
}

/// What the model asked to press, as tones ready to send; on a bad request, the
/// JSON output that tells the model why (nothing is played).
pub struct Keys {
    pub digits: String,
    pub tones: Vec<u8>,
}

/// Reads `{"digits": "…"}` and makes its tones, checked whole first.
pub fn keys(arguments: &str) -> Result<Keys, String> {
    let digits = serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| v.get("digits").and_then(|d| d.as_str()).map(str::to_owned))
        .ok_or_else(|| failed("give the keys to press as {\"digits\": \"…\"}"))?;
    let tones = dtmf_mulaw(&digits, DtmfTiming::default()).map_err(|e| failed(&e.to_string()))?;
    Ok(Keys { digits, tones })
}

/// The model's answer once the tones are queued for the far end.
pub fn pressed(keys: &Keys) -> String {
    let ms = keys.tones.len() / hotline_audio::SAMPLES_PER_MS;
    json!({"ok": true, "pressed": keys.digits, "duration_ms": ms}).to_string()
}

fn failed(why: &str) -> String {
    json!({"ok": false, "error": why}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_tones_and_bad_keys_are_explained_to_the_model() {
        let k = keys(r#"{"digits":"1w2#"}"#).expect("keys");
        // Three tones and three gaps of 80 ms, one 500 ms pause.
        assert_eq!(k.tones.len(), (3 * 160 + 500) * 8);
        assert!(
            pressed(&k).contains("\"duration_ms\":980"),
            "{}",
            pressed(&k)
        );
        let bad = keys(r#"{"digits":"1x"}"#).err().expect("refused");
        assert!(bad.contains("'x'") || bad.contains("\\\"x\\\""), "{bad}");
        assert!(keys("{}").is_err());
        assert!(keys("not json").is_err());
    }
}
