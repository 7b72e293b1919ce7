//! The SQS event source mapping, as Lambda runs it: pollers up to `MaximumConcurrency` receive
//! batches of `BatchSize`, invoke the consumer handler, and delete exactly the records that are
//! not in `batchItemFailures`. Failed records stay on the queue; SQS makes them visible again
//! after their visibility timeout (which the consumer sets) and moves them to the DLQ after
//! `maxReceiveCount` receives — moto implements that redrive itself.
//!
//! `MaximumBatchingWindowInSeconds` is kept too: once a poller holds a record it keeps receiving
//! until the window has passed or the batch is full, as Lambda does before invoking. Without it
//! the local consumer would start on a change's first webhook before its second had arrived,
//! where in AWS both land in one batch — and a test would pass on an order AWS does not keep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use leadsync::consumer::{Consumer, RecordResult};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::metrics::LocalMetrics;
use super::template::{REGION, Resources};

/// How often a poller inside its batching window asks the queue for more.
const WINDOW_POLL: Duration = Duration::from_millis(50);

pub struct EventSourceMapping {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    results: Arc<Mutex<Vec<RecordResult>>>,
}

impl EventSourceMapping {
    pub fn start(
        consumer: Arc<Consumer>,
        sqs: aws_sdk_sqs::Client,
        res: &Resources,
        metrics: Arc<LocalMetrics>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let results = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..res.max_concurrency.max(1))
            .map(|_| {
                let poller = Poller {
                    consumer: consumer.clone(),
                    sqs: sqs.clone(),
                    queue_url: res.queue_url.clone(),
                    queue_arn: res.queue_arn.clone(),
                    batch_size: res.batch_size.clamp(1, 10) as i32,
                    window: Duration::from_secs(res.batching_window_secs),
                    timeout: Duration::from_secs(res.consumer_timeout_secs),
                    results: results.clone(),
                    metrics: metrics.clone(),
                };
                tokio::spawn(poller.run(stopped.clone()))
            })
            .collect();
        Self {
            stop,
            tasks,
            results,
        }
    }

    /// Every record result so far, in the order their batches finished.
    pub fn results(&self) -> Vec<RecordResult> {
        self.results.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct Poller {
    consumer: Arc<Consumer>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    batch_size: i32,
    window: Duration,
    timeout: Duration,
    results: Arc<Mutex<Vec<RecordResult>>>,
    metrics: Arc<LocalMetrics>,
}

impl Poller {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            let received = tokio::select! {
                r = self.receive_batch() => r,
                _ = stopped.changed() => return,
            };
            match received {
                Ok(messages) if !messages.is_empty() => self.invoke(messages).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// One batch as Lambda's poller would hand it over: the first receive waits for a record,
    /// then more are gathered until the batching window has passed or the batch is full.
    async fn receive_batch(&self) -> Result<Vec<Message>, String> {
        let mut batch = self.receive(self.batch_size, 1).await?;
        if batch.is_empty() || self.window.is_zero() {
            return Ok(batch);
        }
        let window_ends = tokio::time::Instant::now() + self.window;
        while (batch.len() as i32) < self.batch_size {
            let left = window_ends.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.receive(self.batch_size - batch.len() as i32, 0).await {
                Ok(more) if !more.is_empty() => batch.extend(more),
                // Records already held must reach the handler: a failed top-up ends the window.
                Err(e) => {
                    tracing::warn!(error = %e, "receive within the batching window failed; invoking with the batch so far");
                    break;
                }
                Ok(_) => tokio::time::sleep(left.min(WINDOW_POLL)).await,
            }
        }
        Ok(batch)
    }

    async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<Message>, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| leadsync::support::error_line::error_line(&e))?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn invoke(&self, messages: Vec<Message>) {
        let records: Vec<SqsMessage> = messages.iter().map(|m| self.record(m)).collect();
        let deadline_ms = leadsync::domain::clock::now_ms() + self.timeout.as_millis() as i64;
        let results = self
            .metrics
            .consumer
            .invoke(self.consumer.process_batch(&records, deadline_ms))
            .await;
        // Logged before the deletes, as a Lambda's own logs are written before its event source
        // mapping deletes the batch: once a message is gone from the queue its result is here.
        // A failed record can still be received again (its visibility was changed during the
        // invocation) before this line: count a message's tries by its id, not by order.
        if let Ok(mut log) = self.results.lock() {
            log.extend(results.iter().cloned());
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = results
            .iter()
            .filter(|r| !r.failed)
            .filter_map(|r| {
                let handle = records
                    .iter()
                    .find(|m| m.message_id.as_deref() == Some(r.message_id.as_str()))?
                    .receipt_handle
                    .clone()?;
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!(
                        "d{}",
                        r.message_id
                            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                    ))
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty()
            && let Err(e) = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
        {
            tracing::warn!(error = %leadsync::support::error_line::error_line(&e), "delete after a successful batch failed; the records will be redelivered and found done");
        }
    }

    fn record(&self, m: &Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id.clone();
        r.receipt_handle = m.receipt_handle.clone();
        r.body = m.body.clone();
        r.md5_of_body = m.md5_of_body.clone();
        r.attributes = m
            .attributes
            .as_ref()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        r.message_attributes = m
            .message_attributes
            .as_ref()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| {
                        let mut attr = SqsMessageAttribute::default();
                        attr.string_value = v.string_value.clone();
                        attr.data_type = Some(v.data_type.clone());
                        (k.clone(), attr)
                    })
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default();
        r.event_source = Some("aws:sqs".into());
        r.event_source_arn = Some(self.queue_arn.clone());
        r.aws_region = Some(REGION.into());
        r
    }
}
