//! The state store in memory, with the DynamoDB adapter's conditions
//! (`store/dynamo.rs`, `impl StateStore for DynamoStore`) checked against an injected clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::clock::Clock;
use crate::domain::contact::ContactKey;
use crate::ports::store::{ContactState, JobClaim, Lease, StateStore, StoreError};

/// Same as DynamoDB's: a completed job outlives the DLQ's 14 days.
const COMPLETED_JOB_TTL_SECS: i64 = 15 * 86_400;

/// A `J#<job id>` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobMarker {
    InProgress {
        lock_until_ms: i64,
        expires_at_secs: i64,
    },
    Complete {
        outcome: String,
        expires_at_secs: i64,
    },
}

/// A `C#…`/`STATE` item: the state and the lease on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactItem {
    pub state: ContactState,
    /// `(lease_owner, lease_until)`.
    pub lease: Option<(String, i64)>,
}

/// [`StateStore`] in memory. Every call is logged (`claim <job>`, `lease <contact> <owner>`,
/// …), so a test can check the order in which jobs touched the store.
pub struct MemoryStateStore {
    clock: Arc<dyn Clock>,
    jobs: Mutex<HashMap<String, JobMarker>>,
    contacts: Mutex<HashMap<String, ContactItem>>,
    log: Mutex<Vec<String>>,
}

impl MemoryStateStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            jobs: Mutex::default(),
            contacts: Mutex::default(),
            log: Mutex::default(),
        }
    }

    pub fn job(&self, job_id: &str) -> Option<JobMarker> {
        self.jobs.lock().unwrap().get(job_id).cloned()
    }

    pub fn contact(&self, key: &ContactKey) -> Option<ContactItem> {
        self.contacts
            .lock()
            .unwrap()
            .get(&key.storage_id())
            .cloned()
    }

    /// Puts a state as `import_states` does: no lease, no condition.
    pub fn put_state(&self, key: &ContactKey, state: ContactState) {
        self.contacts
            .lock()
            .unwrap()
            .entry(key.storage_id())
            .or_default()
            .state = state;
    }

    /// Ingress numbering a webhook for the contact (`WebhookLedger::arrived` on DynamoDB: an
    /// `ADD` on the state item, which no state save names).
    pub fn count_webhook(&self, key: &ContactKey) -> i64 {
        let mut contacts = self.contacts.lock().unwrap();
        let state = &mut contacts.entry(key.storage_id()).or_default().state;
        let n = state.arrived_seq.unwrap_or(0) + 1;
        state.arrived_seq = Some(n);
        n
    }

    /// Another invocation's lease on the contact, as if it were working on it.
    pub fn hold_lease(&self, key: &ContactKey, owner: &str, until_ms: i64) {
        self.contacts
            .lock()
            .unwrap()
            .entry(key.storage_id())
            .or_default()
            .lease = Some((owner.to_string(), until_ms));
    }

    /// Every call so far, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn note(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn claim_job(&self, job_id: &str, lock_until_ms: i64) -> Result<JobClaim, StoreError> {
        self.note(format!("claim {job_id}"));
        let (now, now_s) = (self.now_ms(), self.now_ms() / 1000);
        let mut jobs = self.jobs.lock().unwrap();
        // attribute_not_exists(pk) OR (#s = :inprogress AND lock_until < :now) OR expires_at < :now_s
        let free = match jobs.get(job_id) {
            None => true,
            Some(JobMarker::InProgress {
                lock_until_ms,
                expires_at_secs,
            }) => *lock_until_ms < now || *expires_at_secs < now_s,
            Some(JobMarker::Complete {
                expires_at_secs, ..
            }) => *expires_at_secs < now_s,
        };
        if !free {
            return Ok(match jobs.get(job_id) {
                Some(JobMarker::Complete { outcome, .. }) => JobClaim::Completed {
                    outcome: outcome.clone(),
                },
                _ => JobClaim::InProgress,
            });
        }
        jobs.insert(
            job_id.to_string(),
            JobMarker::InProgress {
                lock_until_ms,
                expires_at_secs: lock_until_ms / 1000 + 86_400,
            },
        );
        Ok(JobClaim::Acquired)
    }

    async fn complete_job(&self, job_id: &str, outcome: &str) -> Result<(), StoreError> {
        self.note(format!("complete {job_id} {outcome}"));
        // An unconditional UpdateItem: it creates the item if it is gone.
        let expires_at_secs = self.now_ms() / 1000 + COMPLETED_JOB_TTL_SECS;
        self.jobs.lock().unwrap().insert(
            job_id.to_string(),
            JobMarker::Complete {
                outcome: outcome.to_string(),
                expires_at_secs,
            },
        );
        Ok(())
    }

    async fn release_job(&self, job_id: &str) -> Result<(), StoreError> {
        self.note(format!("release {job_id}"));
        let mut jobs = self.jobs.lock().unwrap();
        // #s = :inprogress; a failed condition is fine.
        if matches!(jobs.get(job_id), Some(JobMarker::InProgress { .. })) {
            jobs.remove(job_id);
        }
        Ok(())
    }

    async fn lease_contact(
        &self,
        key: &ContactKey,
        owner: &str,
        until_ms: i64,
    ) -> Result<Lease, StoreError> {
        self.note(format!("lease {key} {owner}"));
        let now = self.now_ms();
        let mut contacts = self.contacts.lock().unwrap();
        let id = key.storage_id();
        // attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner
        let free = match contacts.get(&id).and_then(|c| c.lease.as_ref()) {
            None => true,
            Some((held_by, held_until)) => *held_until < now || held_by == owner,
        };
        if !free {
            return Ok(Lease::Busy);
        }
        // UpdateItem creates the item when there is none: the state is then the default one.
        let item = contacts.entry(id).or_default();
        item.lease = Some((owner.to_string(), until_ms));
        Ok(Lease::Held(item.state.clone()))
    }

    async fn save_contact(
        &self,
        key: &ContactKey,
        owner: &str,
        state: &ContactState,
    ) -> Result<(), StoreError> {
        self.note(format!("save {key} {owner}"));
        let now = self.now_ms();
        let mut contacts = self.contacts.lock().unwrap();
        // lease_owner = :owner
        match contacts.get_mut(&key.storage_id()) {
            Some(item) if item.lease.as_ref().is_some_and(|(o, _)| o == owner) => {
                item.state = ContactState {
                    updated_at_ms: Some(now),
                    arrived_seq: item.state.arrived_seq,
                    ..state.clone()
                };
                item.lease = None;
                Ok(())
            }
            _ => Err(StoreError::permanent(format!(
                "the lease on {key} was lost before the state was saved"
            ))),
        }
    }

    async fn release_contact(&self, key: &ContactKey, owner: &str) -> Result<(), StoreError> {
        self.note(format!("release {key} {owner}"));
        let mut contacts = self.contacts.lock().unwrap();
        // lease_owner = :owner; a failed condition is fine.
        if let Some(item) = contacts.get_mut(&key.storage_id())
            && item.lease.as_ref().is_some_and(|(o, _)| o == owner)
        {
            item.lease = None;
        }
        Ok(())
    }

    async fn contact_state(&self, key: &ContactKey) -> Result<Option<ContactState>, StoreError> {
        // Any item, even one that only ever held a lease, reads as a state.
        Ok(self
            .contacts
            .lock()
            .unwrap()
            .get(&key.storage_id())
            .map(|c| c.state.clone()))
    }
}

#[async_trait]
impl crate::ports::store::SinkIndex for MemoryStateStore {
    async fn placed_as(
        &self,
        sink: crate::domain::sink::SinkId,
        id: i64,
    ) -> Result<Vec<ContactKey>, StoreError> {
        let contacts = self.contacts.lock().unwrap();
        let mut found: Vec<ContactKey> = contacts
            .iter()
            .filter(|(_, item)| item.state.sink(sink).id == Some(id))
            .filter_map(|(storage_id, _)| ContactKey::from_storage_id(storage_id))
            .collect();
        found.sort_by_key(ContactKey::storage_id);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sink::SinkId;
    use crate::ports::store::SinkState;
    use crate::testing::clock::ManualClock;

    fn store() -> (Arc<ManualClock>, MemoryStateStore) {
        let clock = Arc::new(ManualClock::default());
        (clock.clone(), MemoryStateStore::new(clock))
    }

    #[tokio::test]
    async fn a_job_is_claimed_once_until_its_lock_runs_out_and_once_completed_never_again() {
        let (clock, s) = store();
        let until = clock.now_ms() + 1_000;
        assert_eq!(s.claim_job("j", until).await.unwrap(), JobClaim::Acquired);
        assert_eq!(s.claim_job("j", until).await.unwrap(), JobClaim::InProgress);
        clock.advance(std::time::Duration::from_millis(1_001));
        assert_eq!(
            s.claim_job("j", until + 5_000).await.unwrap(),
            JobClaim::Acquired
        );
        s.complete_job("j", "synced").await.unwrap();
        s.release_job("j").await.unwrap();
        assert_eq!(
            s.claim_job("j", until + 10_000).await.unwrap(),
            JobClaim::Completed {
                outcome: "synced".into()
            },
            "a release does not undo a completion"
        );
    }

    #[tokio::test]
    async fn a_lease_upserts_the_state_and_only_its_owner_saves_or_releases_it() {
        let (clock, s) = store();
        let key = ContactKey::ghl("loc", "c1");
        let until = clock.now_ms() + 1_000;
        assert_eq!(s.contact_state(&key).await.unwrap(), None);
        assert!(matches!(
            s.lease_contact(&key, "a", until).await.unwrap(),
            Lease::Held(_)
        ));
        assert_eq!(
            s.contact_state(&key).await.unwrap(),
            Some(ContactState::default())
        );
        assert_eq!(
            s.lease_contact(&key, "b", until).await.unwrap(),
            Lease::Busy
        );
        assert!(
            s.save_contact(&key, "b", &ContactState::default())
                .await
                .is_err()
        );
        s.release_contact(&key, "b").await.unwrap();
        assert_eq!(
            s.lease_contact(&key, "b", until).await.unwrap(),
            Lease::Busy
        );
        let saved = ContactState::default().with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(7),
                ..SinkState::default()
            },
        );
        s.save_contact(&key, "a", &saved).await.unwrap();
        let state = s.contact_state(&key).await.unwrap().unwrap();
        assert_eq!(state.sink(SinkId::CallTools).id, Some(7));
        assert_eq!(state.updated_at_ms, Some(clock.now_ms()));
        assert!(matches!(
            s.lease_contact(&key, "b", until).await.unwrap(),
            Lease::Held(_)
        ));
        clock.advance(std::time::Duration::from_millis(1_001));
        assert!(
            matches!(
                s.lease_contact(&key, "c", until + 5_000).await.unwrap(),
                Lease::Held(_)
            ),
            "an expired lease is taken"
        );
    }
}
