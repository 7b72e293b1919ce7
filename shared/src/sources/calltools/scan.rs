//! The CallTools side of the backfill: the calls made since the last run (with overlap), read
//! by time window, so an outcome whose hook was lost in transit still reaches GHL. A call counts
//! as missed when it has a disposition, was made to a contact leadsync placed, and the GHL entry
//! of that contact has not carried it (`sinks.ghl.done`) nor parked it (`sinks.ghl.parked`: GHL
//! refused it for good, and the DLQ holds it for a replay); or when it was carried but its
//! recording link, which came later, was not (`sinks.ghl.recorded`). Its job is the hook's job,
//! read again by the consumer like any other.
//!
//! An account that ignores `start_time__gte` answers every call; each call's own time is checked,
//! and the run says how many older ones it had to skip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::backfill::{BackfillError, Candidate, Fetched, Run, Scan, Scope};
use crate::domain::clock::now_ms;
use crate::domain::job::{Origin, SyncJob};
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ports::remote::RemoteError;
use crate::ports::store::{Carried, SinkIndex, StateStore};
use crate::sinks::calltools::client::CallToolsApi;
use crate::sources::calltools::hook::{HookModel, hooked, parse_datetime_ms};
use crate::sources::calltools::job::CallToolsJob;

/// The run's `source` and the request's: `{"source": "calltools_calls"}`.
pub const CALLS_SCAN: &str = "calltools_calls";

/// How far back a run with no earlier one (or `full`) reads.
pub const FULL_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// How much earlier than the previous run a run reads: a call is listed by when it started,
/// but its disposition comes when the agent wraps up (or corrects it), which may be hours later.
/// Calls already carried cost nothing but the listing.
pub const LATE_DISPOSITION: Duration = Duration::from_secs(12 * 3_600);

pub struct CallsScan {
    api: Arc<dyn CallToolsApi>,
    placed: Arc<dyn SinkIndex>,
    states: Arc<dyn StateStore>,
    account: String,
    /// Calls answered from before the window: the account ignored the filter.
    outside_window: AtomicU64,
    /// Calls not carried because their job was parked: left to the replay.
    parked: AtomicU64,
    /// Carried calls sent again for a recording link that came later: not missed hooks.
    late_recordings: AtomicU64,
}

impl CallsScan {
    pub fn new(
        api: Arc<dyn CallToolsApi>,
        placed: Arc<dyn SinkIndex>,
        states: Arc<dyn StateStore>,
        account: String,
    ) -> Self {
        Self {
            api,
            placed,
            states,
            account,
            outside_window: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            late_recordings: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Scan for CallsScan {
    fn name(&self) -> &'static str {
        CALLS_SCAN
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError> {
        let window_start = run.started_at_ms - FULL_WINDOW.as_millis() as i64;
        let since = match run.scope {
            Scope::Full => window_start,
            Scope::Since => run.since_ms.map_or(window_start, |since| {
                (since - LATE_DISPOSITION.as_millis() as i64).max(window_start)
            }),
        };
        let page = run
            .cursor
            .as_ref()
            .and_then(|c| c.as_u64())
            .map_or(1, |p| p as u32);
        let (calls, more) = self.api.calls_page(since, page).await?;
        let now = now_ms();
        let mut candidates = Vec::new();
        for call in &calls {
            let started = call
                .get("start_time")
                .and_then(|t| t.as_str())
                .and_then(parse_datetime_ms);
            if started.is_some_and(|t| t < since) {
                self.outside_window.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // A call with no disposition yet has nothing to carry; one that cannot be read is
            // the consumer's to report if its hook comes.
            let Ok(h) = hooked(HookModel::Call, call) else {
                continue;
            };
            if !h.flagged {
                continue;
            }
            let keys = self
                .placed
                .placed_as(SinkId::CallTools, h.contact_id)
                .await
                .map_err(|e| RemoteError::Transient {
                    service: "DynamoDB",
                    reason: e.to_string(),
                    status: None,
                    retry_after: None,
                })?;
            for ghl in keys.into_iter().filter(|k| k.source == Source::Ghl) {
                let job = CallToolsJob::new(&h, ghl.clone(), Origin::Backfill, now, b"");
                candidates.push(Candidate {
                    key: ghl,
                    fingerprint: h.object_id.to_string(),
                    job: SyncJob::new(job),
                });
            }
        }
        Ok(Fetched {
            candidates,
            next: more.then(|| json!(page + 1)),
            total: None,
        })
    }

    /// The calls the GHL entry has not carried, for contacts still placed as the call's. A call
    /// whose job was parked is not sent again every run: it waits for the replay (and is
    /// counted, so the run says so).
    async fn changed(&self, candidates: Vec<Candidate>) -> Result<Vec<SyncJob>, BackfillError> {
        let keys: Vec<_> = candidates.iter().map(|c| c.key.clone()).collect();
        let states = self.states.contact_states(&keys).await?;
        Ok(candidates
            .into_iter()
            .filter(|c| {
                let Some(job) = c.job.payload::<CallToolsJob>() else {
                    return false;
                };
                let Some(state) = states.get(&c.key.storage_id()) else {
                    return false;
                };
                let carried = Carried::new(job.object_id, job.disposition_id);
                let ghl = state.sink(SinkId::Ghl);
                if state.sink(SinkId::CallTools).id != Some(job.calltools_contact_id) {
                    return false;
                }
                if ghl.parked.contains(&carried) {
                    self.parked.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                // Carried: sent again only for a recording link that came later.
                if ghl.done.contains(&carried) {
                    let late = job.recorded && !ghl.recorded.contains(&job.object_id);
                    if late {
                        self.late_recordings.fetch_add(1, Ordering::Relaxed);
                    }
                    return late;
                }
                true
            })
            .map(|c| c.job)
            .collect())
    }

    async fn after_run(&self, run: &mut Run) -> Result<Vec<SyncJob>, BackfillError> {
        // A recording link that came after the outcome is not a hook the run found missing: its
        // job counts as a refresh, not as drift (which raises the hooks-missed alarm).
        let late = self.late_recordings.swap(0, Ordering::Relaxed);
        let late = late.min(run.enqueued);
        run.enqueued -= late;
        run.refreshed += late;
        let parked = self.parked.swap(0, Ordering::Relaxed);
        if parked > 0 {
            run.warnings.push(format!(
                "{parked} call outcomes GoHighLevel refused are parked in the DLQ and were not sent again: `leadsync dlq list` says why; `leadsync dlq replay` once fixed"
            ));
        }
        let outside = self.outside_window.swap(0, Ordering::Relaxed);
        if outside > 0 {
            run.warnings.push(format!(
                "this CallTools account answered {outside} calls from before the window: it ignores start_time__gte, so every run reads every call"
            ));
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests;
