use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use hotline_core::ports::{Queue, QueueMessage, StoreError, StoreResult};

use super::sdk_error;

/// A standard SQS queue. Visibility timeout and redrive (dead-letter) policy are the
/// queue's own attributes, set by the template (or [`SqsQueue::create`] in tests).
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a queue and its dead-letter queue, redriving after `max_receives`.
    pub async fn create(
        client: Client,
        name: &str,
        visibility_timeout: Duration,
        max_receives: u32,
    ) -> StoreResult<(Self, Self)> {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(sdk_error)?
            .queue_url
            .ok_or_else(|| StoreError::Unavailable("SQS returned no queue URL".into()))?;
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sdk_error)?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| StoreError::Unavailable("SQS returned no queue ARN".into()))?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receives,
        });
        let url = client
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout.as_secs().to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(sdk_error)?
            .queue_url
            .ok_or_else(|| StoreError::Unavailable("SQS returned no queue URL".into()))?;
        Ok((Self::new(client.clone(), url), Self::new(client, dlq_url)))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay.as_secs().min(900)).unwrap_or(900))
            .send()
            .await
            .map_err(sdk_error)?;
        out.message_id
            .ok_or_else(|| StoreError::Unavailable("SQS returned no message id".into()))
    }

    async fn receive(&self, max: u32, wait: Duration) -> StoreResult<Vec<QueueMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sdk_error)?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(QueueMessage {
                    id: m
                        .message_id
                        .ok_or_else(|| StoreError::Corrupt("SQS message without id".into()))?,
                    receipt: m
                        .receipt_handle
                        .ok_or_else(|| StoreError::Corrupt("SQS message without receipt".into()))?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
