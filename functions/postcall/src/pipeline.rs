//! Running one call's post-call job: take the lease, run each unfinished stage in order,
//! checkpoint each on the call record, give the lease back.

use std::time::Duration;

use tokio::time::Instant;

use chrono::Utc;
use hotline_core::model::{Direction, Stage, StageState, StageStatus};
use hotline_core::postcall::PostcallJob;
use tracing::{info, warn};

use crate::deps::Deps;
use crate::job::{JobCx, JobError, Retry, StageOutcome};
use crate::stages;

/// How long before the function's deadline a job stops: enough to checkpoint the
/// interrupted stage as `retrying` and give the lease back.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Runs `job`, delivered for the `receive_count`-th time, with no deadline.
pub async fn run_job(deps: &Deps, job: &PostcallJob, receive_count: u32) -> Result<(), JobError> {
    run_job_before(deps, job, receive_count, None).await
}

/// Runs `job` until [`DEADLINE_MARGIN`] before `deadline` (the Lambda's): a stage still
/// running then is abandoned and recorded as `retrying`, and the lease is freed, so the
/// redelivery resumes at once instead of waiting out a lease nobody holds.
pub async fn run_job_before(
    deps: &Deps,
    job: &PostcallJob,
    receive_count: u32,
    deadline: Option<Instant>,
) -> Result<(), JobError> {
    let stop_at = deadline.map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d));
    let calls = deps.calls.as_ref();
    let call = calls
        .get_call(&job.call)
        .await?
        .ok_or_else(|| JobError::CallNotFound(job.call.clone()))?;
    if call.org != job.org {
        return Err(JobError::WrongOrg(job.org.clone()));
    }
    if call.post_call.completed_at.is_some() {
        info!("post-call already complete; duplicate delivery dropped");
        return Ok(());
    }
    let org = deps
        .directory
        .get_org(&call.org)
        .await?
        .ok_or_else(|| JobError::OrgNotFound(call.org.clone()))?;
    let mut agent = deps.directory.get_agent(&call.org, &call.agent).await?;
    // The number's own analyzers (the organization's defaults when the API bought it)
    // run beside the agent's.
    let line = match call.direction {
        Direction::Inbound => &call.to,
        Direction::OutboundApi | Direction::OutboundDial => &call.from,
    };
    if let Some(agent) = agent.as_mut()
        && let Some(line) = line.phone()
        && let Some(number) = deps
            .directory
            .get_number(line)
            .await?
            .filter(|n| n.org == call.org)
    {
        agent.analyzers = number.analyzers_with(&agent.analyzers);
    }
    let mut cx = JobCx {
        deps,
        org,
        agent,
        call,
    };

    take_lease(&mut cx).await?;
    wait_for_call_end(&mut cx).await?;

    for stage in Stage::ALL {
        if cx.call.post_call.finished(stage) {
            continue;
        }
        let outcome = match stop_at {
            None => stages::run(stage, &mut cx).await,
            // A stage's effects are idempotent and checkpointed, so one cut short is
            // simply run again by the redelivery.
            Some(at) => tokio::time::timeout_at(at, stages::run(stage, &mut cx))
                .await
                .unwrap_or_else(|_| {
                    Err(Retry(
                        "stopped before the function's deadline; the next delivery resumes here"
                            .into(),
                    ))
                }),
        };
        let now = Utc::now();
        match outcome {
            Ok(outcome) => {
                let (status, error, detail) = match outcome {
                    StageOutcome::Done(d) => (StageStatus::Done, None, Some(d)),
                    StageOutcome::Skipped(d) => (StageStatus::Skipped, None, Some(d)),
                    StageOutcome::Failed(e) => (StageStatus::Failed, Some(e), None),
                };
                let checkpoint = StageState {
                    status,
                    at: now,
                    error: error.clone(),
                    detail: detail.clone(),
                };
                cx.update(|c| {
                    c.post_call.stages.insert(stage, checkpoint.clone());
                    if let Some(e) = &error {
                        c.post_call.last_error = Some(format!("{stage}: {e}"));
                    }
                })
                .await?;
                match error {
                    Some(e) => warn!(%stage, error = %e, "post-call stage failed for good"),
                    None => {
                        info!(%stage, ?status, detail = detail.as_deref().unwrap_or_default(), "post-call stage finished");
                    }
                }
                if deps.crash_after.as_ref().is_some_and(|crash| crash(stage)) {
                    return Err(JobError::Crashed(stage));
                }
            }
            Err(Retry(message)) => {
                let dead = receive_count >= deps.config.max_receives;
                let error = format!("{stage}: {message}");
                warn!(%stage, error = %message, receive_count, dead_lettered = dead, "post-call stage will be retried");
                let recorded = cx
                    .update(|c| {
                        c.post_call.stages.insert(
                            stage,
                            StageState {
                                status: StageStatus::Retrying,
                                at: now,
                                error: Some(message.clone()),
                                detail: None,
                            },
                        );
                        c.post_call.last_error = Some(error.clone());
                        c.post_call.dead_lettered = dead;
                        c.post_call.lease_until = None;
                    })
                    .await;
                if let Err(e) = recorded {
                    warn!(error = %e, "could not record the stage's failure");
                }
                return Err(JobError::Stage { stage, message });
            }
        }
    }
    cx.update(|c| {
        c.post_call.completed_at = Some(Utc::now());
        c.post_call.lease_until = None;
        c.post_call.dead_lettered = false;
    })
    .await?;
    info!(attempts = cx.call.post_call.attempts, "post-call complete");
    Ok(())
}

/// One delivery at a time per call: a second delivery of the same job (a duplicate, or
/// a redelivery while a slow run still goes on) waits for the next visibility timeout.
async fn take_lease(cx: &mut JobCx<'_>) -> Result<(), JobError> {
    let now = Utc::now();
    if let Some(until) = cx.call.post_call.lease_until
        && until > now
    {
        return Err(JobError::Leased(until));
    }
    let lease = chrono::Duration::from_std(cx.deps.config.lease).unwrap_or(chrono::Duration::MAX);
    let until = now + lease;
    cx.update(|c| {
        let free = c.post_call.lease_until.is_none_or(|u| u <= now);
        if free {
            c.post_call.lease_until = Some(until);
            c.post_call.attempts += 1;
        }
    })
    .await?;
    // A concurrent delivery may have taken it between our read and our write.
    if cx.call.post_call.lease_until != Some(until) {
        return Err(JobError::Leased(
            cx.call.post_call.lease_until.unwrap_or(until),
        ));
    }
    Ok(())
}

/// Twilio reports the recording once the call is over, but the stream node may still be
/// writing the call's last turns and outcome: give it a moment.
async fn wait_for_call_end(cx: &mut JobCx<'_>) -> Result<(), JobError> {
    let deadline = Instant::now() + cx.deps.config.call_settle;
    while cx.call.ended_at.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(call) = cx.deps.calls.get_call(&cx.call.sid).await? {
            cx.call = call;
        }
    }
    if cx.call.ended_at.is_none() {
        warn!("the call has no end time yet; post-call goes on with what is stored");
    }
    Ok(())
}
