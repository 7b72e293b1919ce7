//! SQS adapter of the queue ports.

pub mod charset;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::aws::sqs::charset::replace_refused;
use crate::domain::clock::now_ms;
use crate::domain::job::SyncJob;
use crate::ports::queue::{Deferred, JobQueue, Parked, QueueError, Redelivery};

/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// SQS's longest `DelaySeconds`: 15 minutes.
const MAX_DELAY_SECS: u64 = 900;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: Option<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dlq_url,
        }
    }
}

/// A `String` attribute; SQS refuses the whole message for one character outside its set in
/// an attribute value, so those become U+FFFD.
fn text(v: impl AsRef<str>) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(replace_refused(v.as_ref()))
        .build()
        .expect("data type and value are set")
}

/// The codes with which SQS refuses one message for what it is (its characters, its size):
/// sending it again cannot help. Anything else is about the queue or the service.
fn refuses_the_message(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidMessageContents" | "InvalidParameterValue")
    )
}

/// The refusal's code as a metric dimension (`reason`): SQS's known codes, never free text.
fn code_dimension(code: &str) -> &'static str {
    match code {
        "InvalidMessageContents" => "InvalidMessageContents",
        "InvalidParameterValue" => "InvalidParameterValue",
        _ => "other",
    }
}

impl SqsQueue {
    /// Parks a job SQS refused alone in the dead-letter queue, with the refusal as its reason,
    /// so neither it nor the rest of its batch blocks the sender. The body's characters are
    /// already inside SQS's set ([`SyncJob::to_json`]); what SQS still refused is replaced, so
    /// the DLQ takes what the queue did not.
    async fn park_refused(&self, job: &SyncJob, code: &str) -> Result<(), QueueError> {
        let code = code_dimension(code);
        metrics::counter!("jobs_refused_by_queue", "source" => job.source().as_str(), "reason" => code)
            .increment(1);
        tracing::error!(
            job_id = job.id(),
            source = job.source().as_str(),
            code,
            "SQS refused the job; it is parked alone in the dead-letter queue"
        );
        let parked = Parked {
            job_id: job.id().to_string(),
            source: job.source().to_string(),
            contact: job.contact_key().to_string(),
            reason: format!("queue_refused: {code}"),
            http_status: None,
            response_excerpt: String::new(),
            replay_count: 0,
        };
        self.park(&replace_refused(&job.to_json()), &parked).await
    }
}

fn number(v: impl ToString) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(v.to_string())
        .build()
        .expect("data type and value are set")
}

#[async_trait]
impl JobQueue for SqsQueue {
    /// `SendMessage`; a job SQS refuses for what it is is parked instead ([`Self::park_refused`]).
    async fn enqueue(&self, job: &SyncJob) -> Result<(), QueueError> {
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job.to_json())
            .message_attributes("source", text(job.source().as_str()))
            .message_attributes("job_id", text(job.id()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if refuses_the_message(e.code()) => {
                let code = e.code().unwrap_or_default().to_string();
                self.park_refused(job, &code).await
            }
            Err(e) => Err(QueueError(crate::support::error_line::error_line(&e))),
        }
    }

    /// `SendMessageBatch`, ten at a time. An entry SQS refuses for what it is (a sender fault)
    /// is parked alone; other refused entries are sent once more, then reported.
    async fn enqueue_batch(&self, jobs: &[SyncJob]) -> Result<(), QueueError> {
        for chunk in jobs.chunks(10) {
            let mut pending: Vec<(usize, &SyncJob)> = chunk.iter().enumerate().collect();
            for attempt in 0..2 {
                let entries = pending
                    .iter()
                    .map(|(i, job)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("m{i}"))
                            .message_body(job.to_json())
                            .message_attributes("source", text(job.source().as_str()))
                            .message_attributes("job_id", text(job.id()))
                            .build()
                            .map_err(|e| QueueError(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| QueueError(crate::support::error_line::error_line(&e)))?;
                let mut failed = Vec::new();
                for f in out.failed() {
                    let Some(&(_, job)) = pending.iter().find(|(i, _)| format!("m{i}") == f.id())
                    else {
                        continue;
                    };
                    if f.sender_fault() {
                        self.park_refused(job, f.code()).await?;
                    } else {
                        failed.push(f.id().to_string());
                    }
                }
                pending.retain(|(i, _)| failed.contains(&format!("m{i}")));
                if pending.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(QueueError(format!(
                        "{} of {} messages refused by SendMessageBatch: {:?}",
                        pending.len(),
                        chunk.len(),
                        out.failed()
                            .first()
                            .map(|f| f.message().unwrap_or_default().to_string())
                    )));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Redelivery for SqsQueue {
    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.as_secs().clamp(0, MAX_VISIBILITY_SECS) as i32)
            .send()
            .await
            .map_err(|e| QueueError(crate::support::error_line::error_line(&e)))?;
        Ok(())
    }

    async fn defer(
        &self,
        body: &str,
        deferred: &Deferred,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay.as_secs().clamp(1, MAX_DELAY_SECS) as i32)
            .message_attributes("source", text(&deferred.source))
            .message_attributes("job_id", text(&deferred.job_id))
            .message_attributes("deferred_since_ms", number(deferred.deferred_since_ms))
            .message_attributes("deferrals", number(deferred.deferrals));
        if deferred.replay_count > 0 {
            req = req.message_attributes("replay_count", number(deferred.replay_count));
        }
        req.send()
            .await
            .map_err(|e| QueueError(crate::support::error_line::error_line(&e)))?;
        Ok(())
    }

    async fn park(&self, body: &str, parked: &Parked) -> Result<(), QueueError> {
        let dlq = self
            .dlq_url
            .as_deref()
            .ok_or_else(|| QueueError("LEADSYNC_DLQ_URL is not configured".into()))?;
        let mut req = self
            .client
            .send_message()
            .queue_url(dlq)
            .message_body(body)
            .message_attributes("job_id", text(&parked.job_id))
            .message_attributes("source", text(&parked.source))
            .message_attributes("contact", text(&parked.contact))
            .message_attributes("reason", text(&parked.reason))
            .message_attributes("parked_at_ms", number(now_ms()));
        if let Some(status) = parked.http_status {
            req = req.message_attributes("http_status", number(status));
        }
        if parked.replay_count > 0 {
            req = req.message_attributes("replay_count", number(parked.replay_count));
        }
        if !parked.response_excerpt.is_empty() {
            req = req.message_attributes("response_excerpt", text(&parked.response_excerpt));
        }
        req.send()
            .await
            .map_err(|e| QueueError(crate::support::error_line::error_line(&e)))?;
        Ok(())
    }
}
/// Messages on a queue: visible, in flight, or delayed (deferred jobs). The error is one line.
pub async fn queue_depth(sqs: &Client, queue_url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| {
            format!(
                "SQS GetQueueAttributes: {}",
                crate::support::error_line::error_line(&e)
            )
        })?;
    Ok(out
        .attributes
        .unwrap_or_default()
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}
