use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hotline_core::ports::{Queue, QueueMessage, StoreResult};
use rusqlite::params;

use super::db::{Db, unavailable};

/// How a local queue behaves; the same knobs as an SQS queue with a redrive policy.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub visibility_timeout: Duration,
    /// After this many receives a message goes to `dead_letter` on its next receive.
    pub max_receives: u32,
    pub dead_letter: Option<String>,
}

/// A durable queue in SQLite with SQS semantics: visibility timeouts, redelivery,
/// receive counts, fresh receipts per receive, and dead-lettering.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    config: QueueConfig,
}

/// How often a waiting `receive` looks again. Queue traffic is post-call work, where
/// 50 ms of extra latency is invisible.
const POLL: Duration = Duration::from_millis(50);

impl SqliteQueue {
    pub fn new(db: Db, config: QueueConfig) -> Self {
        Self { db, config }
    }

    /// Its dead-letter queue, with the same visibility timeout and no further redrive.
    pub fn dead_letter_queue(&self) -> Option<Self> {
        let name = self.config.dead_letter.clone()?;
        Some(Self::new(
            self.db.clone(),
            QueueConfig {
                name,
                visibility_timeout: self.config.visibility_timeout,
                max_receives: u32::MAX,
                dead_letter: None,
            },
        ))
    }

    async fn receive_now(&self, max: u32) -> StoreResult<Vec<QueueMessage>> {
        let config = self.config.clone();
        self.db
            .run(move |conn| {
                let now = Utc::now().timestamp_millis();
                let visible_until = now
                    + i64::try_from(config.visibility_timeout.as_millis()).unwrap_or(i64::MAX);
                let tx = conn.transaction().map_err(unavailable)?;
                let candidates: Vec<(String, String, u32)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, body, receive_count FROM queue_messages
                             WHERE queue = ?1 AND visible_at_ms <= ?2
                             ORDER BY sent_at_ms, id LIMIT ?3",
                        )
                        .map_err(unavailable)?;
                    // Fetch a few extra: some may be dead-lettered instead of delivered.
                    let rows = stmt
                        .query_map(params![config.name, now, i64::from(max) * 2 + 8], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .map_err(unavailable)?;
                    rows.collect::<Result<_, _>>().map_err(unavailable)?
                };
                let mut out = Vec::new();
                for (id, body, count) in candidates {
                    if out.len() >= max as usize {
                        break;
                    }
                    if count >= config.max_receives
                        && let Some(dlq) = &config.dead_letter
                    {
                        tx.execute(
                            "UPDATE queue_messages
                             SET queue = ?2, receive_count = 0, receipt = NULL, visible_at_ms = ?3
                             WHERE id = ?1",
                            params![id, dlq, now],
                        )
                        .map_err(unavailable)?;
                        continue;
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    let receive_count = count.saturating_add(1);
                    tx.execute(
                        "UPDATE queue_messages SET receive_count = ?2, receipt = ?3, visible_at_ms = ?4
                         WHERE id = ?1",
                        params![id, receive_count, receipt, visible_until],
                    )
                    .map_err(unavailable)?;
                    out.push(QueueMessage {
                        id,
                        receipt,
                        body,
                        receive_count,
                    });
                }
                tx.commit().map_err(unavailable)?;
                Ok(out)
            })
            .await
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (queue, body, msg_id) = (self.config.name.clone(), body.to_owned(), id.clone());
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let now = Utc::now().timestamp_millis();
                conn.execute(
                    "INSERT INTO queue_messages (id, queue, body, sent_at_ms, visible_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![msg_id, queue, body, now, now.saturating_add(delay_ms)],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await?;
        Ok(id)
    }

    async fn receive(&self, max: u32, wait: Duration) -> StoreResult<Vec<QueueMessage>> {
        let max = max.clamp(1, 10);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let batch = self.receive_now(max).await?;
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(batch);
            }
            tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        let receipt = receipt.to_owned();
        self.db
            .run(move |conn| {
                // A stale receipt matches nothing, and that is not an error (as on SQS).
                conn.execute(
                    "DELETE FROM queue_messages WHERE receipt = ?1",
                    params![receipt],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}
