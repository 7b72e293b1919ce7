//! One job, start to end: idempotency claim, contact lease, version guard, re-read from the
//! source, rules, change detection, CallTools upsert, new state.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::{Map, Value, json};

use crate::calltools::ResolvedMembership;
use crate::calltools::upsert::{ContactWrite, MembershipChange};
use crate::consumer::Consumer;
use crate::consumer::outcome::{Outcome, SkipReason};
use crate::consumer::target::{Policy, Target, target};
use crate::consumer::unconfirmed::{marked, may_have_created};
use crate::contact::{Contact, ContactKey, DoNotCall, PhoneError, normalize_phone, source_hash};
use crate::job::{GhlContactJob, GhlTrigger, JobVersion, Origin, SyncJob};
use crate::rules::{Membership, OnTagRemoved};
use crate::store::{ContactState, JobClaim, Lease};

/// How long a job waits when another invocation is working on the same contact or job.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// How much later than a job's arrival a source read must have started to count as including
/// its change: ingress and consumer run on different hosts, whose clocks may differ a little.
const CLOCK_MARGIN_MS: i64 = 1_000;

impl Consumer {
    /// What CallTools should hold for the contact: the rules' buckets and tags resolved to ids,
    /// under this deployment's tag-removal and do-not-disturb policies.
    async fn target(
        &self,
        do_not_call: Option<DoNotCall>,
        state: &ContactState,
        wanted: &Membership,
    ) -> Result<Target, Outcome> {
        let resolved = self.sink.resolve(wanted).await?;
        let policy = Policy {
            on_tag_removed: self.rules.on_tag_removed,
            on_dnd: self.rules.on_dnd,
        };
        Ok(target(do_not_call, state, resolved, policy))
    }

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
        let read_at_ms = crate::clock::now_ms();
        match self.ghl.get_contact(&j.contact_id).await {
            Ok(Some(contact)) => {
                let state = ContactState {
                    read_at_ms: Some(read_at_ms),
                    source_hash: Some(source_hash(&contact, &self.rules_fingerprint)),
                    webhook_ms: newest_webhook(j, &state),
                    ..state
                };
                let wanted = self.rules.membership_for(&contact.tags);
                let first_sync = state.calltools_id.is_none();
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

    /// Brings CallTools to `wanted` for this contact (the rules' membership for it).
    pub(crate) async fn sync_contact(
        &self,
        contact: Contact,
        state: ContactState,
        wanted: Membership,
    ) -> (Outcome, Option<ContactState>) {
        if is_older(contact.version_ms, state.version_ms) {
            return (Outcome::Skipped(SkipReason::Stale), None);
        }
        let state = match self.settle_unconfirmed_create(state).await {
            Ok(s) => s,
            Err(e) => return (e.into(), None),
        };
        let version_ms = contact.version_ms.max(state.version_ms);
        let seen = ContactState {
            version_ms,
            ..state.clone()
        };
        if wanted.is_empty() && state.calltools_id.is_none() {
            return (Outcome::Skipped(SkipReason::NotInAnyRule), Some(seen));
        }
        let phone = match normalize_phone(contact.phone.as_deref(), &self.default_region) {
            Ok(p) => p,
            Err(e) => {
                let reason = match e {
                    PhoneError::Missing => SkipReason::NoPhone,
                    _ => SkipReason::InvalidPhone,
                };
                // Nothing is written for a contact without a dialable phone, but one already in
                // CallTools must still leave the dialer when DND or the rules say so.
                return match state.calltools_id {
                    Some(id) if contact.do_not_call.is_some() || wanted.is_empty() => {
                        self.withdraw(id, &contact, seen, wanted, reason).await
                    }
                    _ => (Outcome::Skipped(reason), Some(seen)),
                };
            }
        };
        let planned = match self.target(contact.do_not_call, &state, &wanted).await {
            Ok(t) => t,
            Err(outcome) => return (outcome, None),
        };
        let seen = ContactState {
            do_not_call: contact.do_not_call,
            ..seen
        };
        let planned = match planned {
            Target::NotCreated(dnc) => {
                return (Outcome::Skipped(SkipReason::DoNotCall(dnc)), Some(seen));
            }
            Target::Write(planned) => planned,
        };
        let target = planned.membership;
        let mut fields = self.sink.fields(&contact, &phone);
        let hash = write_hash(&fields, &target, planned.do_not_contact == Some(true));
        if state.calltools_id.is_some() && state.sink_hash.as_deref() == Some(hash.as_str()) {
            return (Outcome::Skipped(SkipReason::Unchanged), Some(seen));
        }
        // In the fields, so a create, a PATCH and a merge all carry it in their one call.
        if let Some(flag) = planned.do_not_contact {
            fields.insert("do_not_contact".into(), Value::Bool(flag));
        }
        let base = if state.calltools_id.is_some() {
            ResolvedMembership {
                buckets: state.buckets.clone(),
                tags: state.tags.clone(),
            }
        } else {
            ResolvedMembership::default()
        };
        let write = ContactWrite {
            known_id: state.calltools_id,
            phone,
            fields,
            change: change_between(&base, &target),
            target: target.clone(),
        };
        match self.sink.upsert(&write).await {
            Ok(applied) => {
                metrics::counter!("sink_calls", "sink" => "calltools")
                    .increment(u64::from(applied.calls));
                let new_state = ContactState {
                    version_ms,
                    calltools_id: Some(applied.calltools_id),
                    sink_hash: Some(hash),
                    buckets: target.buckets,
                    tags: target.tags,
                    updated_at_ms: None,
                    do_not_call: contact.do_not_call,
                    unconfirmed_create_phone: None,
                    ..state
                };
                (
                    Outcome::Synced {
                        calltools_id: applied.calltools_id,
                        calls: applied.calls,
                        do_not_call: contact.do_not_call,
                    },
                    Some(new_state),
                )
            }
            Err(e) if write.known_id.is_none() && may_have_created(&e) => {
                (e.into(), Some(marked(state, &write.phone)))
            }
            Err(e) => (e.into(), None),
        }
    }

    /// Takes a mapped contact that has no dialable phone any more out of what DND and the rules
    /// no longer allow: removals and the `do_not_contact` flag only, never an addition, never
    /// its fields. With nothing to take away it is skipped for `reason`.
    async fn withdraw(
        &self,
        id: i64,
        contact: &Contact,
        state: ContactState,
        wanted: Membership,
        reason: SkipReason,
    ) -> (Outcome, Option<ContactState>) {
        let planned = match self.target(contact.do_not_call, &state, &wanted).await {
            Ok(t) => t,
            Err(outcome) => return (outcome, None),
        };
        let planned = match planned {
            Target::Write(planned) => planned,
            Target::NotCreated(dnc) => return (Outcome::Skipped(SkipReason::DoNotCall(dnc)), None),
        };
        let current = ResolvedMembership {
            buckets: state.buckets.clone(),
            tags: state.tags.clone(),
        };
        let change = MembershipChange {
            add_buckets: BTreeSet::new(),
            add_tags: BTreeSet::new(),
            ..change_between(&current, &planned.membership)
        };
        let mut fields = Map::new();
        if planned.do_not_contact == Some(true) && state.do_not_call.is_none() {
            fields.insert("do_not_contact".into(), Value::Bool(true));
        }
        let seen = ContactState {
            do_not_call: contact.do_not_call.or(state.do_not_call),
            ..state.clone()
        };
        if change.is_empty() && fields.is_empty() {
            return (Outcome::Skipped(reason), Some(seen));
        }
        match self.sink.remove_membership(id, &fields, &change).await {
            Ok(calls) => {
                metrics::counter!("sink_calls", "sink" => "calltools").increment(u64::from(calls));
                let new_state = ContactState {
                    buckets: &state.buckets - &change.remove_buckets,
                    tags: &state.tags - &change.remove_tags,
                    // A phone that comes back is written in full.
                    sink_hash: None,
                    ..seen
                };
                (
                    Outcome::Synced {
                        calltools_id: id,
                        calls,
                        do_not_call: contact.do_not_call,
                    },
                    Some(new_state),
                )
            }
            Err(e) => (e.into(), None),
        }
    }

    /// The contact was deleted in the source. Nothing is ever deleted in CallTools; with
    /// `remove_from_bucket` it leaves the rule buckets, as if its tags had been removed. Its
    /// source hash is forgotten either way: a contact GHL restores (or shows again) unchanged
    /// must look changed to the backfill, or nothing would ever put it back.
    async fn contact_gone(&self, leased: ContactState) -> (Outcome, Option<ContactState>) {
        // The contact cannot be read any more: a lost create is looked up by its saved phone.
        let state = match self.settle_unconfirmed_create(leased.clone()).await {
            Ok(s) => s,
            Err(e) => return (e.into(), None),
        };
        let forgotten = ContactState {
            source_hash: None,
            ..state.clone()
        };
        let learned = (forgotten != leased).then(|| forgotten.clone());
        let Some(id) = state.calltools_id else {
            return (Outcome::Skipped(SkipReason::Deleted), learned);
        };
        if self.rules.on_tag_removed == OnTagRemoved::Keep
            || (state.buckets.is_empty() && state.tags.is_empty())
        {
            return (Outcome::Skipped(SkipReason::Deleted), learned);
        }
        let change = MembershipChange {
            remove_buckets: state.buckets.clone(),
            remove_tags: state.tags.clone(),
            ..Default::default()
        };
        match self.sink.remove_membership(id, &Map::new(), &change).await {
            Ok(calls) => {
                metrics::counter!("sink_calls", "sink" => "calltools").increment(u64::from(calls));
                let new_state = ContactState {
                    buckets: BTreeSet::new(),
                    tags: BTreeSet::new(),
                    sink_hash: None,
                    source_hash: None,
                    ..state
                };
                (
                    Outcome::Synced {
                        calltools_id: id,
                        calls,
                        do_not_call: None,
                    },
                    Some(new_state),
                )
            }
            Err(e) => (e.into(), None),
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

fn change_between(from: &ResolvedMembership, to: &ResolvedMembership) -> MembershipChange {
    MembershipChange {
        add_buckets: &to.buckets - &from.buckets,
        remove_buckets: &from.buckets - &to.buckets,
        add_tags: &to.tags - &from.tags,
        remove_tags: &from.tags - &to.tags,
    }
}

/// A digest of what a CallTools write would leave behind (fields + membership + whether it
/// flags `do_not_contact`). serde_json's maps are ordered, so equal writes hash equally.
fn write_hash(fields: &Map<String, Value>, target: &ResolvedMembership, flagged: bool) -> String {
    let mut canonical = json!({"fields": fields, "buckets": target.buckets, "tags": target.tags});
    // Only when set, so the hashes saved before DND was handled stay valid; lifting DND changes
    // the hash back, so it is written.
    if flagged {
        canonical["do_not_contact"] = Value::Bool(true);
    }
    let canonical = canonical.to_string();
    let d = digest::digest(&digest::SHA256, canonical.as_bytes());
    hex::encode(&d.as_ref()[..16])
}

/// Every store failure is retried, as before; whether DynamoDB called it transient is logged, so
/// a run of `transient: false` (a refused permission, an invalid request) stands out.
pub(crate) fn store_retry(e: crate::store::StoreError) -> Outcome {
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
    fn the_write_hash_changes_with_the_do_not_contact_flag_so_lifting_dnd_writes_again() {
        let fields = Map::new();
        let none = ResolvedMembership::default();
        assert_ne!(
            write_hash(&fields, &none, true),
            write_hash(&fields, &none, false)
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
