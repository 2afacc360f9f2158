//! The post-call job: its message, and requesting it exactly once per recording.
//!
//! Twilio may deliver a recording callback more than once, and two deliveries may race.
//! The first to claim the job on the call record (a versioned write) sends the message;
//! the others see the claim and send nothing. A claimant that died between claiming and
//! sending leaves a claim without `enqueued_at`; after [`CLAIM_TIMEOUT`] a later callback
//! may take it over, so a job is never lost (at worst sent twice, which the worker's
//! checkpoints make harmless).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::ids::{CallSid, OrgId, RecordingSid};
use crate::model::JobClaim;
use crate::ports::{Calls, Queue, StoreError, modify_call, modify_call_if};

/// The message body's `v`.
pub const JOB_VERSION: u32 = 1;

/// Bodies longer than this are not post-call jobs.
const MAX_BODY_BYTES: usize = 4096;

/// How long an unsent claim stands before another callback may take over.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);

/// The body of a post-call queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostcallJob {
    pub v: u32,
    pub org: OrgId,
    pub call: CallSid,
    /// The recording whose callback asked for the job; `None` when the sweeper asked
    /// for a call Twilio kept no recording of (the live turns are then the transcript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingSid>,
}

/// The claim key of a job requested without a recording.
pub const NO_RECORDING_KEY: &str = "no-recording";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("not a post-call job: {0}")]
    Malformed(String),
    #[error("post-call job version {0} is not supported")]
    Version(u32),
}

impl PostcallJob {
    pub fn new(org: OrgId, call: CallSid, recording: RecordingSid) -> Self {
        Self {
            v: JOB_VERSION,
            org,
            call,
            recording: Some(recording),
        }
    }

    /// The job of a call that has no recording to wait for.
    pub fn without_recording(org: OrgId, call: CallSid) -> Self {
        Self {
            v: JOB_VERSION,
            org,
            call,
            recording: None,
        }
    }

    /// What the job's claim is deduplicated on.
    pub fn key(&self) -> String {
        self.recording
            .as_ref()
            .map_or_else(|| NO_RECORDING_KEY.to_owned(), ToString::to_string)
    }

    pub fn to_body(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// Reads a message body. The error never quotes the body.
    pub fn parse(body: &str) -> Result<Self, JobError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(JobError::Malformed(format!("{} bytes", body.len())));
        }
        let job: Self = serde_json::from_str(body).map_err(|e| {
            JobError::Malformed(format!(
                "line {} column {}: {:?}",
                e.line(),
                e.column(),
                e.classify()
            ))
        })?;
        if job.v != JOB_VERSION {
            return Err(JobError::Version(job.v));
        }
        Ok(job)
    }
}

/// What a request for the job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// This request sent the job.
    Enqueued { message_id: String },
    /// The job was already requested (or is being requested right now); nothing sent.
    AlreadyRequested,
}

/// Sends the call's post-call job unless it was already sent for this or another
/// recording. An error means nothing is known to have been sent: the caller should
/// answer so that Twilio retries.
pub async fn request_job(
    calls: &dyn Calls,
    queue: &dyn Queue,
    job: &PostcallJob,
    now: DateTime<Utc>,
) -> Result<Requested, StoreError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let key = job.key();
    let held = |claim: &JobClaim| {
        claim.enqueued_at.is_some()
            || (now - claim.claimed_at).to_std().unwrap_or_default() <= CLAIM_TIMEOUT
    };
    // A duplicate callback writes nothing: the claim is only written when it is free.
    let claimed = modify_call_if(calls, &job.call, |call| {
        let free = !call.post_call.job.as_ref().is_some_and(held);
        if free {
            call.post_call.job = Some(JobClaim {
                key: key.clone(),
                token: token.clone(),
                claimed_at: now,
                enqueued_at: None,
                message_id: None,
            });
        }
        free
    })
    .await;
    let claimed = match claimed {
        Ok(claimed) => claimed.into_call(),
        // Many duplicates racing for the claim outran the retries: one of them holds it
        // and sends the job (or releases it and answers for a retry itself).
        Err(StoreError::Conflict(what)) => {
            let call = calls.get_call(&job.call).await?;
            if call.and_then(|c| c.post_call.job).is_some_and(|c| held(&c)) {
                return Ok(Requested::AlreadyRequested);
            }
            return Err(StoreError::Conflict(what));
        }
        Err(e) => return Err(e),
    };
    let claimed = &claimed;
    let ours = claimed
        .post_call
        .job
        .as_ref()
        .is_some_and(|c| c.token == token);
    if !ours {
        if let Some(claim) = &claimed.post_call.job
            && claim.key != key
        {
            warn!(key = %key, first = %claim.key, "the job was already requested for another recording (or none)");
        }
        return Ok(Requested::AlreadyRequested);
    }

    let sent = queue.send(&job.to_body()?, Duration::ZERO).await;
    let mine = |call: &crate::model::Call| {
        call.post_call
            .job
            .as_ref()
            .is_some_and(|c| c.token == token)
    };
    match sent {
        Ok(message_id) => {
            let marked = modify_call(calls, &job.call, |call| {
                if mine(call)
                    && let Some(claim) = call.post_call.job.as_mut()
                {
                    claim.enqueued_at = Some(now);
                    claim.message_id = Some(message_id.clone());
                }
            })
            .await;
            if let Err(e) = marked {
                // The job is on the queue; a stale claim only lets a late duplicate
                // callback send it again, which the worker absorbs.
                warn!(error = %e, "post-call job sent but not marked on the call");
            }
            info!(message_id, "post-call job enqueued");
            Ok(Requested::Enqueued { message_id })
        }
        Err(e) => {
            let released = modify_call(calls, &job.call, |call| {
                if mine(call) {
                    call.post_call.job = None;
                }
            })
            .await;
            if let Err(release) = released {
                warn!(error = %release, "could not release the post-call claim; it expires by itself");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> PostcallJob {
        PostcallJob::new(
            OrgId::parse("acme").expect("org"),
            CallSid::parse(&format!("CA{}", "a".repeat(32))).expect("call"),
            RecordingSid::parse(&format!("RE{}", "b".repeat(32))).expect("recording"),
        )
    }

    #[test]
    fn jobs_round_trip_and_refuse_strangers() {
        let body = job().to_body().expect("body");
        assert_eq!(PostcallJob::parse(&body), Ok(job()));
        let future = body.replace("\"v\":1", "\"v\":2");
        assert_eq!(PostcallJob::parse(&future), Err(JobError::Version(2)));
        for bad in [
            "",
            "null",
            "{}",
            "{\"v\":1}",
            &body.replace("acme", "../x"),
            &body.replace('}', ",\"extra\":1}"),
            &"x".repeat(5000),
        ] {
            assert!(PostcallJob::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_job_without_a_recording_round_trips_and_has_its_own_key() {
        let job = PostcallJob::without_recording(job().org, job().call);
        let body = job.to_body().expect("body");
        assert!(!body.contains("recording"), "{body}");
        assert_eq!(PostcallJob::parse(&body), Ok(job.clone()));
        assert_eq!(job.key(), NO_RECORDING_KEY);
    }

    #[test]
    fn errors_never_quote_the_body() {
        let secret = "{\"v\":1,\"org\":\"sk-secret-value\"";
        let err = PostcallJob::parse(secret)
            .expect_err("truncated")
            .to_string();
        assert!(!err.contains("sk-secret"), "{err}");
    }
}
