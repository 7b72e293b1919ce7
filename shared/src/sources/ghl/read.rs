//! GoHighLevel as the consumer reads it: the contact re-read from the API (never the webhook's
//! body), what the rules want for its tags, and the two checks that let most of a burst for one
//! contact end on the saved state alone (stale, covered).

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::contact::source_hash;
use crate::domain::job::{Origin, SyncJob};
use crate::domain::outcome::{Outcome, SkipReason};
use crate::domain::source::Source;
use crate::ports::store::ContactState;
use crate::sources::ghl::client::GhlApi;
use crate::sources::ghl::job::{GhlContactJob, GhlTrigger, JobVersion};
use crate::sources::{ContactSource, Read, ReadContext, not_mine};

/// How much later than a job's arrival a source read must have started to count as including
/// its change: ingress and consumer run on different hosts, whose clocks may differ a little.
const CLOCK_MARGIN_MS: i64 = 1_000;

/// GoHighLevel contacts, read through its API.
pub struct GhlReader {
    api: Arc<dyn GhlApi>,
}

impl GhlReader {
    pub fn new(api: Arc<dyn GhlApi>) -> Self {
        Self { api }
    }
}

#[async_trait]
impl ContactSource for GhlReader {
    fn serves(&self) -> &'static [Source] {
        &[Source::Ghl]
    }

    /// Most of a burst for one GHL contact is stale or covered by a read already made. Both
    /// follow from the saved state alone, which only moves forward.
    fn settles_by_state(&self) -> bool {
        true
    }

    fn settled_by_state(&self, job: &SyncJob, state: &ContactState) -> Option<SkipReason> {
        settled_by_state(job.payload::<GhlContactJob>()?, state)
    }

    async fn read(&self, job: &SyncJob, state: ContactState, ctx: &ReadContext<'_>) -> Read {
        let Some(j) = job.payload::<GhlContactJob>() else {
            return not_mine("ghl", job);
        };
        if j.trigger == GhlTrigger::ContactDelete {
            return Read::Gone(state);
        }
        // Covered by the last applied read, but sent after the webhook that read remembers:
        // nothing to read, only its time to keep, so an older webhook arriving later is still
        // found stale.
        if is_covered_by_read(j, &state) {
            let state = ContactState {
                webhook_ms: newest_webhook(j, &state),
                ..state
            };
            return Read::Settled(Outcome::Skipped(SkipReason::Covered), Some(state));
        }
        let read_at_ms = ctx.clock.now().get();
        match self.api.get_contact(&j.contact_id).await {
            Ok(Some(contact)) => {
                let wanted = ctx.rules.membership_for(&contact.tags);
                let state = ContactState {
                    read_at_ms: Some(read_at_ms),
                    // The count as loaded, before this read began: every webhook it numbered
                    // came after its change was made, so this read includes those changes.
                    read_seq: state.arrived_seq.max(state.read_seq),
                    source_hash: Some(source_hash(&contact, ctx.rules_fingerprint)),
                    webhook_ms: newest_webhook(j, &state),
                    ..state
                };
                let origin = match j.trigger {
                    GhlTrigger::Backfill => Origin::Backfill,
                    GhlTrigger::Audit => Origin::Audit,
                    _ => Origin::Webhook,
                };
                Read::Found {
                    contact,
                    wanted,
                    state,
                    counts_created: Some(origin),
                }
            }
            Ok(None) => Read::Gone(state),
            Err(e) => Read::Settled(e.into(), None),
        }
    }
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
    // The audit's drift is in the sink: no read of the source covers it.
    if j.trigger == GhlTrigger::Audit {
        return None;
    }
    let stale = match j.version() {
        Some(JobVersion::WebhookSent(ms)) => is_older(Some(ms), state.webhook_ms),
        Some(JobVersion::DateUpdated(ms)) => is_older(Some(ms), state.version_ms),
        None => false,
    };
    if stale {
        return Some(SkipReason::Stale);
    }
    // A covered webhook newer than the one remembered is left to the read path, which keeps its
    // time under the lease; settled here, an older webhook arriving later would not be stale.
    let covered = is_covered_by_read(j, state) && newest_webhook(j, state) == state.webhook_ms;
    (j.trigger != GhlTrigger::ContactDelete && covered).then_some(SkipReason::Covered)
}

/// Whether the last applied read already includes the job's change: ingress numbered its
/// webhook before that read began, or (jobs without a number) it arrived well before.
fn is_covered_by_read(j: &GhlContactJob, state: &ContactState) -> bool {
    is_counted_before_read(j.arrival, state.read_seq)
        || is_covered(j.received_at_ms, state.read_at_ms)
}

/// Whether ingress numbered the job's webhook before the count the last applied read was
/// started after ([`ContactState::read_seq`]): one store's order, no clocks compared.
fn is_counted_before_read(arrival: Option<i64>, read_seq: Option<i64>) -> bool {
    matches!((arrival, read_seq), (Some(a), Some(r)) if a <= r)
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
            arrival: None,
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
    fn a_job_numbered_at_or_below_the_reads_count_is_covered_whatever_the_clocks() {
        let read = ContactState {
            read_at_ms: Some(10),
            read_seq: Some(2),
            ..ContactState::default()
        };
        let mut second = job(GhlTrigger::Workflow, None);
        second.received_at_ms = 5;
        for (arrival, covered) in [
            (Some(1), true),
            (Some(2), true),
            (Some(3), false),
            (None, false),
        ] {
            second.arrival = arrival;
            let want = covered.then_some(SkipReason::Covered);
            assert_eq!(settled_by_state(&second, &read), want, "{arrival:?}");
        }
        // A webhook sent after the one the read remembers is covered too, but its time is kept
        // under the lease (the read path), so it is not settled by the state alone.
        let mut marketplace = job(GhlTrigger::ContactTagUpdate, Some(20));
        marketplace.received_at_ms = 5;
        marketplace.arrival = Some(1);
        assert_eq!(settled_by_state(&marketplace, &read), None);
        let remembered = ContactState {
            webhook_ms: Some(20),
            ..read.clone()
        };
        assert_eq!(
            settled_by_state(&marketplace, &remembered),
            Some(SkipReason::Covered)
        );
        // The same by the clocks alone: a read well after the job arrived.
        let mut by_time = job(GhlTrigger::ContactTagUpdate, Some(20));
        by_time.received_at_ms = 10 - CLOCK_MARGIN_MS - 1;
        assert_eq!(settled_by_state(&by_time, &read), None);
        assert_eq!(
            settled_by_state(&by_time, &remembered),
            Some(SkipReason::Covered)
        );
        let mut delete = job(GhlTrigger::ContactDelete, None);
        delete.arrival = Some(1);
        assert_eq!(
            settled_by_state(&delete, &read),
            None,
            "a delete is never read, never covered"
        );
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
