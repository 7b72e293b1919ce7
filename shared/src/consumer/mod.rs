//! Consumer: SQS batch in, idempotent sync to the sinks, partial batch failures out.
//!
//! Records for the same contact run one after another, in arrival order; different contacts run
//! side by side. Each record ends as one [`Outcome`]: synced and skipped records are deleted by
//! the event source mapping, retried ones are reported in `batchItemFailures` after their
//! visibility was set to a growing, jittered delay, and permanent failures are parked in the DLQ
//! at once (and deleted from the main queue) instead of burning `maxReceiveCount`.

pub mod apply;
/// Whole batches on the test kit.
#[cfg(test)]
#[path = "tests/batch.rs"]
mod batch_tests;
/// Call outcomes carried back, on the test kit.
#[cfg(test)]
#[path = "tests/calls_back.rs"]
mod calls_back_tests;
pub mod credentials;
pub mod event;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

use crate::app::config::RetryPolicy;
use crate::domain::clock::{Clock, Millis};
use crate::domain::job::SyncJob;
use crate::domain::rules::Rules;
use crate::domain::source::Source;
use crate::ports::events::EventLog;
use crate::ports::queue::{Deferred, Parked, Redelivery};
use crate::ports::store::StateStore;
use crate::sinks::Sink;
use crate::sources::ContactSource;

pub use crate::domain::outcome::{Outcome, OutcomeKind, SkipReason};

pub struct Consumer {
    pub(crate) store: Arc<dyn StateStore>,
    /// Who reads each source's jobs back.
    pub(crate) sources: BTreeMap<Source, Arc<dyn ContactSource>>,
    /// Where each source's contacts go.
    pub(crate) sinks: BTreeMap<Source, Arc<dyn Sink>>,
    pub(crate) redelivery: Arc<dyn Redelivery>,
    pub(crate) events: Arc<dyn EventLog>,
    pub(crate) rules: Rules,
    /// `rules.fingerprint()`, made once.
    pub(crate) rules_fingerprint: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) default_region: String,
    /// "Now" for every decision the consumer makes about time (waits, reads, latencies).
    pub(crate) clock: Arc<dyn Clock>,
}

/// Everything the consumer depends on.
pub struct ConsumerParts {
    pub store: Arc<dyn StateStore>,
    /// The sources whose jobs it reads (registered in `app::registry`); a job of any other
    /// source is parked, to be replayed once its source is configured.
    pub sources: Vec<Arc<dyn ContactSource>>,
    /// Where each source's contacts go (registered in `app::registry`): a source with a reader
    /// and no sink is a wiring mistake, and its jobs are parked with that said.
    pub sinks: BTreeMap<Source, Arc<dyn Sink>>,
    pub redelivery: Arc<dyn Redelivery>,
    /// Where each settled record is recorded (`leadsync trace`).
    pub events: Arc<dyn EventLog>,
    pub rules: Rules,
    pub retry: RetryPolicy,
    pub default_region: String,
    /// [`crate::domain::clock::WallClock`] in a function; a test's own clock in the kit.
    pub clock: Arc<dyn Clock>,
}

/// A record with its job, or why it could not be read.
type ParsedRecord<'a> = (&'a SqsMessage, Result<SyncJob, String>);

/// The result of one record, for the batch response and for callers that watch outcomes.
#[derive(Debug, Clone)]
pub struct RecordResult {
    pub message_id: String,
    pub job_id: Option<String>,
    pub outcome: Outcome,
    /// Whether the record was reported as a batch item failure.
    pub failed: bool,
}

impl Consumer {
    pub fn new(p: ConsumerParts) -> Self {
        Self {
            store: p.store,
            sources: p
                .sources
                .into_iter()
                .flat_map(|reader| {
                    let served: &'static [Source] = reader.serves();
                    served.iter().map(move |s| (*s, reader.clone()))
                })
                .collect(),
            sinks: p.sinks,
            redelivery: p.redelivery,
            events: p.events,
            rules_fingerprint: p.rules.fingerprint(),
            rules: p.rules,
            retry: p.retry,
            default_region: p.default_region,
            clock: p.clock,
        }
    }

    /// A cold start's init: each sink looks up what its first job would ([`Sink::prepare`]),
    /// within `limit`: Lambda allows init 10 s, and a vendor that does not answer must not hold
    /// the function back (the first job then looks again). libphonenumber's metadata is already
    /// loaded: `app::build_consumer` checks the default region against it (3–5 ms); the first
    /// number then compiles its region's patterns (~0.2 ms).
    pub async fn prepare(&self, limit: Duration) {
        let started = std::time::Instant::now();
        let work = async {
            let mut prepared = std::collections::BTreeSet::new();
            let distinct = self.sinks.values().filter(|s| prepared.insert(s.id()));
            futures::future::join_all(distinct.map(|s| s.prepare(&self.rules))).await;
            tracing::info!(
                sink_lookups_ms = started.elapsed().as_millis() as u64,
                "init lookups done"
            );
        };
        if tokio::time::timeout(limit, work).await.is_err() {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "init lookups unfinished; the first jobs make them"
            );
        }
    }

    /// Handles an SQS batch; `deadline_ms` is the invocation's deadline (epoch ms).
    pub async fn handle_batch(&self, event: SqsEvent, deadline_ms: i64) -> SqsBatchResponse {
        let results = self.process_batch(&event.records, deadline_ms).await;
        batch_response(&results)
    }

    pub async fn process_batch(
        &self,
        records: &[SqsMessage],
        deadline_ms: i64,
    ) -> Vec<RecordResult> {
        let mut groups: BTreeMap<String, Vec<ParsedRecord<'_>>> = BTreeMap::new();
        for (i, msg) in records.iter().enumerate() {
            let job = SyncJob::from_json(msg.body.as_deref().unwrap_or(""))
                .map_err(|e| crate::ports::remote::json_error(&e));
            let group = match &job {
                Ok(job) => job.contact_key().storage_id(),
                Err(_) => format!("unreadable#{i}"),
            };
            groups.entry(group).or_default().push((msg, job));
        }
        let runs = groups.into_values().map(|records| async move {
            let mut out = Vec::with_capacity(records.len());
            for (msg, job) in records {
                let span = record_span(job.as_ref().ok());
                out.push(
                    self.process_record(msg, job, deadline_ms)
                        .instrument(span)
                        .await,
                );
            }
            out
        });
        crate::support::invocation::within(deadline_ms, futures::future::join_all(runs))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn process_record(
        &self,
        msg: &SqsMessage,
        job: Result<SyncJob, String>,
        deadline_ms: i64,
    ) -> RecordResult {
        let message_id = msg.message_id.clone().unwrap_or_default();
        let (job, outcome) = match job {
            Ok(job) => {
                let outcome = self.process(&job, deadline_ms, event::retried(msg)).await;
                let outcome = self.weigh_credentials(outcome, msg);
                record_outcome_metrics(&job, &outcome, self.clock.now());
                (Some(job), outcome)
            }
            Err(e) => (
                None,
                Outcome::Park {
                    reason: format!("unreadable job: {e}"),
                    status: None,
                    excerpt: crate::ports::remote::excerpt(msg.body.as_deref().unwrap_or("")),
                },
            ),
        };
        let failed = self.settle(msg, job.as_ref(), &outcome).await;
        // After settling, so the entry says what actually happened to the message. An unreadable
        // job names no contact to file it under; the DLQ has it.
        if let Some(job) = &job {
            self.log_event(job, &outcome, msg).await;
        }
        let source = job.as_ref().map_or("unknown", |j| j.source().as_str());
        metrics::counter!("jobs_processed", "source" => source, "outcome" => outcome_dimension(&outcome))
            .increment(1);
        tracing::Span::current().record("outcome", outcome.kind().as_str());
        tracing::info!(
            message_id = %message_id,
            job_id = job.as_ref().map(SyncJob::id),
            contact = job.as_ref().map(|j| j.contact_key().to_string()),
            outcome = %outcome.kind(),
            skip_reason = outcome.skip_reason().map(SkipReason::as_str),
            reason = outcome.reason(),
            http_status = outcome.http_status(),
            "job processed"
        );
        RecordResult {
            message_id,
            job_id: job.as_ref().map(|j| j.id().to_string()),
            outcome,
            failed,
        }
    }

    /// Applies the outcome to the queue; returns whether the record is a batch item failure.
    async fn settle(&self, msg: &SqsMessage, job: Option<&SyncJob>, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Synced { .. } | Outcome::Skipped(_) | Outcome::Stored { .. } => false,
            Outcome::Retry { after, .. } => {
                let delay = retry_delay(self.retry, event::receive_count(msg), *after);
                if let Some(handle) = &msg.receipt_handle
                    && let Err(e) = self.redelivery.retry_later(handle, delay).await
                {
                    tracing::warn!(error = %e, "could not delay the retry; the queue's visibility timeout applies");
                }
                true
            }
            Outcome::Defer { after, .. } => self.defer(msg, job, *after).await,
            // Weighed before settling; one that was not waits like a first deferral.
            Outcome::CredentialsRejected { .. } => self.defer(msg, job, self.retry.base).await,
            Outcome::Park {
                reason,
                status,
                excerpt,
            } => {
                let parked = Parked {
                    job_id: job.map(|j| j.id().to_string()).unwrap_or_default(),
                    source: job.map_or("unknown", |j| j.source().as_str()).to_string(),
                    contact: job.map(|j| j.contact_key().to_string()).unwrap_or_default(),
                    reason: reason.clone(),
                    http_status: *status,
                    response_excerpt: excerpt.clone(),
                    replay_count: event::replay_count(msg),
                };
                match self
                    .redelivery
                    .park(msg.body.as_deref().unwrap_or(""), &parked)
                    .await
                {
                    Ok(()) => false,
                    Err(e) => {
                        // Not parked: leave it on the queue, whose redrive policy parks it later.
                        tracing::error!(error = %e, "could not park the job; it stays on the queue");
                        true
                    }
                }
            }
        }
    }
}

impl Consumer {
    /// Turns a refusal of leadsync's credentials into a wait or, once the job has waited long
    /// enough, a park ([`credentials::wait_or_park`]), and counts it.
    fn weigh_credentials(&self, outcome: Outcome, msg: &SqsMessage) -> Outcome {
        if let Outcome::CredentialsRejected {
            service, status, ..
        } = &outcome
        {
            metrics::counter!("credentials_rejected", "api" => crate::ports::remote::credentials_api(service))
                .increment(1);
            tracing::error!(
                service,
                status,
                "leadsync's credentials were refused; the job waits for them to be fixed"
            );
        }
        let (since, deferrals) = event::deferral(msg);
        credentials::wait_or_park(outcome, since, deferrals, self.clock.now_ms(), &self.retry)
    }

    /// Sends a job that was not attempted back as a new message, so waiting out an outage or a
    /// busy contact does not count towards `maxReceiveCount`. Past the deferral budget, or if
    /// the send fails, it is retried in place like any transient failure. Returns whether the
    /// record is a batch item failure.
    async fn defer(&self, msg: &SqsMessage, job: Option<&SyncJob>, after: Duration) -> bool {
        let now = self.clock.now();
        let (since, deferrals) = event::deferral(msg);
        let since = since.unwrap_or(now.get());
        let within_budget = now.get() - since < self.retry.defer_for.as_millis() as i64;
        if let Some(job) = job.filter(|_| within_budget) {
            let deferred = Deferred {
                job_id: job.id().to_string(),
                source: job.source().to_string(),
                replay_count: event::replay_count(msg),
                deferred_since_ms: since,
                deferrals: deferrals + 1,
            };
            let body = msg.body.as_deref().unwrap_or("");
            // Jittered, so jobs deferred together do not all come back in the same second.
            let jitter = rand::random_range(0..=after.as_millis().max(1000) as u64 / 2);
            let delay = after + Duration::from_millis(jitter);
            match self.redelivery.defer(body, &deferred, delay).await {
                Ok(()) => return false,
                Err(e) => {
                    tracing::warn!(error = %e, "could not defer the job; retrying it in place")
                }
            }
        }
        let delay = retry_delay(self.retry, event::receive_count(msg), Some(after));
        if let Some(handle) = &msg.receipt_handle
            && let Err(e) = self.redelivery.retry_later(handle, delay).await
        {
            tracing::warn!(error = %e, "could not delay the retry; the queue's visibility timeout applies");
        }
        true
    }
}

/// The span every line about one record is written in: the job, its source, the contact as its
/// [`ContactKey::log_hash`](crate::domain::contact::ContactKey::log_hash) (never its id, phone, email or
/// name) and, once settled, the outcome. An unreadable job has only the outcome.
fn record_span(job: Option<&SyncJob>) -> tracing::Span {
    tracing::info_span!(
        "record",
        job_id = job.map(SyncJob::id),
        source = job.map(|j| j.source().as_str()),
        contact = job.map(|j| j.contact_key().log_hash()),
        outcome = tracing::field::Empty,
    )
}

/// The `batchItemFailures` answer for these results.
pub fn batch_response(results: &[RecordResult]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for r in results.iter().filter(|r| r.failed) {
        response.add_failure(r.message_id.clone());
    }
    response
}

/// What one settled record says about the pipeline: how long a change took to apply (from its
/// arrival, and from the source's own time when it has one), and why a job was skipped.
fn record_outcome_metrics(job: &SyncJob, outcome: &Outcome, now: Millis) {
    let now = now.get();
    match outcome {
        Outcome::Synced { .. } => {
            metrics::histogram!("sync_latency_ms", "source" => job.source().as_str())
                .record((now - job.received_at_ms()).max(0) as f64);
            if let Some(version) = job.changed_at_ms() {
                metrics::histogram!("source_to_applied_ms", "source" => job.source().as_str())
                    .record((now - version).max(0) as f64);
            }
        }
        Outcome::Skipped(reason) => {
            metrics::counter!("jobs_skipped", "source" => job.source().as_str(), "reason" => reason.as_str())
                .increment(1);
        }
        _ => {}
    }
}

/// The `outcome` dimension of `jobs_processed`: [`Outcome::kind`].
pub fn outcome_dimension(o: &Outcome) -> &'static str {
    o.kind().as_str()
}

/// The wait before attempt `attempt + 1`: `base × 2^(attempt-1)`, capped at `max`, with jitter
/// in its upper half, and never shorter than the server's `Retry-After`.
pub fn retry_delay(policy: RetryPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let ceiling = policy.base.saturating_mul(1u32 << exp).min(policy.max);
    let jittered = if ceiling.is_zero() {
        ceiling
    } else {
        let half = ceiling / 2;
        half + Duration::from_millis(rand::random_range(0..=half.as_millis() as u64))
    };
    jittered
        .max(retry_after.unwrap_or_default())
        .min(policy.max.max(retry_after.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line written in a record's span, in the functions' JSON format.
    fn line_in_record_span(job: &SyncJob, outcome: &Outcome) -> serde_json::Value {
        #[derive(Clone, Default)]
        struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logs =
            crate::aws::telemetry::json_logs(crate::aws::telemetry::log_filter(None), move || {
                writer.clone()
            });
        tracing::subscriber::with_default(logs, || {
            let _entered = record_span(Some(job)).entered();
            tracing::Span::current().record("outcome", outcome.kind().as_str());
            tracing::info!("job processed");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        serde_json::from_str(text.trim()).unwrap()
    }

    #[test]
    fn a_records_lines_name_its_job_source_outcome_and_contact_hash_never_the_contact_id() {
        let job = SyncJob::new(crate::sources::ghl::job::GhlContactJob {
            job_id: "ghl:w1".into(),
            location_id: "loc1".into(),
            contact_id: "contact42".into(),
            trigger: crate::sources::ghl::job::GhlTrigger::ContactTagUpdate,
            version_ms: None,
            received_at_ms: 1_000,
            arrival: None,
            payload: "{}".into(),
        });
        let retry = Outcome::Retry {
            reason: "CallTools: HTTP 503".into(),
            after: None,
        };
        let line = line_in_record_span(&job, &retry);
        let span = &line["span"];
        assert_eq!(span["name"], "record");
        assert_eq!(span["job_id"], "ghl:w1");
        assert_eq!(span["source"], "ghl");
        assert_eq!(span["outcome"], "retried");
        let hash = crate::domain::contact::ContactKey::ghl("loc1", "contact42").log_hash();
        assert_eq!(span["contact"], hash.as_str());
        assert_eq!(hash.len(), 12);
        assert!(!span.to_string().contains("contact42"), "{span}");
    }

    #[test]
    fn retry_delays_grow_with_jitter_and_honour_retry_after() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(900),
            defer_for: Duration::from_secs(86_400),
            auth_wait: Duration::from_secs(14_400),
        };
        for attempt in 1..=12 {
            let ceiling = Duration::from_secs((10u64 << (attempt - 1)).min(900));
            let d = retry_delay(p, attempt, None);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
        assert!(retry_delay(p, 1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
    }
}
