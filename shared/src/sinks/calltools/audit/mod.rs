//! The sink audit: does CallTools still hold what leadsync last gave it? Anyone can delete a
//! contact in CallTools or take it out of a bucket; leadsync, which compares against what it
//! last wrote, would never notice. The audit walks the contacts leadsync placed and compares
//! each with CallTools ([`drift`]); as a backfill [`Scan`] named `calltools` it runs on a
//! schedule with checkpoints, and sends an `Audit` job for each GHL contact that drifted
//! (`LEADSYNC_AUDIT=repair`) or only counts them (`report`). The consumer runs the job under the
//! contact's lease: the sink looks again, then the plan writes what the rules still want.
//!
//! Cost per 10,000 placed contacts:
//! - `CALLTOOLS_BUCKET_FILTER=ignored` (the default): one read each, 10,000 calls, about 67
//!   minutes at half of 5 requests per second.
//! - `honoured` (`leadsync doctor` says whether the account honours `?buckets=<id>` on its
//!   contact listing): each bucket leadsync placed them in is listed, ⌈10,000/250⌉ = 40 calls
//!   per bucket, plus one read per contact missing from its buckets' listings (the drifted ones,
//!   and any placed since the listing) and per placed contact in no bucket — about 16 seconds
//!   per bucket. See [`listing`] for how a filter that stops working is caught.

pub mod listing;
#[cfg(test)]
mod scan_tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::app::config::BucketFilter;
use crate::backfill::{BackfillError, Candidate, Fetched, Run, Scan};
use crate::domain::contact::ContactKey;
use crate::domain::job::SyncJob;
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ports::remote::RemoteError;
use crate::ports::store::{SinkState, StateScan};
use crate::sinks::calltools::client::CallToolsApi;
use crate::sinks::calltools::placement::shown;
use crate::sources::ghl::job::GhlContactJob;
use listing::{AuditCursor, Fallback, RunListing, recorded};

/// What the audit does with drift (`LEADSYNC_AUDIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditMode {
    /// Send an `Audit` job for each drifted GHL contact (the default).
    Repair,
    /// Count and say, change nothing.
    Report,
}

/// Stored items a page reads: each placed contact on it may cost one CallTools read, so a page
/// stays well inside the time the backfill keeps in reserve before its deadline.
const PAGE_ITEMS: i32 = 50;
/// Marks a candidate whose CallTools contact is as leadsync left it.
const IN_LINE: &str = "";

/// The sink audit as a backfill scan.
pub struct CallToolsAudit {
    pub states: Arc<dyn StateScan>,
    pub api: Arc<dyn CallToolsApi>,
    /// The CallTools account ([`crate::sinks::calltools::placement::account_id`]).
    pub account: String,
    pub mode: AuditMode,
    /// Whether the buckets are listed (`CALLTOOLS_BUCKET_FILTER`).
    pub bucket_filter: BucketFilter,
    /// The current run's listings.
    pub listing: Mutex<RunListing>,
}

impl CallToolsAudit {
    pub fn new(
        states: Arc<dyn StateScan>,
        api: Arc<dyn CallToolsApi>,
        account: String,
        mode: AuditMode,
        bucket_filter: BucketFilter,
    ) -> Self {
        Self {
            states,
            api,
            account,
            mode,
            bucket_filter,
            listing: Mutex::new(RunListing::default()),
        }
    }

    /// The contact read back from CallTools and compared, as a candidate; `None` when
    /// CallTools refuses to show it (a permanent error), with a log line.
    async fn read_back(
        &self,
        run: &Run,
        key: ContactKey,
        entry: &SinkState,
        id: i64,
    ) -> Result<Option<Candidate>, RemoteError> {
        let observed = match self.api.get_contact(id).await {
            Ok(observed) => observed,
            Err(RemoteError::Permanent { status, reason, .. }) => {
                tracing::warn!(contact = %key.log_hash(), calltools_id = id, ?status, reason, "CallTools would not show a placed contact; skipped by the audit");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(Some(candidate(
            run,
            key,
            id,
            drift(entry, observed.as_ref()),
        )))
    }

    /// The listing of this run, begun if this invocation has none yet.
    async fn run_listing(
        &self,
        run: &Run,
        cursor: &AuditCursor,
    ) -> tokio::sync::MutexGuard<'_, RunListing> {
        let mut listing = self.listing.lock().await;
        if listing.run_id != run.run_id {
            *listing = RunListing::begin(&run.run_id, cursor);
            if cursor.reads.is_none() && listing.reads == Some(Fallback::ListingUnfinished) {
                fell_back(run, Fallback::ListingUnfinished, None);
            }
        }
        listing
    }
}

/// The candidate for a placed contact: its `Audit` job, and its drift's kind as fingerprint.
fn candidate(run: &Run, key: ContactKey, id: i64, found: Option<Drift>) -> Candidate {
    let note = json!({
        "audit": found.as_ref().map(Drift::kind),
        "calltools_id": id,
        "buckets": match &found { Some(Drift::OutOfBuckets(b)) => b.iter().copied().collect(), _ => Vec::new() },
    });
    Candidate {
        job: SyncJob::new(GhlContactJob::audit(
            &key,
            format!("audit:{}:{}", run.run_id, key.id),
            crate::domain::clock::now_ms(),
            note.to_string(),
        )),
        fingerprint: found.as_ref().map_or(IN_LINE, Drift::kind).to_string(),
        key,
    }
}

/// Counts and logs that a run reads each contact back instead of listing.
fn fell_back(run: &Run, why: Fallback, bucket: Option<i64>) {
    metrics::counter!("calltools_bucket_filter_fallback", "reason" => why.as_str()).increment(1);
    tracing::warn!(run_id = %run.run_id, reason = why.as_str(), bucket, "the audit reads every placed contact back for the rest of this run");
}

#[async_trait]
impl Scan for CallToolsAudit {
    fn name(&self) -> &'static str {
        SinkId::CallTools.as_str()
    }

    fn account(&self) -> &str {
        &self.account
    }

    /// The placed GHL contacts of the next stored page; a candidate's fingerprint is its drift's
    /// kind (empty when in line). With the bucket filter honoured, a page whose contacts were
    /// placed in a bucket not fully listed yet lists that bucket's next 250 instead (no
    /// candidates, the same stored page next), and then reads back only the contacts the
    /// listings do not vouch for; otherwise each is read back. A contact CallTools refuses to
    /// show (a permanent error) is skipped with a log line; a transient failure or refused
    /// credentials end the page, which the backfill retries or stops as for any scan.
    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError> {
        let mut cursor = AuditCursor::from_checkpoint(run.cursor.as_ref());
        let page = self
            .states
            .states_page(cursor.states.as_ref(), PAGE_ITEMS)
            .await
            .map_err(|e| RemoteError::Transient {
                service: "DynamoDB",
                reason: e.to_string(),
                status: None,
                retry_after: None,
            })?;
        // Messenger and Instagram contacts have no audit job yet: counting drift that could
        // never be repaired would only keep the alarm on.
        let placed: Vec<(ContactKey, SinkState)> = page
            .states
            .into_iter()
            .filter(|(key, _)| key.source == Source::Ghl)
            .map(|(key, state)| (key, state.sink(SinkId::CallTools).clone()))
            .filter(|(_, entry)| entry.id.is_some())
            .collect();
        let mut listing = match self.bucket_filter {
            BucketFilter::Honoured => Some(self.run_listing(run, &cursor).await),
            BucketFilter::Ignored => None,
        };
        if let Some(l) = listing.as_mut() {
            cursor.listings = l.listings;
            cursor.reads = l.reads;
        }
        if let Some(l) = listing.as_mut().filter(|l| l.reads.is_none())
            && let Some(bucket) = l.unlisted(&recorded(placed.iter().map(|(_, e)| e)))
        {
            let answer = self
                .api
                .contacts_in_bucket(bucket, l.next_page(bucket))
                .await?;
            if l.take(bucket, answer).is_err() {
                l.reads = Some(Fallback::FilterIgnored);
                cursor.reads = l.reads;
                fell_back(run, Fallback::FilterIgnored, Some(bucket));
            }
            return Ok(Fetched {
                candidates: Vec::new(),
                next: Some(cursor.to_checkpoint()),
                total: None,
            });
        }
        let vouched = |entry: &SinkState| {
            listing
                .as_ref()
                .is_some_and(|l| l.reads.is_none() && l.holds(entry))
        };
        let mut candidates = Vec::new();
        for (key, entry) in placed {
            let Some(id) = entry.id else { continue };
            if vouched(&entry) {
                candidates.push(candidate(run, key, id, None));
                continue;
            }
            if let Some(c) = self.read_back(run, key, &entry, id).await? {
                candidates.push(c);
            }
        }
        Ok(Fetched {
            candidates,
            next: page.next.map(|states| {
                AuditCursor {
                    states: Some(states),
                    ..cursor
                }
                .to_checkpoint()
            }),
            total: None,
        })
    }

    /// Counts the page's drift (once per page read to the end: a page retried after a failure
    /// is not counted twice) and, in repair mode, answers the drifted contacts' jobs.
    async fn changed(&self, candidates: Vec<Candidate>) -> Result<Vec<SyncJob>, BackfillError> {
        let drifted: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| c.fingerprint != IN_LINE)
            .collect();
        for c in &drifted {
            metrics::counter!("sink_drift", "sink" => SinkId::CallTools.as_str()).increment(1);
            tracing::info!(contact = %c.key.log_hash(), kind = c.fingerprint, "CallTools no longer holds what leadsync placed");
        }
        Ok(match self.mode {
            AuditMode::Report => Vec::new(),
            AuditMode::Repair => drifted.into_iter().map(|c| c.job).collect(),
        })
    }

    /// Says when the run read every contact back although the filter is configured honoured.
    async fn after_run(&self, run: &mut Run) -> Result<Vec<SyncJob>, BackfillError> {
        let listing = self.listing.lock().await;
        if listing.run_id == run.run_id
            && let Some(why) = listing.reads
        {
            run.warnings.push(why.warning());
        }
        Ok(Vec::new())
    }
}

/// How CallTools differs from what leadsync last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The contact leadsync created or found is gone from CallTools.
    Deleted,
    /// Still there, but out of buckets leadsync placed it in.
    OutOfBuckets(BTreeSet<i64>),
    /// An agent marked it `do_not_contact` and leadsync never heard (its hook was lost, or
    /// call outcomes are off): learned, so the contact is held out of the dialer for good.
    OptedOut,
}

impl Drift {
    /// The `kind` of the `sink_drift` count and the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::Deleted => "deleted",
            Drift::OutOfBuckets(_) => "out_of_bucket",
            Drift::OptedOut => "opted_out",
        }
    }
}

/// The drift between `applied` (the contact's CallTools entry) and `observed` (the contact as
/// CallTools renders it now, `None` when it answers 404). None when:
/// - leadsync never placed the contact, or its buckets are all still there (buckets added by
///   hand are not drift: leadsync only answers for what it placed);
/// - the answer does not show bucket membership (some accounts don't): nothing can be told, and
///   guessing would rewrite every contact every day;
/// - the contact is `do_not_contact` and leadsync knows (an agent's opt-out it learned, or its
///   own flag from GHL DND): an opt-out taken out of its list is never put back. One it does not
///   know is [`Drift::OptedOut`].
pub fn drift(applied: &SinkState, observed: Option<&Value>) -> Option<Drift> {
    applied.id?;
    let Some(contact) = observed else {
        return Some(Drift::Deleted);
    };
    if contact["do_not_contact"].as_bool() == Some(true) {
        return (!applied.opted_out && !applied.dnd_written).then_some(Drift::OptedOut);
    }
    let holds = shown(contact, "buckets")?;
    let missing: BTreeSet<i64> = applied.buckets.difference(&holds).copied().collect();
    (!missing.is_empty()).then_some(Drift::OutOfBuckets(missing))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn placed(buckets: &[i64]) -> SinkState {
        SinkState {
            id: Some(7),
            buckets: buckets.iter().copied().collect(),
            ..SinkState::default()
        }
    }

    #[test]
    fn a_contact_gone_from_calltools_is_deleted_drift() {
        assert_eq!(drift(&placed(&[11237]), None), Some(Drift::Deleted));
        assert_eq!(drift(&placed(&[]), None), Some(Drift::Deleted));
    }

    #[test]
    fn a_contact_out_of_a_bucket_leadsync_placed_it_in_is_drift_one_added_by_hand_is_not() {
        let out = json!({"id": 7, "buckets": [11238]});
        assert_eq!(
            drift(&placed(&[11237, 11238]), Some(&out)),
            Some(Drift::OutOfBuckets([11237].into()))
        );
        let more = json!({"id": 7, "buckets": [11237, 99]});
        assert_eq!(drift(&placed(&[11237]), Some(&more)), None);
        assert_eq!(
            drift(
                &placed(&[11237]),
                Some(&json!({"id": 7, "buckets": ["11238"]}))
            ),
            Some(Drift::OutOfBuckets([11237].into())),
            "ids as digit strings are read as ids"
        );
        assert_eq!(
            drift(
                &placed(&[11237]),
                Some(&json!({"id": 7, "buckets": [{"id": 11237}]}))
            ),
            None,
            "and as {{id}} objects"
        );
    }

    #[test]
    fn an_answer_that_does_not_show_buckets_or_an_agents_opt_out_is_no_drift() {
        for shows_nothing in [
            json!({"id": 7}),
            json!({"id": 7, "buckets": null}),
            Value::Null,
        ] {
            assert_eq!(
                drift(&placed(&[11237]), Some(&shows_nothing)),
                None,
                "{shows_nothing}: membership not shown, nothing can be told"
            );
        }
        let opted_out = json!({"id": 7, "buckets": [], "do_not_contact": true});
        let known = SinkState {
            opted_out: true,
            ..placed(&[11237])
        };
        assert_eq!(
            drift(&known, Some(&opted_out)),
            None,
            "an opt-out leadsync knows"
        );
        let ours = SinkState {
            dnd_written: true,
            ..placed(&[11237])
        };
        assert_eq!(drift(&ours, Some(&opted_out)), None, "leadsync's own flag");
        assert_eq!(
            drift(&placed(&[11237]), Some(&opted_out)),
            Some(Drift::OptedOut),
            "an agent's opt-out whose hook was lost"
        );
        assert_eq!(
            drift(&placed(&[11237]), None),
            Some(Drift::Deleted),
            "a deletion is still seen"
        );
    }

    #[test]
    fn a_contact_leadsync_never_placed_has_no_drift() {
        assert_eq!(drift(&SinkState::default(), None), None);
        assert_eq!(
            drift(&placed(&[]), Some(&json!({"id": 7, "buckets": []}))),
            None,
            "taken out of its buckets by leadsync itself (it lost its tag): nothing to fight"
        );
    }
}
