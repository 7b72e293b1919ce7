//! The job queue: ingress enqueues; the consumer delays transient failures and parks permanent
//! ones in the dead-letter queue with their reason.

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::job::SyncJob;

#[derive(Debug, Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Why a job was parked: kept as message attributes on the dead-letter message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub job_id: String,
    pub source: String,
    pub contact: String,
    pub reason: String,
    pub http_status: Option<u16>,
    pub response_excerpt: String,
    /// How many times `leadsync dlq replay` has sent this job back already (0 if never), so a
    /// job that fails again after a replay keeps its history.
    pub replay_count: u32,
}

/// A job sent back as a new message because it could not be attempted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub job_id: String,
    pub source: String,
    pub replay_count: u32,
    /// When the job was first deferred: the deferral budget counts from here.
    pub deferred_since_ms: i64,
    /// Deferrals so far, this one included.
    pub deferrals: u32,
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// `Ok` once the job is on the queue, or — when SQS refuses this very message — parked alone
    /// in the dead-letter queue with the refusal as its reason; `Err` when the queue is out of
    /// reach, so the sender can be asked to retry.
    async fn enqueue(&self, job: &SyncJob) -> Result<(), QueueError>;
    /// Enqueues many jobs, each as [`JobQueue::enqueue`] does: a refused one never fails the
    /// others. `Err` when any could not be sent (some may have been).
    async fn enqueue_batch(&self, jobs: &[SyncJob]) -> Result<(), QueueError> {
        for job in jobs {
            self.enqueue(job).await?;
        }
        Ok(())
    }
}

#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Hides the message for `delay`, after which it is delivered again.
    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError>;
    /// Sends the job body back to the main queue as a new message, visible after `delay` (at
    /// most SQS's 15 minutes); the caller then lets the old one be deleted.
    async fn defer(
        &self,
        body: &str,
        deferred: &Deferred,
        delay: Duration,
    ) -> Result<(), QueueError>;
    /// Sends the job body to the dead-letter queue with its reason.
    async fn park(&self, body: &str, parked: &Parked) -> Result<(), QueueError>;
}
