//! One job, start to end: idempotency claim, contact lease, version guard, re-read from the
//! source, then the CallTools plan (`sinks::calltools::plan`) carried out, and the new state.

use std::time::Duration;

use crate::consumer::Consumer;
use crate::consumer::outcome::{Outcome, SkipReason};
use crate::domain::contact::{Contact, ContactKey, source_hash};
use crate::domain::job::{GhlContactJob, GhlTrigger, JobVersion, Origin, SyncJob};
use crate::domain::rules::Membership;
use crate::domain::sink::SinkId;
use crate::ports::store::{ContactState, JobClaim, Lease};
use crate::sinks::SinkContext;
use crate::sinks::calltools::plan::is_stale;

/// How long a job waits when another invocation is working on the same contact or job.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// How much later than a job's arrival a source read must have started to count as including
/// its change: ingress and consumer run on different hosts, whose clocks may differ a little.
const CLOCK_MARGIN_MS: i64 = 1_000;
/// The one sink the consumer writes today.
const CALLTOOLS: SinkId = SinkId::CallTools;

impl Consumer {
    /// Processes one job and leaves the stores consistent whatever the outcome.
    pub async fn process(&self, job: &SyncJob, deadline_ms: i64) -> Outcome {
        // Most of a burst for one GHL contact is stale or covered by a read already made. Both
        // follow from the saved state alone, which only moves forward, so one consistent read
        // settles them: no job claim, no lease, no source read.
        if let SyncJob::GhlContact(j) = job {
            match self.store.contact_state(&job.contact_key()).await {
                Ok(Some(state)) => {
                    if let Some(skip) = settled_by_state(j, &state) {
                        return Outcome::Skipped(skip);
                    }
                }
                Ok(None) => {}
                Err(e) => return store_retry(e),
            }
        }
        let job_id = job.id();
        match self.store.claim_job(job_id, deadline_ms).await {
            Ok(JobClaim::Acquired) => {}
            Ok(JobClaim::Completed { .. }) => return Outcome::Skipped(SkipReason::DuplicateJob),
            Ok(JobClaim::InProgress) => {
                return Outcome::Defer {
                    reason: "the job is in progress in another invocation".into(),
                    after: BUSY_RETRY,
                };
            }
            Err(e) => return store_retry(e),
        }
        let outcome = match job {
            SyncJob::GhlContact(j) => self.apply_ghl(j, deadline_ms).await,
            SyncJob::Meta(j) => self.apply_meta(j, deadline_ms).await,
        };
        let bookkeeping = if outcome.is_final() {
            self.store
                .complete_job(job_id, &outcome.marker_label())
                .await
        } else {
            // A failed job must not look done: its retry or replay has to run again.
            self.store.release_job(job_id).await
        };
        if let Err(e) = bookkeeping {
            // The effect (if any) happened; a redelivery is caught by the version/hash guard,
            // and an unreleased lock expires at the deadline.
            tracing::warn!(job_id, error = %e, "job marker not updated");
        }
        outcome
    }

    async fn apply_ghl(&self, j: &GhlContactJob, deadline_ms: i64) -> Outcome {
        let key = ContactKey::ghl(&j.location_id, &j.contact_id);
        self.leased(&key, &j.job_id, deadline_ms, |state| {
            self.apply_leased(j, state)
        })
        .await
    }

    /// Runs `work` holding the contact's lease, then saves the state it returns (or just
    /// releases the lease): jobs for one contact never run side by side.
    pub(crate) async fn leased<F, Fut>(
        &self,
        key: &ContactKey,
        job_id: &str,
        deadline_ms: i64,
        work: F,
    ) -> Outcome
    where
        F: FnOnce(ContactState) -> Fut,
        Fut: std::future::Future<Output = (Outcome, Option<ContactState>)>,
    {
        let state = match self.store.lease_contact(key, job_id, deadline_ms).await {
            Ok(Lease::Held(state)) => state,
            Ok(Lease::Busy) => {
                return Outcome::Defer {
                    reason: "another job holds this contact".into(),
                    after: BUSY_RETRY,
                };
            }
            Err(e) => return store_retry(e),
        };
        let (outcome, new_state) = work(state).await;
        let released = match &new_state {
            Some(s) => self.store.save_contact(key, job_id, s).await,
            None => self.store.release_contact(key, job_id).await,
        };
        match released {
            Ok(()) => outcome,
            // The CallTools write happened but its record did not: retrying re-derives the
            // same write and the mapping, so nothing is duplicated.
            Err(e) if new_state.is_some() => store_retry(e),
            Err(e) => {
                tracing::warn!(contact = %key, error = %e, "lease not released; it expires at the deadline");
                outcome
            }
        }
    }

    /// Decides and performs the sync while holding the contact's lease. Returns the outcome and,
    /// when something was applied or learned, the state to save.
    async fn apply_leased(
        &self,
        j: &GhlContactJob,
        state: ContactState,
    ) -> (Outcome, Option<ContactState>) {
        // Checked again under the lease: the state may have moved since the first look.
        if let Some(skip) = settled_by_state(j, &state) {
            return (Outcome::Skipped(skip), None);
        }
        if j.trigger == GhlTrigger::ContactDelete {
            return self.contact_gone(state).await;
        }
        let read_at_ms = self.clock.now().get();
        match self.ghl.get_contact(&j.contact_id).await {
            Ok(Some(contact)) => {
                let state = ContactState {
                    read_at_ms: Some(read_at_ms),
                    source_hash: Some(source_hash(&contact, &self.rules_fingerprint)),
                    webhook_ms: newest_webhook(j, &state),
                    ..state
                };
                let wanted = self.rules.membership_for(&contact.tags);
                let first_sync = state.sink(CALLTOOLS).id.is_none();
                let (outcome, saved) = self.sync_contact(contact, state, wanted).await;
                record_do_not_call(&outcome);
                if first_sync && matches!(outcome, Outcome::Synced { .. }) {
                    let origin = match j.trigger {
                        GhlTrigger::Backfill => Origin::Backfill,
                        _ => Origin::Webhook,
                    };
                    metrics::counter!("contacts_created", "source" => "ghl", "origin" => origin.as_str())
                        .increment(1);
                }
                (outcome, saved)
            }
            Ok(None) => self.contact_gone(state).await,
            Err(e) => (e.into(), None),
        }
    }

    /// Hands the contact as the source has it now to the sink. A stale read (older than what was
    /// applied) goes no further.
    pub(crate) async fn sync_contact(
        &self,
        contact: Contact,
        state: ContactState,
        wanted: Membership,
    ) -> (Outcome, Option<ContactState>) {
        if is_stale(&contact, &state) {
            return (Outcome::Skipped(SkipReason::Stale), None);
        }
        self.sink
            .sync(&contact, &wanted, state, &self.sink_context())
            .await
    }

    /// The contact was deleted in the source, or can no longer be read.
    async fn contact_gone(&self, leased: ContactState) -> (Outcome, Option<ContactState>) {
        self.sink.gone(leased, &self.sink_context()).await
    }

    fn sink_context(&self) -> SinkContext<'_> {
        SinkContext {
            rules: &self.rules,
            default_region: &self.default_region,
        }
    }
}

/// Counts the GHL jobs whose DND kept the contact from being dialable, by where the DND came
/// from: written to CallTools (`synced`) or not created there (`skipped`, also in `jobs_skipped`).
fn record_do_not_call(outcome: &Outcome) {
    let dnc = match outcome {
        Outcome::Synced {
            do_not_call: Some(dnc),
            ..
        }
        | Outcome::Skipped(SkipReason::DoNotCall(dnc)) => *dnc,
        _ => return,
    };
    metrics::counter!("dnd_applied", "source" => "ghl", "origin" => dnc.as_str()).increment(1);
}

fn is_older(candidate: Option<i64>, applied: Option<i64>) -> bool {
    matches!((candidate, applied), (Some(c), Some(a)) if c < a)
}

/// Whether the saved state alone settles the job: a version older than the one applied *on the
/// same clock* is stale (a webhook `timestamp` against the last applied webhook's, a backfill
/// snapshot's `dateUpdated` against the last applied read's); a job that arrived before the last
/// source read is covered by it (GHL sends a webhook after the change, so a read that started
/// later saw it; deletes are never read). Equal versions are never stale: GHL stamps webhooks in
/// whole seconds, so two changes in one second carry the same `timestamp`, and both are read.
fn settled_by_state(j: &GhlContactJob, state: &ContactState) -> Option<SkipReason> {
    let stale = match j.version() {
        Some(JobVersion::WebhookSent(ms)) => is_older(Some(ms), state.webhook_ms),
        Some(JobVersion::DateUpdated(ms)) => is_older(Some(ms), state.version_ms),
        None => false,
    };
    if stale {
        return Some(SkipReason::Stale);
    }
    (j.trigger != GhlTrigger::ContactDelete && is_covered(j.received_at_ms, state.read_at_ms))
        .then_some(SkipReason::Covered)
}

/// The webhook timestamp to remember once this job's read is applied: the newest seen.
fn newest_webhook(j: &GhlContactJob, state: &ContactState) -> Option<i64> {
    match j.version() {
        Some(JobVersion::WebhookSent(ms)) => Some(state.webhook_ms.map_or(ms, |w| w.max(ms))),
        _ => state.webhook_ms,
    }
}

fn is_covered(received_at_ms: i64, read_at_ms: Option<i64>) -> bool {
    read_at_ms.is_some_and(|read| read > received_at_ms.saturating_add(CLOCK_MARGIN_MS))
}

/// Every store failure is retried, as before; whether DynamoDB called it transient is logged, so
/// a run of `transient: false` (a refused permission, an invalid request) stands out.
pub(crate) fn store_retry(e: crate::ports::store::StoreError) -> Outcome {
    tracing::warn!(error = %e, transient = e.is_transient(), "state store call failed; the job is retried");
    Outcome::Retry {
        reason: e.to_string(),
        after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_started_after_the_job_arrived_covers_it() {
        assert!(is_covered(10_000, Some(10_000 + CLOCK_MARGIN_MS + 1)));
    }

    #[test]
    fn a_read_within_the_clock_margin_or_before_the_job_does_not() {
        assert!(!is_covered(10_000, Some(10_000 + CLOCK_MARGIN_MS)));
        assert!(!is_covered(10_000, Some(9_000)));
        assert!(!is_covered(10_000, None), "never read");
        assert!(!is_covered(i64::MAX, Some(i64::MAX)), "no overflow");
    }

    fn job(trigger: GhlTrigger, version_ms: Option<i64>) -> GhlContactJob {
        GhlContactJob {
            job_id: "j".into(),
            location_id: "L".into(),
            contact_id: "C".into(),
            trigger,
            version_ms,
            received_at_ms: 0,
            payload: String::new(),
        }
    }

    /// Applied: a read whose `dateUpdated` was 10.400 s, from a webhook stamped 10 s.
    fn applied() -> ContactState {
        ContactState {
            version_ms: Some(10_400),
            webhook_ms: Some(10_000),
            ..ContactState::default()
        }
    }

    #[test]
    fn a_webhook_in_the_same_second_as_the_applied_one_is_read_not_skipped() {
        let second = job(GhlTrigger::ContactUpdate, Some(10_000));
        assert_eq!(settled_by_state(&second, &applied()), None);
    }

    #[test]
    fn a_webhook_sent_before_the_applied_one_is_stale() {
        let older = job(GhlTrigger::ContactTagUpdate, Some(9_000));
        assert_eq!(
            settled_by_state(&older, &applied()),
            Some(SkipReason::Stale)
        );
    }

    #[test]
    fn a_webhook_is_never_compared_with_date_updated() {
        let only_reads = ContactState {
            version_ms: Some(50_000),
            ..ContactState::default()
        };
        let webhook = job(GhlTrigger::ContactUpdate, Some(10_000));
        assert_eq!(settled_by_state(&webhook, &only_reads), None);
    }

    #[test]
    fn a_backfill_snapshot_is_compared_with_date_updated_only() {
        let snapshot_before = job(GhlTrigger::Backfill, Some(10_399));
        assert_eq!(
            settled_by_state(&snapshot_before, &applied()),
            Some(SkipReason::Stale)
        );
        let snapshot_same = job(GhlTrigger::Backfill, Some(10_400));
        assert_eq!(settled_by_state(&snapshot_same, &applied()), None);
        let webhooks_only_later = ContactState {
            version_ms: Some(5_000),
            webhook_ms: Some(99_000),
            ..ContactState::default()
        };
        let snapshot = job(GhlTrigger::Backfill, Some(6_000));
        assert_eq!(settled_by_state(&snapshot, &webhooks_only_later), None);
    }

    #[test]
    fn the_newest_webhook_timestamp_is_remembered_and_a_backfill_leaves_it() {
        let state = applied();
        assert_eq!(
            newest_webhook(&job(GhlTrigger::ContactUpdate, Some(11_000)), &state),
            Some(11_000)
        );
        assert_eq!(
            newest_webhook(&job(GhlTrigger::ContactUpdate, Some(9_000)), &state),
            Some(10_000)
        );
        assert_eq!(
            newest_webhook(&job(GhlTrigger::Backfill, Some(20_000)), &state),
            Some(10_000)
        );
        assert_eq!(
            newest_webhook(
                &job(GhlTrigger::ContactCreate, Some(1)),
                &ContactState::default()
            ),
            Some(1)
        );
    }

    #[test]
    fn only_a_strictly_older_version_is_stale() {
        assert!(is_older(Some(1), Some(2)));
        assert!(!is_older(Some(2), Some(2)));
        assert!(!is_older(None, Some(2)));
        assert!(!is_older(Some(1), None));
    }
}
