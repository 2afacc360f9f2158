//! The safety net under the recording callback: a call that ended a while ago and whose
//! post-call job was never sent (the callback was refused, lost, or its Lambda died
//! between the claim and the send, or the caller hung up before the recording started)
//! gets its job requested here. Twilio is asked for the call's recordings first, so a
//! recording whose callback never arrived is still copied and transcribed; with none,
//! the job works from the live turns.
//!
//! Requests go through [`request_job`], so sweeps that repeat, overlap, or race a late
//! callback still send one job per call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::{Instrument, info, info_span, warn};

use crate::ids::CallSid;
use crate::model::{Call, Organization, RecordingRef};
use crate::ports::{Calls, Directory, Queue, StoreError, StoreResult, modify_call_if};
use crate::postcall::{PostcallJob, Requested, request_job};

/// Why Twilio could not say which recordings a call has.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// An outage or a rate limit: ask again at the next sweep.
    #[error("passing: {0}")]
    Passing(String),
    /// Twilio refused for good (unknown call, credentials it does not accept): the job
    /// goes on with what hotline knows.
    #[error("refused: {0}")]
    Refused(String),
}

/// Twilio's list of a call's recordings.
#[async_trait]
pub trait CallRecordings: Send + Sync {
    async fn call_recordings(
        &self,
        org: &Organization,
        call: &CallSid,
    ) -> Result<Vec<RecordingRef>, LookupError>;
}

/// What a sweep needs.
pub struct SweepPorts<'a> {
    pub directory: &'a dyn Directory,
    pub calls: &'a dyn Calls,
    /// The post-call queue.
    pub queue: &'a dyn Queue,
    pub recordings: &'a dyn CallRecordings,
}

/// What one sweep did, call by call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Calls whose job this sweep sent.
    pub requested: u32,
    /// Calls whose job someone else sent or is sending right now.
    pub already_requested: u32,
    /// Calls whose recording Twilio is still processing: its callback may yet come.
    pub waiting: u32,
    /// Calls left for the next sweep after an error.
    pub failed: u32,
}

/// How many due calls one sweep looks at; the rest wait for the next sweep.
pub const SWEEP_BATCH: usize = 100;

/// How long after a call's end a recording Twilio still processes is waited for. Past
/// it the job goes ahead (from the live turns) rather than hold the call, and those
/// behind it in the index, for good.
pub const MAX_RECORDING_WAIT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Requests the job of every call that ended before `ended_before` and whose job was
/// never sent. An error only when the due calls could not be listed; one call's failure
/// is counted and logged, and the others go on.
pub async fn sweep(
    ports: &SweepPorts<'_>,
    ended_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Swept> {
    let due = ports
        .calls
        .calls_awaiting_job(ended_before, SWEEP_BATCH)
        .await?;
    let mut swept = Swept::default();
    for call in due {
        let span = info_span!("sweep", call_sid = %call.sid, org = %call.org);
        match rescue(ports, &call, now).instrument(span.clone()).await {
            Ok(Rescue::Requested) => swept.requested += 1,
            Ok(Rescue::AlreadyRequested) => swept.already_requested += 1,
            Ok(Rescue::Waiting) => swept.waiting += 1,
            Err(e) => {
                span.in_scope(
                    || warn!(error = %e, "could not request the post-call job; next sweep"),
                );
                swept.failed += 1;
            }
        }
    }
    if swept != Swept::default() {
        info!(?swept, "sweep done");
    }
    Ok(swept)
}

enum Rescue {
    Requested,
    AlreadyRequested,
    Waiting,
}

#[derive(Debug, thiserror::Error)]
enum RescueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Twilio: {0}")]
    Twilio(LookupError),
}

async fn rescue(
    ports: &SweepPorts<'_>,
    call: &Call,
    now: DateTime<Utc>,
) -> Result<Rescue, RescueError> {
    let recording = match call.recording.as_ref().filter(|r| r.status.is_final()) {
        Some(known) => Some(known.clone()),
        None => match ask_twilio(ports, call).await? {
            Asked::Waiting(found) => {
                let waited = call.ended_at.map(|end| now - end).unwrap_or_default();
                if waited <= MAX_RECORDING_WAIT {
                    return Ok(Rescue::Waiting);
                }
                warn!(status = %found.status, "Twilio is still not done with the recording; the job goes ahead without it");
                Some(found)
            }
            Asked::Found(found) => Some(found),
            Asked::None => None,
        },
    };
    let job = match &recording {
        Some(r) => {
            // The worker copies the recording it finds on the call.
            modify_call_if(ports.calls, &call.sid, |c| c.note_recording(r)).await?;
            PostcallJob::new(call.org.clone(), call.sid.clone(), r.sid.clone())
        }
        None => PostcallJob::without_recording(call.org.clone(), call.sid.clone()),
    };
    match request_job(ports.calls, ports.queue, &job, now).await? {
        Requested::Enqueued { .. } => {
            info!(key = %job.key(), "post-call job requested by the sweeper: its trigger never came");
            Ok(Rescue::Requested)
        }
        Requested::AlreadyRequested => Ok(Rescue::AlreadyRequested),
    }
}

enum Asked {
    Found(RecordingRef),
    /// A recording Twilio has not finished with.
    Waiting(RecordingRef),
    None,
}

async fn ask_twilio(ports: &SweepPorts<'_>, call: &Call) -> Result<Asked, RescueError> {
    let Some(org) = ports.directory.get_org(&call.org).await? else {
        // Left waiting, the call would sit at the head of the index for good; the
        // worker meets the same absence, and the dead-letter queue's alarm says so.
        warn!("the call's organization is gone; its job goes without asking Twilio");
        return Ok(Asked::None);
    };
    let listed = match ports.recordings.call_recordings(&org, &call.sid).await {
        Ok(listed) => listed,
        Err(e @ LookupError::Passing(_)) => return Err(RescueError::Twilio(e)),
        Err(e @ LookupError::Refused(_)) => {
            warn!(error = %e, "Twilio would not list the call's recordings; the job goes on without one");
            return Ok(Asked::None);
        }
    };
    // The call's own recording if it has one on record, else the first Twilio lists.
    let mine = |r: &&RecordingRef| call.recording.as_ref().is_none_or(|k| k.sid == r.sid);
    let Some(found) = listed.iter().find(mine) else {
        return Ok(Asked::None);
    };
    if found.status.is_final() {
        Ok(Asked::Found(found.clone()))
    } else {
        Ok(Asked::Waiting(found.clone()))
    }
}
