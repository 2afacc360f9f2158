//! The call as text, for people (the transcript) and for the LLM stages.

use hotline_core::model::{Speaker, TranscriptRef, TranscriptSource, Turn};
use hotline_core::ports::BlobKey;

use crate::job::{JobCx, Retry};

/// The live transcript, speaker by speaker, in the order things were said.
pub fn live_text(turns: &[Turn]) -> String {
    let mut spoken: Vec<&Turn> = turns.iter().filter(|t| !t.text.trim().is_empty()).collect();
    spoken.sort_by_key(|t| (t.offset_ms, t.seq));
    spoken
        .iter()
        .map(|t| {
            let who = match t.speaker {
                Speaker::Caller => "Caller",
                Speaker::Agent => "Agent",
            };
            format!("{who}: {}", t.text.trim())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Longest piece of transcript handed to the LLM; a phone call rarely comes close.
const MAX_LLM_CHARS: usize = 60_000;

/// What the LLM stages read: the recording's transcript when there is one, and the
/// speaker-labelled live transcript (which tells caller from agent). `None` when the
/// call has no transcript at all.
pub async fn llm_input(cx: &JobCx<'_>) -> Result<Option<String>, Retry> {
    let Some(transcript) = &cx.call.post_call.transcript else {
        return Ok(None);
    };
    let text = full_text(cx, transcript).await?;
    let mut parts = Vec::new();
    if transcript.source == TranscriptSource::Recording {
        parts.push(format!(
            "Transcript of the call recording (speakers not labelled):\n{}",
            clip(&text)
        ));
        let turns = cx.deps.calls.turns(&cx.call.sid).await?;
        let live = live_text(&turns);
        if !live.is_empty() {
            parts.push(format!(
                "Live transcript, speaker-labelled (may miss words):\n{}",
                clip(&live)
            ));
        }
    } else {
        parts.push(format!("Transcript, speaker-labelled:\n{}", clip(&text)));
    }
    Ok(Some(parts.join("\n\n")))
}

/// The whole transcript: the record keeps only the beginning of a long one, the stored
/// document has all of it.
async fn full_text(cx: &JobCx<'_>, transcript: &TranscriptRef) -> Result<String, Retry> {
    if !transcript.truncated {
        return Ok(transcript.text.clone());
    }
    let key =
        BlobKey::parse(&transcript.blob_key).map_err(|e| Retry(format!("transcript key: {e}")))?;
    let blob = cx
        .deps
        .blobs
        .get_blob(&key)
        .await?
        .ok_or_else(|| Retry(format!("{key} is missing from the blob store")))?;
    let document: serde_json::Value = serde_json::from_slice(&blob.bytes)
        .map_err(|e| Retry(format!("{key} is not a transcript document: {e}")))?;
    document["text"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Retry(format!("{key} has no text")))
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(MAX_LLM_CHARS) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_text_follows_speech_order_and_drops_blanks() {
        let turn = |seq, speaker, text: &str, offset_ms| Turn {
            seq,
            speaker,
            text: text.into(),
            offset_ms,
        };
        let turns = [
            turn(1, Speaker::Caller, "I need to move my appointment.", 4000),
            turn(0, Speaker::Agent, "Hello, Bright Smile Dental.", 0),
            turn(2, Speaker::Agent, "  ", 5000),
        ];
        assert_eq!(
            live_text(&turns),
            "Agent: Hello, Bright Smile Dental.\nCaller: I need to move my appointment."
        );
    }

    #[test]
    fn clipping_respects_characters() {
        let long = "é".repeat(MAX_LLM_CHARS + 5);
        assert_eq!(clip(&long).chars().count(), MAX_LLM_CHARS);
        assert_eq!(clip("short"), "short");
    }
}
