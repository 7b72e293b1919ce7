//! The consumer's redelivery port in memory: every call recorded, each kind able to fail.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};

use crate::ports::queue::{Deferred, Parked, QueueError, Redelivery};

/// One call the consumer made on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redelivered {
    /// The message was hidden for `delay` and comes back as the same message.
    RetryLater {
        receipt_handle: String,
        delay: Duration,
    },
    /// The body was sent again as a new message.
    Deferred {
        body: String,
        deferred: Deferred,
        delay: Duration,
    },
    /// The body went to the dead-letter queue.
    Parked { body: String, parked: Parked },
}

/// Records [`Redelivery`] calls; a failing call is recorded too (it was attempted).
#[derive(Default)]
pub struct MemoryRedelivery {
    calls: Mutex<Vec<Redelivered>>,
    fail_retries: AtomicBool,
    fail_defers: AtomicBool,
    fail_parks: AtomicBool,
}

impl MemoryRedelivery {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Redelivered> {
        self.calls.lock().unwrap().clone()
    }

    pub fn retries(&self) -> Vec<Duration> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Redelivered::RetryLater { delay, .. } => Some(delay),
                _ => None,
            })
            .collect()
    }

    pub fn deferrals(&self) -> Vec<Deferred> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Redelivered::Deferred { deferred, .. } => Some(deferred),
                _ => None,
            })
            .collect()
    }

    pub fn parked(&self) -> Vec<Parked> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Redelivered::Parked { parked, .. } => Some(parked),
                _ => None,
            })
            .collect()
    }

    pub fn fail_retries(&self, fail: bool) {
        self.fail_retries.store(fail, Ordering::SeqCst);
    }

    pub fn fail_defers(&self, fail: bool) {
        self.fail_defers.store(fail, Ordering::SeqCst);
    }

    pub fn fail_parks(&self, fail: bool) {
        self.fail_parks.store(fail, Ordering::SeqCst);
    }

    /// The message SQS delivers for the last deferral: its body, with the attributes
    /// `SqsQueue::defer` sets, received for the first time.
    pub fn last_deferred_message(&self) -> Option<SqsMessage> {
        self.calls().into_iter().rev().find_map(|c| match c {
            Redelivered::Deferred { body, deferred, .. } => {
                let mut msg = SqsMessage::default();
                msg.message_id = Some(format!(
                    "{}-deferred-{}",
                    deferred.job_id, deferred.deferrals
                ));
                msg.receipt_handle = Some(format!("rh-{}-{}", deferred.job_id, deferred.deferrals));
                msg.body = Some(body);
                msg.attributes
                    .insert("ApproximateReceiveCount".into(), "1".into());
                let mut number = |name: &str, value: i64| {
                    let mut a = SqsMessageAttribute::default();
                    a.data_type = Some("Number".into());
                    a.string_value = Some(value.to_string());
                    msg.message_attributes.insert(name.into(), a);
                };
                number("deferred_since_ms", deferred.deferred_since_ms);
                number("deferrals", i64::from(deferred.deferrals));
                if deferred.replay_count > 0 {
                    number("replay_count", i64::from(deferred.replay_count));
                }
                Some(msg)
            }
            _ => None,
        })
    }

    fn record(&self, call: Redelivered, fail: &AtomicBool) -> Result<(), QueueError> {
        self.calls.lock().unwrap().push(call);
        if fail.load(Ordering::SeqCst) {
            return Err(QueueError(
                "the queue is unavailable (MemoryRedelivery)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Redelivery for MemoryRedelivery {
    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        let call = Redelivered::RetryLater {
            receipt_handle: receipt_handle.to_string(),
            delay,
        };
        self.record(call, &self.fail_retries)
    }

    async fn defer(
        &self,
        body: &str,
        deferred: &Deferred,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let call = Redelivered::Deferred {
            body: body.to_string(),
            deferred: deferred.clone(),
            delay,
        };
        self.record(call, &self.fail_defers)
    }

    async fn park(&self, body: &str, parked: &Parked) -> Result<(), QueueError> {
        let call = Redelivered::Parked {
            body: body.to_string(),
            parked: parked.clone(),
        };
        self.record(call, &self.fail_parks)
    }
}
