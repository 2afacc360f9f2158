//! The Lambda's view: a batch of SQS messages in, the failed ones out
//! (`ReportBatchItemFailures`). Jobs of one batch run side by side; one failing job never
//! holds back or fails another.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use hotline_core::postcall::PostcallJob;
use tracing::{Instrument, error, info_span, warn};

use crate::deps::Deps;
use crate::job::JobError;
use crate::pipeline::run_job;

/// A failed message without a `messageId` cannot be named in `batchItemFailures`; the
/// only safe answer is to fail the whole batch so nothing is deleted unfinished.
#[derive(Debug, thiserror::Error)]
#[error("a failed message has no messageId; failing the batch")]
pub struct UnnamedFailure;

pub async fn handle_batch(
    deps: &Deps,
    event: SqsEvent,
) -> Result<SqsBatchResponse, UnnamedFailure> {
    let results = join_all(event.records.iter().map(|m| handle_message(deps, m))).await;
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
async fn handle_message(deps: &Deps, message: &SqsMessage) -> bool {
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
    match run_job(deps, &job, receive_count)
        .instrument(span.clone())
        .await
    {
        Ok(()) => true,
        Err(e) => {
            span.in_scope(|| match &e {
                JobError::Leased(_) => warn!(error = %e, "job busy elsewhere; will come back"),
                _ if receive_count >= deps.config.max_receives => {
                    error!(error = %e, "post-call job failed on its last receive; it goes to the dead-letter queue");
                }
                _ => warn!(error = %e, "post-call job failed; will be retried"),
            });
            false
        }
    }
}
