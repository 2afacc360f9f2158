//! The Lambda's view: a batch of SQS messages in, the failed ones out
//! (`ReportBatchItemFailures`). Jobs of one batch run side by side; one failing job never
//! holds back or fails another.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use hotline_core::ports::modify_call_if;
use hotline_core::postcall::PostcallJob;
use tokio::time::Instant;
use tracing::{Instrument, error, info_span, warn};

use crate::deps::Deps;
use crate::job::JobError;
use crate::pipeline::run_job_before;

/// A failed message without a `messageId` cannot be named in `batchItemFailures`; the
/// only safe answer is to fail the whole batch so nothing is deleted unfinished.
#[derive(Debug, thiserror::Error)]
#[error("a failed message has no messageId; failing the batch")]
pub struct UnnamedFailure;

pub async fn handle_batch(
    deps: &Deps,
    event: SqsEvent,
) -> Result<SqsBatchResponse, UnnamedFailure> {
    handle_batch_before(deps, event, None).await
}

/// [`handle_batch`] for a function that must answer by `deadline` (the Lambda's): jobs
/// stop short of it and are left for redelivery (see [`crate::run_job_before`]).
pub async fn handle_batch_before(
    deps: &Deps,
    event: SqsEvent,
    deadline: Option<Instant>,
) -> Result<SqsBatchResponse, UnnamedFailure> {
    let results = join_all(
        event
            .records
            .iter()
            .map(|m| handle_message(deps, m, deadline)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, ok) in event.records.iter().zip(results) {
        if ok {
            continue;
        }
        let id = message.message_id.clone().ok_or(UnnamedFailure)?;
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

/// Runs one message's job; `false` leaves the message for redelivery.
async fn handle_message(deps: &Deps, message: &SqsMessage, deadline: Option<Instant>) -> bool {
    let receive_count: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let job = match PostcallJob::parse(message.body.as_deref().unwrap_or_default()) {
        Ok(job) => job,
        Err(e) => {
            // Left to fail until the queue dead-letters it: someone should look at it.
            error!(message_id, receive_count, error = %e, "not a post-call job");
            return false;
        }
    };
    let span = info_span!(
        "postcall",
        call_sid = %job.call,
        org = %job.org,
        message_id,
        receive_count
    );
    match run_job_before(deps, &job, receive_count, deadline)
        .instrument(span.clone())
        .await
    {
        Ok(()) => true,
        Err(e) => {
            let last = receive_count >= deps.config.max_receives;
            span.in_scope(|| match &e {
                _ if last => {
                    error!(error = %e, "post-call job failed on its last receive; it goes to the dead-letter queue");
                }
                JobError::Leased(_) => warn!(error = %e, "job busy elsewhere; will come back"),
                _ => warn!(error = %e, "post-call job failed; will be retried"),
            });
            if last {
                mark_dead_lettered(deps, &job, &e).instrument(span).await;
            }
            false
        }
    }
}

/// Whatever stopped the job on its last receive (a stage, the store, a lease held to
/// the end), the call says its job is in the dead-letter queue, unless the job finished
/// after all (another delivery) or the call is not this job's to mark.
async fn mark_dead_lettered(deps: &Deps, job: &PostcallJob, error: &JobError) {
    if matches!(error, JobError::CallNotFound(_) | JobError::WrongOrg(_)) {
        return;
    }
    let marked = modify_call_if(deps.calls.as_ref(), &job.call, |c| {
        let mark =
            c.org == job.org && c.post_call.completed_at.is_none() && !c.post_call.dead_lettered;
        if mark {
            c.post_call.dead_lettered = true;
            if c.post_call.last_error.is_none() {
                c.post_call.last_error = Some(error.to_string());
            }
        }
        mark
    })
    .await;
    if let Err(e) = marked {
        warn!(error = %e, "could not mark the call dead-lettered");
    }
}
