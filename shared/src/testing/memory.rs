//! In-memory adapters of the queue, webhook-ledger and event-log ports, for the in-process benchmark and
//! for tests that exercise a handler without AWS. They keep the same semantics as the real
//! adapters (a webhook id whose job is queued is a duplicate; one whose job is not is let in).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::clock::{WallClock, now_ms, now_secs};
use crate::domain::contact::ContactKey;
use crate::domain::job::SyncJob;
use crate::ports::events::{EventEntry, EventLog, LoggedEvent, Received, event_sort_key};
use crate::ports::queue::{JobQueue, QueueError};
use crate::ports::store::{StoreError, WebhookClaim, WebhookLedger};
use crate::testing::store::MemoryStateStore;

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
    Pending { received_at_ms: i64 },
    Accepted { received_at_ms: i64 },
}

pub struct MemoryLedger {
    seen: Mutex<HashMap<String, Seen>>,
    /// Where webhooks are numbered: on the contacts' state items, as on DynamoDB.
    states: Arc<MemoryStateStore>,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::numbering_on(Arc::new(MemoryStateStore::new(Arc::new(WallClock))))
    }
}

impl MemoryLedger {
    /// A ledger that numbers each contact's webhooks on `states`' items, so the consumer's
    /// lease reads the count back as it does from DynamoDB.
    pub fn numbering_on(states: Arc<MemoryStateStore>) -> Self {
        Self {
            seen: Mutex::default(),
            states,
        }
    }
}

#[async_trait]
impl WebhookLedger for MemoryLedger {
    async fn claim_webhook(
        &self,
        source: &str,
        webhook_id: &str,
        received_at_ms: i64,
    ) -> Result<WebhookClaim, StoreError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        // One hash lookup, like the one conditional write it stands in for.
        match seen.entry(format!("{source}#{webhook_id}")) {
            std::collections::hash_map::Entry::Occupied(mut e) => match *e.get() {
                Seen::Accepted { received_at_ms } => Ok(WebhookClaim::Replayed {
                    first_received_at_ms: Some(received_at_ms),
                }),
                Seen::Pending { .. } => {
                    e.insert(Seen::Pending { received_at_ms });
                    Ok(WebhookClaim::New)
                }
            },
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Seen::Pending { received_at_ms });
                Ok(WebhookClaim::New)
            }
        }
    }

    async fn mark_queued(&self, source: &str, webhook_id: &str) -> Result<(), StoreError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let entry = seen
            .entry(format!("{source}#{webhook_id}"))
            .or_insert(Seen::Pending { received_at_ms: 0 });
        if let Seen::Pending { received_at_ms } = *entry {
            *entry = Seen::Accepted { received_at_ms };
        }
        Ok(())
    }

    async fn arrived(&self, contact: &ContactKey) -> Result<i64, StoreError> {
        Ok(self.states.count_webhook(contact))
    }

    async fn retry_allowed(&self, source: &str, webhook_id: &str) -> Result<bool, StoreError> {
        Ok(matches!(
            self.seen
                .lock()
                .map_err(|_| StoreError::permanent("poisoned"))?
                .get(&format!("{source}#{webhook_id}")),
            Some(Seen::Pending { .. })
        ))
    }
}

/// An event log that only counts the entries ingress hands it: the benchmark's stub, where any
/// bookkeeping of the stub's own would be timed as ingress's (the real write is a DynamoDB call
/// outside the function's CPU).
#[derive(Default)]
pub struct CountingEventLog {
    received: std::sync::atomic::AtomicUsize,
}

impl CountingEventLog {
    /// Queued entries received so far.
    pub fn received(&self) -> usize {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl EventLog for CountingEventLog {
    async fn received(&self, _r: &Received<'_>) -> Result<(), StoreError> {
        self.received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn duplicate_delivery(&self, _original: &Received<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn record(&self, _entry: &EventEntry) -> Result<(), StoreError> {
        Ok(())
    }

    async fn for_contact(
        &self,
        _source: &str,
        _contact_id: &str,
        _limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        Ok(Vec::new())
    }
}

/// The event log in memory, keyed like the table: (contact storage id, sort key).
#[derive(Default)]
pub struct MemoryEventLog {
    entries: Mutex<BTreeMap<(String, String), LoggedEvent>>,
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn received(&self, r: &Received<'_>) -> Result<(), StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        entries
            .entry((
                r.contact.storage_id(),
                event_sort_key(r.received_at_ms, r.job_id),
            ))
            .or_insert_with(|| LoggedEvent::queued(r, now_ms()));
        Ok(())
    }

    async fn duplicate_delivery(&self, original: &Received<'_>) -> Result<(), StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let key = (
            original.contact.storage_id(),
            event_sort_key(original.received_at_ms, original.job_id),
        );
        if let Some(e) = entries.get_mut(&key) {
            e.duplicate_deliveries += 1;
        }
        Ok(())
    }

    async fn record(&self, entry: &EventEntry) -> Result<(), StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let key = (
            entry.contact.storage_id(),
            event_sort_key(entry.received_at_ms, &entry.job_id),
        );
        let merged = LoggedEvent::merged(entries.remove(&key), entry);
        entries.insert(key, merged);
        Ok(())
    }

    async fn for_contact(
        &self,
        source: &str,
        contact_id: &str,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let mut found: Vec<(&String, &LoggedEvent)> = entries
            .iter()
            .filter(|(_, e)| e.source == source && e.contact_id == contact_id)
            .filter(|(_, e)| e.expires_at > now_secs())
            .map(|((_, sk), e)| (sk, e))
            .collect();
        // Newest first, as the index query reads them.
        found.sort_by(|a, b| b.0.cmp(a.0));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::ContactKey;

    fn entry(job_id: &str, received_at_ms: i64, at_ms: i64) -> EventEntry {
        EventEntry {
            contact: ContactKey::ghl("loc", "c1"),
            job_id: job_id.into(),
            trigger: "ContactUpdate".into(),
            received_at_ms,
            outcome: "synced".into(),
            reason: None,
            http_status: None,
            calltools_id: Some(7),
            receive_count: 1,
            duplicate: false,
            keep_settled: false,
            at_ms,
        }
    }

    #[tokio::test]
    async fn the_event_log_reads_newest_first_without_expired_entries() {
        let log = MemoryEventLog::default();
        let now = now_ms();
        log.record(&entry("old", 1, now)).await.unwrap();
        log.record(&entry("new", 2, now)).await.unwrap();
        log.record(&entry("new", 2, now)).await.unwrap();
        log.record(&entry("expired", 3, 0)).await.unwrap();
        let found = log.for_contact("ghl", "c1", 10).await.unwrap();
        let ids: Vec<(&str, u32)> = found
            .iter()
            .map(|e| (e.job_id.as_str(), e.attempts))
            .collect();
        assert_eq!(ids, [("new", 2), ("old", 1)]);
        assert_eq!(log.for_contact("ghl", "c1", 1).await.unwrap().len(), 1);
        assert!(log.for_contact("ghl", "c2", 10).await.unwrap().is_empty());
    }
}

/// Breaker state shared by the breakers built on the same store, with the same compare-and-set
/// semantics as the DynamoDB adapter; `unreachable()` fails every call.
#[derive(Default)]
pub struct MemoryBreakerStore {
    states: Mutex<HashMap<String, crate::ports::breaker::Shared>>,
    unreachable: bool,
}

impl MemoryBreakerStore {
    pub fn unreachable() -> Self {
        Self {
            unreachable: true,
            ..Self::default()
        }
    }

    pub fn state(&self, name: &str) -> crate::ports::breaker::Shared {
        self.states
            .lock()
            .ok()
            .and_then(|s| s.get(name).cloned())
            .unwrap_or_default()
    }
}

#[async_trait]
impl crate::ports::breaker::BreakerStore for MemoryBreakerStore {
    async fn load_breaker(&self, name: &str) -> Result<crate::ports::breaker::Shared, StoreError> {
        if self.unreachable {
            return Err(StoreError::transient("unreachable"));
        }
        Ok(self.state(name))
    }

    async fn transition_breaker(
        &self,
        name: &str,
        expected_version: u64,
        next: &crate::ports::breaker::Shared,
    ) -> Result<bool, StoreError> {
        if self.unreachable {
            return Err(StoreError::transient("unreachable"));
        }
        let mut states = self
            .states
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let current = states.get(name).map_or(0, |s| s.version);
        if current != expected_version {
            return Ok(false);
        }
        states.insert(name.to_string(), next.clone());
        Ok(true)
    }
}

/// The placement method per CallTools account, kept in memory; `unreachable()` fails every call.
#[derive(Default)]
pub struct MemoryPlacementStore {
    methods: Mutex<HashMap<String, crate::sinks::calltools::placement::Placement>>,
    unreachable: bool,
}

impl MemoryPlacementStore {
    pub fn unreachable() -> Self {
        Self {
            unreachable: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl crate::sinks::calltools::placement::PlacementStore for MemoryPlacementStore {
    async fn placement(
        &self,
        account: &str,
    ) -> Result<Option<crate::sinks::calltools::placement::Placement>, StoreError> {
        if self.unreachable {
            return Err(StoreError::transient("unreachable"));
        }
        Ok(self
            .methods
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?
            .get(account)
            .copied())
    }

    async fn save_placement(
        &self,
        account: &str,
        method: crate::sinks::calltools::placement::Placement,
    ) -> Result<(), StoreError> {
        if self.unreachable {
            return Err(StoreError::transient("unreachable"));
        }
        self.methods
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?
            .insert(account.to_string(), method);
        Ok(())
    }
}
