//! The sink audit: does CallTools still hold what leadsync last gave it? Anyone can delete a
//! contact in CallTools or take it out of a bucket; leadsync, which compares against what it
//! last wrote, would never notice. The audit reads each contact leadsync placed back from
//! CallTools and compares ([`drift`]); as a backfill [`Scan`] named `calltools` it runs on a
//! schedule with checkpoints, and sends an `Audit` job for each GHL contact that drifted
//! (`LEADSYNC_AUDIT=repair`) or only counts them (`report`). The consumer runs the job under the
//! contact's lease: the sink looks again, then the plan writes what the rules still want.
//!
//! Cost: one CallTools read per placed contact — 10,000 contacts are 10,000 calls, about 33
//! minutes at 5 requests per second (a bucket filter on the contact listing would be cheaper,
//! but no account has shown one works).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::backfill::{BackfillError, Candidate, Fetched, Run, Scan};
use crate::domain::job::SyncJob;
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ports::remote::RemoteError;
use crate::ports::store::{SinkState, StateScan};
use crate::sinks::calltools::client::CallToolsApi;
use crate::sinks::calltools::placement::shown;
use crate::sources::ghl::job::GhlContactJob;

/// What the audit does with drift (`LEADSYNC_AUDIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditMode {
    /// Send an `Audit` job for each drifted GHL contact (the default).
    Repair,
    /// Count and say, change nothing.
    Report,
}

/// Stored items a page reads: each placed contact on it costs one CallTools read, so a page
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
}

#[async_trait]
impl Scan for CallToolsAudit {
    fn name(&self) -> &'static str {
        SinkId::CallTools.as_str()
    }

    fn account(&self) -> &str {
        &self.account
    }

    /// The placed GHL contacts of the next stored page, each read back from CallTools; a
    /// candidate's fingerprint is its drift's kind (empty when in line). A contact CallTools
    /// refuses to show (a permanent error) is skipped with a log line; a transient failure or
    /// refused credentials end the page, which the backfill retries or stops as for any scan.
    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError> {
        let page = self
            .states
            .states_page(run.cursor.as_ref(), PAGE_ITEMS)
            .await
            .map_err(|e| RemoteError::Transient {
                service: "DynamoDB",
                reason: e.to_string(),
                status: None,
                retry_after: None,
            })?;
        let mut candidates = Vec::new();
        for (key, state) in page.states {
            // Messenger and Instagram contacts have no audit job yet: counting drift that could
            // never be repaired would only keep the alarm on.
            if key.source != Source::Ghl {
                continue;
            }
            let entry = state.sink(SinkId::CallTools);
            let Some(id) = entry.id else { continue };
            let observed = match self.api.get_contact(id).await {
                Ok(observed) => observed,
                Err(RemoteError::Permanent { status, reason, .. }) => {
                    tracing::warn!(contact = %key.log_hash(), calltools_id = id, ?status, reason, "CallTools would not show a placed contact; skipped by the audit");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let found = drift(entry, observed.as_ref());
            let note = json!({
                "audit": found.as_ref().map(Drift::kind),
                "calltools_id": id,
                "buckets": match &found { Some(Drift::OutOfBuckets(b)) => b.iter().copied().collect(), _ => Vec::new() },
            });
            candidates.push(Candidate {
                job: SyncJob::new(GhlContactJob::audit(
                    &key,
                    format!("audit:{}:{}", run.run_id, key.id),
                    crate::domain::clock::now_ms(),
                    note.to_string(),
                )),
                fingerprint: found.as_ref().map_or(IN_LINE, Drift::kind).to_string(),
                key,
            });
        }
        Ok(Fetched {
            candidates,
            next: page.next,
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
}

/// How CallTools differs from what leadsync last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The contact leadsync created or found is gone from CallTools.
    Deleted,
    /// Still there, but out of buckets leadsync placed it in.
    OutOfBuckets(BTreeSet<i64>),
}

impl Drift {
    /// The `kind` of the `sink_drift` count and the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::Deleted => "deleted",
            Drift::OutOfBuckets(_) => "out_of_bucket",
        }
    }
}

/// The drift between `applied` (the contact's CallTools entry) and `observed` (the contact as
/// CallTools renders it now, `None` when it answers 404). None when:
/// - leadsync never placed the contact, or its buckets are all still there (buckets added by
///   hand are not drift: leadsync only answers for what it placed);
/// - the answer does not show bucket membership (some accounts don't): nothing can be told, and
///   guessing would rewrite every contact every day;
/// - an agent marked the contact `do_not_contact` in CallTools: an opt-out taken out of its list
///   is never put back.
pub fn drift(applied: &SinkState, observed: Option<&Value>) -> Option<Drift> {
    applied.id?;
    let Some(contact) = observed else {
        return Some(Drift::Deleted);
    };
    if contact["do_not_contact"].as_bool() == Some(true) {
        return None;
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
        assert_eq!(drift(&placed(&[11237]), Some(&opted_out)), None);
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
