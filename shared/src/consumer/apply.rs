//! One job, start to end: idempotency claim, contact lease, the contact read back from its
//! source (`sources::ContactSource`), handed to that source's sink, and the new state saved.

use std::time::Duration;

use crate::consumer::Consumer;
use crate::domain::contact::{Contact, ContactKey};
use crate::domain::job::SyncJob;
use crate::domain::outcome::{Outcome, SkipReason};
use crate::domain::rules::Membership;
use crate::ports::store::store_retry;
use crate::ports::store::{ContactState, JobClaim, Lease};
use crate::sinks::{Sink, SinkContext};
use crate::sources::{ContactSource, Read, ReadContext};

/// How long a job waits when another invocation is working on the same contact or job.
const BUSY_RETRY: Duration = Duration::from_secs(2);

impl Consumer {
    /// Processes one job and leaves the stores consistent whatever the outcome. `retried`: an
    /// earlier attempt may have written without saving ([`SinkContext::retried`]).
    pub async fn process(&self, job: &SyncJob, deadline_ms: i64, retried: bool) -> Outcome {
        let source = job.source();
        let Some(reader) = self.sources.get(&source).cloned() else {
            return Outcome::Park {
                reason: format!(
                    "a {source} job, but no {source} source is configured ({}); replay it once it is",
                    source.enabled_by()
                ),
                status: None,
                excerpt: String::new(),
            };
        };
        let Some(sink) = self.sinks.get(&source).cloned() else {
            return Outcome::Park {
                reason: format!(
                    "a {source} job, but no sink is configured for {source} contacts ({}); replay it once it is",
                    source.enabled_by()
                ),
                status: None,
                excerpt: String::new(),
            };
        };
        let key = job.contact_key();
        // One consistent read of the saved state, which only moves forward, settles what it
        // can before anything is claimed or leased.
        if reader.settles_by_state() {
            match self.store.contact_state(&key).await {
                Ok(Some(state)) => {
                    if let Some(skip) = reader.settled_by_state(job, &state) {
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
        let outcome = self
            .leased(&key, job_id, deadline_ms, |state| {
                self.apply_leased(reader.as_ref(), sink.as_ref(), &key, job, state, retried)
            })
            .await;
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

    /// Under the lease: the source reads the contact, the sink brings itself in line. Returns the
    /// outcome and, when something was applied or learned, the state to save.
    async fn apply_leased(
        &self,
        reader: &dyn ContactSource,
        sink: &dyn Sink,
        key: &ContactKey,
        job: &SyncJob,
        state: ContactState,
        retried: bool,
    ) -> (Outcome, Option<ContactState>) {
        let sink_ctx = self.sink_context(job.id(), retried);
        // Checked again under the lease: the state may have moved since the first look.
        if let Some(skip) = reader.settled_by_state(job, &state) {
            return (Outcome::Skipped(skip), None);
        }
        let ctx = ReadContext {
            rules: &self.rules,
            rules_fingerprint: &self.rules_fingerprint,
            default_region: &self.default_region,
            clock: self.clock.as_ref(),
        };
        match reader.read(job, state, &ctx).await {
            Read::Found {
                contact,
                wanted,
                state,
                counts_created,
            } => {
                let state = if job.audits_sinks() {
                    match sink.observe(state).await {
                        Ok(observed) => observed,
                        Err(outcome) => return (outcome, None),
                    }
                } else {
                    state
                };
                let first_sync = state.sink(sink.id()).id.is_none();
                let (outcome, saved) = self
                    .sync_contact(sink, key, contact, state, wanted, &sink_ctx)
                    .await;
                let source = job.source().as_str();
                record_do_not_call(source, &outcome);
                if let Some(origin) = counts_created
                    && first_sync
                    && matches!(outcome, Outcome::Synced { .. })
                {
                    metrics::counter!("contacts_created", "source" => source, "origin" => origin.as_str())
                        .increment(1);
                }
                (outcome, saved)
            }
            Read::Gone(state) if job.audits_sinks() => {
                // Deleted in the source too: what the sink no longer holds is forgotten even when
                // nothing is withdrawn, so the audit does not find the same drift every day.
                let observed = match sink.observe(state.clone()).await {
                    Ok(observed) => observed,
                    Err(outcome) => return (outcome, None),
                };
                let (outcome, saved) = sink.gone(key, observed.clone(), &sink_ctx).await;
                let saved = saved.or_else(|| (observed != state).then_some(observed));
                (outcome, saved)
            }
            Read::Gone(state) => sink.gone(key, state, &sink_ctx).await,
            Read::Settled(outcome, saved) => (outcome, saved),
        }
    }

    /// Hands the contact as the source has it now to the sink. A stale read (older than what was
    /// applied) goes no further.
    async fn sync_contact(
        &self,
        sink: &dyn Sink,
        key: &ContactKey,
        contact: Contact,
        state: ContactState,
        wanted: Membership,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        if contact.is_older_than(state.version_ms) {
            return (Outcome::Skipped(SkipReason::Stale), None);
        }
        sink.sync(key, &contact, &wanted, state, ctx).await
    }

    fn sink_context<'a>(&'a self, job_id: &'a str, retried: bool) -> SinkContext<'a> {
        SinkContext {
            rules: &self.rules,
            default_region: &self.default_region,
            retried,
            job_id,
        }
    }
}

/// Counts the jobs whose DND kept the contact from being dialable, by where the DND came from:
/// written to CallTools (`synced`) or not created there (`skipped`, also in `jobs_skipped`).
fn record_do_not_call(source: &'static str, outcome: &Outcome) {
    let dnc = match outcome {
        Outcome::Synced {
            do_not_call: Some(dnc),
            ..
        }
        | Outcome::Skipped(SkipReason::DoNotCall(dnc)) => *dnc,
        _ => return,
    };
    metrics::counter!("dnd_applied", "source" => source, "origin" => dnc.as_str()).increment(1);
}
