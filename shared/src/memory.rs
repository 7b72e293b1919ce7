//! In-memory adapters of the queue and webhook-ledger ports, for the in-process benchmark and
//! for tests that exercise a handler without AWS. They keep the same semantics as the real
//! adapters (a replayed webhook id is refused; a retryable id is let in once more).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::job::SyncJob;
use crate::queue::{JobQueue, QueueError};
use crate::store::{StoreError, WebhookClaim, WebhookLedger};

/// A queue that keeps what it is sent, or refuses everything when `unavailable`.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Vec<SyncJob>>,
    pub unavailable: bool,
}

impl MemoryQueue {
    pub fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    pub fn jobs(&self) -> Vec<SyncJob> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().map(|j| j.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        if let Ok(mut j) = self.jobs.lock() {
            j.clear();
        }
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &SyncJob) -> Result<(), QueueError> {
        if self.unavailable {
            return Err(QueueError("the queue is unavailable".into()));
        }
        self.jobs
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?
            .push(job.clone());
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Accepted,
    Retry,
}

#[derive(Default)]
pub struct MemoryLedger {
    seen: Mutex<HashMap<String, Seen>>,
}

#[async_trait]
impl WebhookLedger for MemoryLedger {
    async fn claim_webhook(
        &self,
        source: &str,
        webhook_id: &str,
    ) -> Result<WebhookClaim, StoreError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?;
        let key = format!("{source}#{webhook_id}");
        match seen.get(&key) {
            Some(Seen::Accepted) => Ok(WebhookClaim::Replayed),
            _ => {
                seen.insert(key, Seen::Accepted);
                Ok(WebhookClaim::New)
            }
        }
    }

    async fn allow_retry(&self, source: &str, webhook_id: &str) -> Result<(), StoreError> {
        self.seen
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?
            .insert(format!("{source}#{webhook_id}"), Seen::Retry);
        Ok(())
    }

    async fn retry_allowed(&self, source: &str, webhook_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .seen
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?
            .get(&format!("{source}#{webhook_id}"))
            == Some(&Seen::Retry))
    }
}
