//! The scheduled backfill: pages through GoHighLevel's contacts and enqueues exactly those whose
//! source hash differs from what leadsync last applied (or that it never saw), so the webhooks'
//! misses are repaired and an unchanged contact costs nothing.
//!
//! A run checkpoints after every page. An invocation stops before its deadline and the next one
//! (the schedule's resume tick, or `leadsync backfill run`) goes on from the checkpoint; a page
//! whose jobs were sent but whose checkpoint was not is sent again, with the same job ids, which
//! the consumer settles as duplicates. Nothing is ever deleted because a scan did not see it.

pub mod checkpoint;
pub mod memory;
mod request;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::clock::now_ms;
use crate::contact::{ContactKey, source_hash};
use crate::ghl::client::GhlApi;
use crate::ghl::search::{Found, SearchQuery, updated_since_filter};
use crate::job::{GhlContactJob, GhlTrigger, SyncJob};
use crate::queue::JobQueue;
use crate::remote::RemoteError;
use crate::rules::Rules;
use crate::store::StateStore;
pub use checkpoint::{Checkpoints, Run, Scope, Status};
pub use request::Request;

const SOURCE: &str = "ghl";
/// Waits for one page before the run pauses until the next invocation.
const PAGE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct BackfillSettings {
    pub location_id: String,
    pub page_limit: u32,
    /// Incremental runs start this long before the previous run started: contacts changed while
    /// it ran, or stamped with an equal `dateUpdated`, are seen again rather than missed.
    pub overlap: Duration,
    /// An invocation stops taking pages this long before its deadline.
    pub reserve: Duration,
}

impl Default for BackfillSettings {
    fn default() -> Self {
        Self {
            location_id: String::new(),
            page_limit: crate::ghl::search::MAX_PAGE_LIMIT,
            overlap: Duration::from_secs(600),
            reserve: Duration::from_secs(30),
        }
    }
}

/// How an invocation ended: the Lambda's answer, `{"ending": "finished", "run": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ending", content = "run", rename_all = "snake_case")]
pub enum Ending {
    /// The run finished (done or failed).
    Finished(Run),
    /// Out of time (or the source kept refusing): the checkpoint holds where to go on.
    Paused(Run),
    /// Another invocation is advancing the run.
    Busy,
    /// A resume tick with no run in progress.
    Idle,
}

#[derive(Debug, Error)]
pub enum BackfillError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

pub struct Backfill {
    ghl: Arc<dyn GhlApi>,
    states: Arc<dyn StateStore>,
    queue: Arc<dyn JobQueue>,
    checkpoints: Arc<dyn Checkpoints>,
    rules: Rules,
    rules_fingerprint: String,
    settings: BackfillSettings,
}

impl Backfill {
    pub fn new(
        ghl: Arc<dyn GhlApi>,
        states: Arc<dyn StateStore>,
        queue: Arc<dyn JobQueue>,
        checkpoints: Arc<dyn Checkpoints>,
        rules: Rules,
        settings: BackfillSettings,
    ) -> Self {
        Self {
            rules_fingerprint: rules.fingerprint(),
            ghl,
            states,
            queue,
            checkpoints,
            rules,
            settings,
        }
    }

    /// Starts or continues a run and takes pages until it ends or `deadline_ms` nears.
    pub async fn handle(&self, req: &Request, deadline_ms: i64) -> Result<Ending, BackfillError> {
        let account = &self.settings.location_id;
        let run = match self.checkpoints.current(SOURCE, account).await? {
            Some(run) => run,
            None if req.resume => return Ok(Ending::Idle),
            None => {
                let run = self.new_run(req).await?;
                if !self.checkpoints.begin(&run).await? {
                    return Ok(Ending::Busy);
                }
                run
            }
        };
        self.drive(run, deadline_ms).await
    }

    async fn new_run(&self, req: &Request) -> Result<Run, BackfillError> {
        let now = now_ms();
        let (scope, since_ms) = if req.full {
            (Scope::Full, None)
        } else if let Some(since) = req.since_ms {
            (Scope::Since, Some(since))
        } else {
            // The schedule: changes since the last run that finished, with overlap; the first
            // run of all is a full one.
            let last = self
                .checkpoints
                .history(SOURCE, &self.settings.location_id, 10)
                .await?
                .into_iter()
                .find(|r| r.status == Status::Done);
            match last {
                Some(r) => (
                    Scope::Since,
                    Some(r.started_at_ms - self.settings.overlap.as_millis() as i64),
                ),
                None => (Scope::Full, None),
            }
        };
        Ok(Run {
            run_id: format!("{now:013}-{:04x}", rand::random::<u16>()),
            source: SOURCE.into(),
            account: self.settings.location_id.clone(),
            scope,
            since_ms,
            started_at_ms: now,
            status: Status::Running,
            cursor: None,
            pages: 0,
            seen: 0,
            unchanged: 0,
            enqueued: 0,
            errors: 0,
            invocations: 0,
            finished_at_ms: None,
            error: None,
        })
    }

    fn query(&self, run: &Run) -> SearchQuery {
        let (location, limit) = (&self.settings.location_id, self.settings.page_limit);
        let mut query = match run.scope {
            Scope::Full => SearchQuery::tagged(location, &self.rules.tags(), limit),
            Scope::Since => SearchQuery::new(
                location,
                vec![updated_since_filter(run.since_ms.unwrap_or(0))],
                limit,
            ),
        };
        query.search_after = run.cursor.clone();
        query
    }

    async fn drive(&self, mut run: Run, deadline_ms: i64) -> Result<Ending, BackfillError> {
        run.invocations += 1;
        let reserve = self.settings.reserve.as_millis() as i64;
        loop {
            if now_ms() + reserve > deadline_ms {
                return self.pause(run).await;
            }
            let pages_before = run.pages;
            let page = match self.page(&run, deadline_ms - reserve).await {
                Ok(page) => page,
                Err(e) if e.is_transient() => {
                    tracing::warn!(run_id = %run.run_id, error = %e, "GHL keeps refusing the search; pausing the run");
                    run.errors += 1;
                    return self.pause(run).await;
                }
                Err(e) => {
                    run.errors += 1;
                    run.status = Status::Failed;
                    run.error = Some(e.to_string());
                    return self.finish(run).await;
                }
            };
            let jobs = self.changed(&page.contacts).await?;
            self.queue.enqueue_batch(&jobs).await?;
            let n = page.contacts.len() as u64;
            run.pages += 1;
            run.seen += n;
            run.enqueued += jobs.len() as u64;
            run.unchanged += n - jobs.len() as u64;
            // A full last page still carries a cursor; when the run has seen exactly as many
            // contacts as GHL says match, the empty page after it is not worth a call.
            run.cursor = page.next.filter(|_| page.total != Some(run.seen));
            metrics::counter!("backfill_pages", "source" => SOURCE).increment(1);
            metrics::counter!("backfill_contacts_seen", "source" => SOURCE).increment(n);
            metrics::counter!("backfill_enqueued", "source" => SOURCE).increment(jobs.len() as u64);
            if run.cursor.is_none() {
                run.status = Status::Done;
                return self.finish(run).await;
            }
            if !self.checkpoints.advance(&run, pages_before).await? {
                return Ok(Ending::Busy);
            }
        }
    }

    /// One search page; a rate limit or outage is waited out (its `Retry-After`, else a
    /// doubling delay) while time allows.
    async fn page(
        &self,
        run: &Run,
        give_up_at_ms: i64,
    ) -> Result<crate::ghl::search::SearchPage, RemoteError> {
        let query = self.query(run);
        let mut attempt = 0;
        loop {
            match self.ghl.search_contacts(&query).await {
                Err(RemoteError::Transient { retry_after, .. }) if attempt + 1 < PAGE_ATTEMPTS => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1 << attempt));
                    if now_ms() + wait.as_millis() as i64 > give_up_at_ms {
                        return self.ghl.search_contacts(&query).await;
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The jobs for the contacts leadsync has not applied as they are now.
    async fn changed(&self, found: &[Found]) -> Result<Vec<SyncJob>, BackfillError> {
        let location = &self.settings.location_id;
        let keys: Vec<ContactKey> = found
            .iter()
            .map(|f| ContactKey::ghl(location, &f.id))
            .collect();
        let states = self.states.contact_states(&keys).await?;
        let now = now_ms();
        Ok(found
            .iter()
            .zip(&keys)
            .filter(|(f, key)| {
                let hash = source_hash(&f.contact, &self.rules_fingerprint);
                states
                    .get(&key.storage_id())
                    .and_then(|s| s.source_hash.as_deref())
                    != Some(hash.as_str())
            })
            .map(|(f, _)| {
                let version = f.contact.version_ms.unwrap_or(0);
                SyncJob::GhlContact(GhlContactJob {
                    // The same contact at the same version is the same job, however often a
                    // resumed run sends it.
                    job_id: format!("bf:{location}:{}:{version}", f.id),
                    location_id: location.clone(),
                    contact_id: f.id.clone(),
                    trigger: GhlTrigger::Backfill,
                    version_ms: f.contact.version_ms,
                    received_at_ms: now,
                    payload: String::new(),
                })
            })
            .collect())
    }

    async fn pause(&self, run: Run) -> Result<Ending, BackfillError> {
        tracing::info!(run_id = %run.run_id, pages = run.pages, "backfill paused; the next invocation goes on from the checkpoint");
        Ok(Ending::Paused(run))
    }

    async fn finish(&self, mut run: Run) -> Result<Ending, BackfillError> {
        let now = now_ms();
        run.finished_at_ms = Some(now);
        self.checkpoints.finish(&run).await?;
        metrics::gauge!("backfill_drift", "source" => SOURCE).set(run.enqueued as f64);
        metrics::histogram!("backfill_duration_ms", "source" => SOURCE)
            .record((now - run.started_at_ms).max(0) as f64);
        tracing::info!(
            run_id = %run.run_id,
            status = ?run.status,
            pages = run.pages,
            seen = run.seen,
            unchanged = run.unchanged,
            enqueued = run.enqueued,
            errors = run.errors,
            "backfill run finished"
        );
        Ok(Ending::Finished(run))
    }
}
