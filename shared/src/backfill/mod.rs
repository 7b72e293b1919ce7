//! The scheduled backfill: pages through a source (GoHighLevel's contacts, a Page's Messenger or
//! Instagram conversations) and enqueues exactly what differs from what leadsync last applied
//! (or never saw), so the webhooks' misses are repaired and an unchanged contact costs nothing.
//! Each source is a [`Scan`]; runs, checkpoints, pauses and drift are the same for all.
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

use crate::domain::clock::now_ms;
use crate::domain::contact::ContactKey;
use crate::domain::job::SyncJob;
use crate::ports::queue::JobQueue;
use crate::ports::remote::RemoteError;
pub use checkpoint::{Checkpoints, Run, Scope, Status};
pub use request::Request;

/// Waits for one page before the run pauses until the next invocation.
const PAGE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct BackfillSettings {
    /// Incremental runs start this long before the previous run started: contacts changed while
    /// it ran, or stamped with an equal `dateUpdated`, are seen again rather than missed.
    pub overlap: Duration,
    /// An invocation stops taking pages this long before its deadline.
    pub reserve: Duration,
}

impl Default for BackfillSettings {
    fn default() -> Self {
        Self {
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
    Store(#[from] crate::ports::store::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::ports::queue::QueueError),
    #[error("the backfill has no {0} source configured")]
    NotConfigured(String),
}

/// One source's side of a backfill: how a page is read and which of its contacts need a job.
#[async_trait::async_trait]
pub trait Scan: Send + Sync {
    /// What is scanned, the run's `source` and the request's: a source (`ghl`, `messenger`,
    /// `instagram`) or a sink audited (`calltools`).
    fn name(&self) -> &'static str;
    /// The location, Page or Instagram account scanned.
    fn account(&self) -> &str;
    /// The page at the run's cursor.
    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError>;
    /// The candidates leadsync has not applied as they are now, as jobs: the drift.
    async fn changed(&self, candidates: Vec<Candidate>) -> Result<Vec<SyncJob>, BackfillError>;
    /// Whatever else a finished run does for this source (Meta: the subscription check and the
    /// profile refresh); answers more jobs to send. What it finds wrong goes into the run's
    /// warnings.
    async fn after_run(&self, _run: &mut Run) -> Result<Vec<SyncJob>, BackfillError> {
        Ok(Vec::new())
    }
}

/// One page of a scan.
pub struct Fetched {
    pub candidates: Vec<Candidate>,
    /// The cursor of the next page; `None` after the last.
    pub next: Option<serde_json::Value>,
    /// How many candidates the whole scan holds, when the source says.
    pub total: Option<u64>,
}

/// A contact as the source has it now, with the job that would apply it.
pub struct Candidate {
    pub key: ContactKey,
    /// What the stored state must match for the contact to count as unchanged (GHL: the
    /// source hash; Meta: the conversation's last activity).
    pub fingerprint: String,
    pub job: SyncJob,
}

pub struct Backfill {
    scans: Vec<Arc<dyn Scan>>,
    queue: Arc<dyn JobQueue>,
    checkpoints: Arc<dyn Checkpoints>,
    settings: BackfillSettings,
}

impl Backfill {
    /// A backfill over `scans`, one per source and account (`app::registry::scans`).
    pub fn new(
        scans: Vec<Arc<dyn Scan>>,
        queue: Arc<dyn JobQueue>,
        checkpoints: Arc<dyn Checkpoints>,
        settings: BackfillSettings,
    ) -> Self {
        Self {
            scans,
            queue,
            checkpoints,
            settings,
        }
    }

    /// Starts or continues a run and takes pages until it ends or `deadline_ms` nears.
    pub async fn handle(&self, req: &Request, deadline_ms: i64) -> Result<Ending, BackfillError> {
        let source = req.source.as_deref().unwrap_or("ghl");
        let scan = self
            .scans
            .iter()
            .find(|s| s.name() == source)
            .ok_or_else(|| BackfillError::NotConfigured(source.to_string()))?
            .as_ref();
        let run = match self.checkpoints.current(source, scan.account()).await? {
            Some(run) => run,
            None if req.resume => return Ok(Ending::Idle),
            None => {
                let run = self.new_run(scan, req).await?;
                if !self.checkpoints.begin(&run).await? {
                    return Ok(Ending::Busy);
                }
                run
            }
        };
        crate::support::invocation::within(deadline_ms, self.drive(scan, run, deadline_ms)).await
    }

    async fn new_run(&self, scan: &dyn Scan, req: &Request) -> Result<Run, BackfillError> {
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
                .history(scan.name(), scan.account(), 10)
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
            source: scan.name().to_string(),
            account: scan.account().to_string(),
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
            refreshed: 0,
            warnings: Vec::new(),
        })
    }

    async fn drive(
        &self,
        scan: &dyn Scan,
        mut run: Run,
        deadline_ms: i64,
    ) -> Result<Ending, BackfillError> {
        let source = scan.name();
        run.invocations += 1;
        let reserve = self.settings.reserve.as_millis() as i64;
        // The page read while the one before it was compared and queued. It was read only with
        // time left for another page, and is always handled: no page is read twice.
        let mut read_ahead = None;
        loop {
            let pages_before = run.pages;
            let fetched = match read_ahead.take() {
                Some(fetched) => fetched,
                None if now_ms() + reserve > deadline_ms => return self.pause(run).await,
                None => self.page(scan, &run, deadline_ms - reserve).await,
            };
            let page = match fetched {
                Ok(page) => page,
                // Every page would be refused the same way until someone fixes them: stop and
                // say so, rather than pausing to try again at every resume tick.
                Err(RemoteError::CredentialsRejected {
                    service, status, ..
                }) => {
                    metrics::counter!("credentials_rejected", "api" => crate::ports::remote::credentials_api(service))
                        .increment(1);
                    tracing::error!(run_id = %run.run_id, source, service, status, "leadsync's credentials were refused; the run stops");
                    run.errors += 1;
                    run.status = Status::Failed;
                    run.error = Some(format!(
                        "{service} refused leadsync's credentials (HTTP {status}); the run stopped: {}. The next scheduled run starts again",
                        crate::ports::remote::credentials_hint(service)
                    ));
                    return self.finish(scan, run).await;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(run_id = %run.run_id, source, error = %e, "the source keeps refusing; pausing the run");
                    run.errors += 1;
                    return self.pause(run).await;
                }
                Err(e) => {
                    run.errors += 1;
                    run.status = Status::Failed;
                    run.error = Some(e.to_string());
                    return self.finish(scan, run).await;
                }
            };
            let n = page.candidates.len() as u64;
            // The next page is read while this one is compared with the saved states and queued:
            // the source's paging, not the store, then sets the run's pace. Not when the run is
            // about to pause, which would drop the page and read it again on resuming.
            let ahead = page
                .next
                .clone()
                .filter(|_| now_ms() + reserve <= deadline_ms)
                .map(|next| Run {
                    cursor: Some(next),
                    seen: run.seen + n,
                    ..run.clone()
                });
            let handled = async {
                let jobs = scan.changed(page.candidates).await?;
                self.queue.enqueue_batch(&jobs).await?;
                Ok::<u64, BackfillError>(jobs.len() as u64)
            };
            let next_page = async {
                match &ahead {
                    Some(ahead) => Some(self.page(scan, ahead, deadline_ms - reserve).await),
                    None => None,
                }
            };
            let (handled, next_page) = futures::join!(handled, next_page);
            let enqueued = handled?;
            read_ahead = next_page;
            run.pages += 1;
            run.seen += n;
            run.enqueued += enqueued;
            run.unchanged += n - enqueued;
            run.cursor = page.next;
            metrics::counter!("backfill_pages", "source" => source).increment(1);
            metrics::counter!("backfill_contacts_seen", "source" => source).increment(n);
            metrics::counter!("backfill_enqueued", "source" => source).increment(enqueued);
            if run.cursor.is_none() {
                run.status = Status::Done;
                let more = scan.after_run(&mut run).await?;
                self.queue.enqueue_batch(&more).await?;
                run.refreshed += more.len() as u64;
                return self.finish(scan, run).await;
            }
            if !self.checkpoints.advance(&run, pages_before).await? {
                return Ok(Ending::Busy);
            }
        }
    }

    /// One page; a rate limit or outage is waited out (its `Retry-After`, else a doubling
    /// delay) while time allows.
    async fn page(
        &self,
        scan: &dyn Scan,
        run: &Run,
        give_up_at_ms: i64,
    ) -> Result<Fetched, RemoteError> {
        let mut attempt = 0;
        loop {
            match scan.fetch(run).await {
                Err(RemoteError::Transient { retry_after, .. }) if attempt + 1 < PAGE_ATTEMPTS => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1 << attempt));
                    if now_ms() + wait.as_millis() as i64 > give_up_at_ms {
                        return scan.fetch(run).await;
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn pause(&self, run: Run) -> Result<Ending, BackfillError> {
        tracing::info!(run_id = %run.run_id, pages = run.pages, "backfill paused; the next invocation goes on from the checkpoint");
        Ok(Ending::Paused(run))
    }

    async fn finish(&self, scan: &dyn Scan, mut run: Run) -> Result<Ending, BackfillError> {
        let source = scan.name();
        let now = now_ms();
        run.finished_at_ms = Some(now);
        self.checkpoints.finish(&run).await?;
        metrics::gauge!("backfill_drift", "source" => source).set(run.enqueued as f64);
        metrics::histogram!("backfill_duration_ms", "source" => source)
            .record((now - run.started_at_ms).max(0) as f64);
        tracing::info!(
            run_id = %run.run_id,
            source,
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
