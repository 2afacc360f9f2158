//! Copy the recording from Twilio into hotline's blob store, then (if the organization
//! asks) delete Twilio's copy.

use hotline_core::ports::BlobKey;
use hotline_twilio::rest::{RecordingFormat, RestError};
use tracing::info;

use crate::job::{JobCx, Retry, StageOutcome, StageResult};

pub async fn run(cx: &mut JobCx<'_>) -> StageResult {
    let Some(recording) = cx.call.recording.clone() else {
        return Ok(StageOutcome::Skipped("Twilio reported no recording".into()));
    };
    if !recording.is_available() {
        let code = recording
            .error_code
            .as_deref()
            .map(|c| format!(" (error {c})"))
            .unwrap_or_default();
        return Ok(StageOutcome::Skipped(format!(
            "recording {}{code}",
            recording.status
        )));
    }
    let twilio = cx.org.twilio.clone();
    let key = BlobKey::recording(&cx.org.id, &cx.call.sid);
    let mut size = None;
    if recording.blob_key.is_none() {
        let bytes = match download(cx, &recording.sid).await {
            Ok(bytes) => bytes,
            Err(Download::Retry(r)) => return Err(r),
            Err(Download::Refused(e)) => return Ok(StageOutcome::Failed(e)),
        };
        size = Some(bytes.len());
        cx.deps
            .blobs
            .put_blob(&key, bytes, "audio/mpeg")
            .await
            .map_err(Retry::from)?;
        let stored = key.to_string();
        cx.update(|c| {
            if let Some(r) = c.recording.as_mut() {
                r.blob_key = Some(stored.clone());
            }
        })
        .await?;
        info!(bytes = size, key = %key, "recording copied");
    }
    if cx.org.settings.delete_twilio_recordings && !recording.deleted_from_twilio {
        match cx
            .deps
            .twilio
            .delete_recording(&twilio.account_sid, &twilio.auth_token, &recording.sid)
            .await
        {
            Ok(()) | Err(RestError::NotFound { .. }) => {}
            Err(e) if e.is_retryable() => return Err(Retry(format!("deleting from Twilio: {e}"))),
            Err(e) => {
                return Ok(StageOutcome::Failed(format!(
                    "copied to {key}, but Twilio refused to delete its copy: {e}"
                )));
            }
        }
        cx.update(|c| {
            if let Some(r) = c.recording.as_mut() {
                r.deleted_from_twilio = true;
            }
        })
        .await?;
        info!("Twilio's copy deleted");
    }
    Ok(StageOutcome::Done(match size {
        Some(n) => format!("{key} ({n} bytes)"),
        None => key.to_string(),
    }))
}

enum Download {
    Retry(Retry),
    Refused(String),
}

/// Twilio may answer 404 for a moment after the callback: wait and ask again.
async fn download(cx: &JobCx<'_>, sid: &hotline_core::RecordingSid) -> Result<Vec<u8>, Download> {
    let twilio = &cx.org.twilio;
    let waits = std::iter::once(std::time::Duration::ZERO)
        .chain(cx.deps.config.recording_backoff.iter().copied());
    let mut attempts = 0;
    for wait in waits {
        tokio::time::sleep(wait).await;
        attempts += 1;
        match cx
            .deps
            .twilio
            .download_recording(
                &twilio.account_sid,
                &twilio.auth_token,
                sid,
                RecordingFormat::Mp3,
            )
            .await
        {
            Ok(bytes) => return Ok(bytes),
            Err(RestError::NotFound { .. }) => {
                info!(attempts, "recording not there yet");
            }
            // Credentials may be fixed and outages end: both are worth the redelivery.
            Err(e @ RestError::Auth { .. }) => {
                return Err(Download::Retry(Retry(format!("downloading: {e}"))));
            }
            Err(e) if e.is_retryable() => {
                return Err(Download::Retry(Retry(format!("downloading: {e}"))));
            }
            Err(e) => return Err(Download::Refused(format!("downloading: {e}"))),
        }
    }
    Err(Download::Retry(Retry(format!(
        "Twilio still answers 404 for the recording after {attempts} attempts"
    ))))
}
