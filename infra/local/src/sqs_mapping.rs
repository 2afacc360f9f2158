//! A local stand-in for a Lambda SQS event source mapping: poll the queue, hand batches
//! to the function as a real `SQSEvent`, delete what succeeded and leave the rest to
//! come back after the visibility timeout (and, past the receive limit, go to the
//! dead-letter queue) — the `ReportBatchItemFailures` contract.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hotline_core::ports::{Queue, QueueMessage};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A worker function as Lambda runs it: a batch in, the failed items out; an `Err`
/// fails the whole batch.
pub type SqsHandler = Arc<
    dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = Result<SqsBatchResponse, String>> + Send>>
        + Send
        + Sync,
>;

#[derive(Debug, Clone)]
pub struct Mapping {
    /// Shown as the records' `eventSourceARN`.
    pub queue_arn: String,
    /// Lambda's `BatchSize` (at most 10 per receive here).
    pub batch_size: u32,
}

/// The event Lambda would receive for these messages.
pub fn event(messages: &[QueueMessage], mapping: &Mapping) -> Result<SqsEvent, serde_json::Error> {
    let records: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.queue_arn,
                "awsRegion": "local",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
}

/// Runs one batch: returns how many messages were deleted.
pub async fn run_once(
    queue: &dyn Queue,
    handler: &SqsHandler,
    mapping: &Mapping,
    wait: Duration,
) -> Result<usize, hotline_core::ports::StoreError> {
    let messages = queue.receive(mapping.batch_size, wait).await?;
    if messages.is_empty() {
        return Ok(0);
    }
    let event = match event(&messages, mapping) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not build the SQS event");
            return Ok(0);
        }
    };
    let failed: HashSet<String> = match handler(event).await {
        Ok(resp) => resp
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        Err(e) => {
            warn!(error = %e, batch = messages.len(), "worker failed the whole batch");
            return Ok(0);
        }
    };
    let known: HashSet<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    if failed.iter().any(|id| !known.contains(id.as_str())) {
        // Lambda treats an unknown itemIdentifier as a failure of the whole batch.
        warn!("worker reported an unknown item; the whole batch will be retried");
        return Ok(0);
    }
    let mut deleted = 0;
    for m in messages.iter().filter(|m| !failed.contains(&m.id)) {
        queue.delete(&m.receipt).await?;
        deleted += 1;
    }
    if !failed.is_empty() {
        info!(failed = failed.len(), "items left for redelivery");
    }
    Ok(deleted)
}

/// Polls until `stop`, as the event source mapping does.
pub async fn run(
    queue: Arc<dyn Queue>,
    handler: SqsHandler,
    mapping: Mapping,
    stop: CancellationToken,
) {
    loop {
        let batch = tokio::select! {
            () = stop.cancelled() => return,
            r = run_once(queue.as_ref(), &handler, &mapping, Duration::from_secs(1)) => r,
        };
        if let Err(e) = batch {
            warn!(error = %e, "queue unavailable; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::BatchItemFailure;
    use hotline_store::local::{Db, QueueConfig, SqliteQueue};

    fn handler_failing(bodies: &'static [&'static str]) -> SqsHandler {
        Arc::new(move |event: SqsEvent| {
            Box::pin(async move {
                let mut resp = SqsBatchResponse::default();
                for r in event.records {
                    assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
                    if bodies.contains(&r.body.as_deref().unwrap_or_default()) {
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = r.message_id.unwrap_or_default();
                        resp.batch_item_failures.push(f);
                    }
                }
                Ok(resp)
            })
        })
    }

    fn queue(dir: &std::path::Path) -> (SqliteQueue, SqliteQueue) {
        let q = SqliteQueue::new(
            Db::open(&dir.join("q.sqlite3")).expect("db"),
            QueueConfig {
                name: "work".into(),
                visibility_timeout: Duration::from_millis(300),
                max_receives: 2,
                dead_letter: Some("work-dlq".into()),
            },
        );
        let dlq = q.dead_letter_queue().expect("dlq");
        (q, dlq)
    }

    const MAPPING: fn() -> Mapping = || Mapping {
        queue_arn: "arn:aws:sqs:local:000000000000:work".into(),
        batch_size: 10,
    };

    #[tokio::test]
    async fn successes_are_deleted_and_failures_come_back_then_dead_letter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (q, dlq) = queue(dir.path());
        for body in ["ok-1", "poison", "ok-2"] {
            q.send(body, Duration::ZERO).await.expect("send");
        }
        let handler = handler_failing(&["poison"]);
        let deleted = run_once(&q, &handler, &MAPPING(), Duration::from_secs(1))
            .await
            .expect("batch");
        assert_eq!(deleted, 2);
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(350)).await;
            run_once(&q, &handler, &MAPPING(), Duration::from_millis(200))
                .await
                .expect("batch");
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            q.receive(10, Duration::ZERO)
                .await
                .expect("receive")
                .is_empty()
        );
        let dead = dlq.receive(10, Duration::from_secs(1)).await.expect("dlq");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "poison");
    }

    #[tokio::test]
    async fn a_failed_invocation_retries_the_whole_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (q, _dlq) = queue(dir.path());
        q.send("a", Duration::ZERO).await.expect("send");
        q.send("b", Duration::ZERO).await.expect("send");
        let failing: SqsHandler = Arc::new(|_| Box::pin(async { Err("boom".to_owned()) }));
        assert_eq!(
            run_once(&q, &failing, &MAPPING(), Duration::from_secs(1))
                .await
                .expect("batch"),
            0
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        let again = q
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|m| m.receive_count == 2));
    }
}
