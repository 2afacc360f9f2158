//! Transcribe the recording (or, without one, keep the live transcript) and store the
//! transcript in the blob store and on the call.

use hotline_core::model::{TranscriptRef, TranscriptSource};
use hotline_core::ports::BlobKey;
use hotline_llm::{LlmError, TranscriptionRequest};
use serde_json::json;
use tracing::{info, warn};

use crate::conversation::live_text;
use crate::job::{JobCx, Retry, StageOutcome, StageResult, worth_retrying};

pub async fn run(cx: &mut JobCx<'_>) -> StageResult {
    let turns = cx.deps.calls.turns(&cx.call.sid).await?;
    let live = live_text(&turns);
    let mut fallback_reason = None;
    let mut transcribed = None;
    if let Some(key) = cx.call.recording.as_ref().and_then(|r| r.blob_key.clone()) {
        let audio = read_recording(cx, &key).await?;
        match transcribe(cx, audio).await {
            Ok(text) => transcribed = Some(text),
            Err(e) if worth_retrying(&e) => {
                return Err(Retry(format!("transcribing: {e}")));
            }
            Err(e) => {
                warn!(error = %e, "the recording could not be transcribed; using the live transcript");
                fallback_reason = Some(format!("recording not transcribed ({e})"));
            }
        }
    }
    let (source, text, model) = match transcribed {
        Some(text) => (
            TranscriptSource::Recording,
            text,
            Some(cx.deps.config.transcribe_model.clone()),
        ),
        None if !live.is_empty() => (TranscriptSource::Live, live, None),
        None => {
            return Ok(match fallback_reason {
                Some(reason) => StageOutcome::Failed(format!("{reason}; no live transcript")),
                None => StageOutcome::Skipped("no recording and nothing said".into()),
            });
        }
    };

    let key = BlobKey::transcript(&cx.org.id, &cx.call.sid);
    let document = json!({
        "call": cx.call.sid,
        "org": cx.org.id,
        "source": source,
        "model": model,
        "text": text,
        "turns": turns,
    });
    let bytes = serde_json::to_vec_pretty(&document).map_err(|e| Retry(e.to_string()))?;
    cx.deps
        .blobs
        .put_blob(&key, bytes, "application/json")
        .await?;
    let transcript = TranscriptRef::new(source, &text, key.to_string(), model);
    cx.update(|c| c.post_call.transcript = Some(transcript.clone()))
        .await?;
    info!(?source, chars = text.chars().count(), "transcript stored");
    let mut detail = format!("{key} ({source:?})");
    if let Some(reason) = fallback_reason {
        detail.push_str(&format!("; {reason}"));
    }
    Ok(StageOutcome::Done(detail))
}

/// The stored copy; the recording stage put it there, so its absence is an error.
async fn read_recording(cx: &JobCx<'_>, key: &str) -> Result<Vec<u8>, Retry> {
    let key = BlobKey::parse(key).map_err(|e| Retry(format!("recording key: {e}")))?;
    let blob = cx.deps.blobs.get_blob(&key).await?;
    blob.map(|b| b.bytes)
        .ok_or_else(|| Retry(format!("{key} is missing from the blob store")))
}

async fn transcribe(cx: &JobCx<'_>, audio: Vec<u8>) -> Result<String, LlmError> {
    let filename = format!("{}.mp3", cx.call.sid);
    let transcription = cx
        .deps
        .openai
        .transcribe(TranscriptionRequest {
            audio,
            filename: &filename,
            content_type: "audio/mpeg",
            model: &cx.deps.config.transcribe_model,
            prompt: None,
            language: None,
        })
        .await?;
    Ok(transcription.text)
}
