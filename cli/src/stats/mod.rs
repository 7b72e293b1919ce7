//! `leadsync stats`: the numbers a person asks for first, from the stack's CloudWatch metrics
//! (`GetMetricData`), its backfill runs (the state table) and its dead-letter queue.

pub mod html;
pub mod metrics;
pub mod render;

use std::collections::BTreeMap;

use anyhow::Result;
use leadsync::aws::dynamo::backfill::DynamoCheckpoints;
use leadsync::backfill::{Checkpoints, Run};
use serde::Serialize;

use crate::dlq;
use crate::target::queue_depth;
use metrics::{Reading, StackMetrics};

/// How many finished backfill runs per source the report shows.
const RUNS_SHOWN: usize = 3;

/// Where a stack's numbers are: its metrics, its table, its queues and the accounts it syncs.
pub struct Target {
    pub metrics: StackMetrics,
    pub sqs: aws_sdk_sqs::Client,
    pub dlq_url: Option<String>,
    pub queue_url: Option<String>,
    pub checkpoints: Option<DynamoCheckpoints>,
    /// (source, account) pairs whose backfill runs to show.
    pub accounts: Vec<(String, String)>,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub stack: String,
    pub since_ms: i64,
    pub until_ms: i64,
    /// Per source.
    pub webhooks: BTreeMap<String, Webhooks>,
    /// Per source.
    pub jobs: BTreeMap<String, Jobs>,
    /// Contacts leadsync created, per source and origin (`webhook` or `backfill`): for GHL,
    /// first written to CallTools; for Messenger and Instagram, first stored.
    pub contacts_created: BTreeMap<String, BTreeMap<String, u64>>,
    /// Webhook received → applied, per source.
    pub sync_latency_ms: BTreeMap<String, Latency>,
    /// Per sink (`calltools`).
    pub sinks: BTreeMap<String, Sink>,
    pub backfill: Backfill,
    pub queues: Queues,
}

#[derive(Debug, Default, Serialize)]
pub struct Webhooks {
    pub received: u64,
    pub verified: u64,
    pub enqueued: u64,
    pub duplicate: u64,
    pub ignored: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Accepted (enqueued, duplicate or ignored) out of received; `None` with nothing received.
    pub success_rate: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Jobs {
    pub by_outcome: BTreeMap<String, u64>,
    pub skipped_by_reason: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Sink {
    pub calls: u64,
    /// Contacts the sink audit found no longer as leadsync left them (metric `sink_drift`).
    pub drift: u64,
    pub responses_by_class: BTreeMap<String, u64>,
    /// Answers other than 2xx out of all answers; `None` with no answers.
    pub error_rate: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Backfill {
    /// Per source: the largest drift one run reported in the window (metric `backfill_drift`).
    pub max_drift: BTreeMap<String, u64>,
    /// Per source: runs that finished in the window.
    pub runs_finished: BTreeMap<String, u64>,
    /// The last finished runs per source, newest first, from the state table.
    pub last_runs: Vec<RunView>,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub source: String,
    pub account: String,
    pub finished_at_ms: Option<i64>,
    pub status: String,
    pub seen: u64,
    /// Contacts the run found missing or changed: what the webhooks missed.
    pub drift: u64,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Queues {
    /// Jobs waiting or in flight.
    pub jobs: Option<u64>,
    pub dlq_depth: Option<u64>,
    /// Seconds since the oldest parked job was parked.
    pub dlq_oldest_age_secs: Option<u64>,
}

/// Reads everything for `[since_ms, until_ms)`.
pub async fn collect(target: &Target, since_ms: i64, until_ms: i64) -> Result<Stats> {
    let readings = target.metrics.read(since_ms, until_ms).await?;
    let mut stats = from_readings(&readings);
    stats.stack = target.metrics.service.clone();
    stats.since_ms = since_ms;
    stats.until_ms = until_ms;
    if let Some(checkpoints) = &target.checkpoints {
        for (source, account) in &target.accounts {
            for run in checkpoints.history(source, account, RUNS_SHOWN).await? {
                stats.backfill.last_runs.push(RunView::from(run));
            }
        }
    }
    stats.queues = queues(target, until_ms).await?;
    Ok(stats)
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            source: r.source,
            account: r.account,
            finished_at_ms: r.finished_at_ms,
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            seen: r.seen,
            drift: r.enqueued,
            error: r.error,
        }
    }
}

/// The report's numbers from the metric readings alone.
pub fn from_readings(readings: &[Reading]) -> Stats {
    let mut s = Stats::default();
    for r in readings {
        let Some(value) = r.total() else { continue };
        let n = value.round().max(0.0) as u64;
        let source = r.dim("source").to_string();
        match (r.name.as_str(), r.stat) {
            ("webhooks_received", _) => s.webhooks.entry(source).or_default().received += n,
            ("webhooks_verified", _) => s.webhooks.entry(source).or_default().verified += n,
            ("webhooks_enqueued", _) => s.webhooks.entry(source).or_default().enqueued += n,
            ("webhooks_duplicate", _) => s.webhooks.entry(source).or_default().duplicate += n,
            ("webhooks_ignored", _) => s.webhooks.entry(source).or_default().ignored += n,
            ("webhooks_rejected", _) => {
                let w = s.webhooks.entry(source).or_default();
                w.rejected += n;
                *w.rejected_by_reason
                    .entry(r.dim("reason").to_string())
                    .or_default() += n;
            }
            ("jobs_processed", _) => {
                *s.jobs
                    .entry(source)
                    .or_default()
                    .by_outcome
                    .entry(r.dim("outcome").to_string())
                    .or_default() += n;
            }
            ("jobs_skipped", _) => {
                *s.jobs
                    .entry(source)
                    .or_default()
                    .skipped_by_reason
                    .entry(r.dim("reason").to_string())
                    .or_default() += n;
            }
            ("contacts_created", _) => {
                *s.contacts_created
                    .entry(source)
                    .or_default()
                    .entry(r.dim("origin").to_string())
                    .or_default() += n;
            }
            ("sync_latency_ms", stat) => {
                let l = s.sync_latency_ms.entry(source).or_default();
                match stat {
                    "SampleCount" => l.count += n,
                    "p50" => l.p50 = Some(value),
                    "p95" => l.p95 = Some(value),
                    "p99" => l.p99 = Some(value),
                    _ => {}
                }
            }
            ("sink_calls", _) => s.sinks.entry(r.dim("sink").to_string()).or_default().calls += n,
            ("sink_drift", _) => s.sinks.entry(r.dim("sink").to_string()).or_default().drift += n,
            ("sink_responses", _) => {
                *s.sinks
                    .entry(r.dim("sink").to_string())
                    .or_default()
                    .responses_by_class
                    .entry(r.dim("class").to_string())
                    .or_default() += n;
            }
            ("backfill_drift", _) => {
                let d = s.backfill.max_drift.entry(source).or_default();
                *d = (*d).max(n);
            }
            ("backfill_duration_ms", "SampleCount") => {
                *s.backfill.runs_finished.entry(source).or_default() += n;
            }
            _ => {}
        }
    }
    for w in s.webhooks.values_mut() {
        w.success_rate = ratio(w.enqueued + w.duplicate + w.ignored, w.received);
    }
    for sink in s.sinks.values_mut() {
        let total: u64 = sink.responses_by_class.values().sum();
        let ok = sink.responses_by_class.get("2xx").copied().unwrap_or(0);
        sink.error_rate = ratio(total - ok, total);
    }
    s
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

async fn queues(target: &Target, now_ms: i64) -> Result<Queues> {
    let mut q = Queues::default();
    if let Some(url) = &target.queue_url {
        q.jobs = Some(queue_depth(&target.sqs, url).await?);
    }
    if let Some(url) = &target.dlq_url {
        let depth = queue_depth(&target.sqs, url).await?;
        q.dlq_depth = Some(depth);
        if depth > 0 {
            // Each parked job says when it was parked; reading them leaves the DLQ as it was.
            let listing = dlq::list(&target.sqs, url, &dlq::Filter::default()).await?;
            q.dlq_oldest_age_secs = listing
                .selected
                .iter()
                .filter_map(|m| m.parked_at_ms)
                .min()
                .map(|at| ((now_ms - at).max(0) / 1000) as u64);
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(name: &str, dims: &[(&str, &str)], stat: &'static str, value: f64) -> Reading {
        Reading {
            name: name.into(),
            dims: dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            stat,
            points: vec![(0, value)],
        }
    }

    #[test]
    fn readings_become_the_report_with_rates() {
        let s = from_readings(&[
            reading("webhooks_received", &[("source", "ghl")], "Sum", 10.0),
            reading("webhooks_enqueued", &[("source", "ghl")], "Sum", 7.0),
            reading("webhooks_duplicate", &[("source", "ghl")], "Sum", 1.0),
            reading(
                "webhooks_rejected",
                &[("source", "ghl"), ("reason", "signature_invalid")],
                "Sum",
                2.0,
            ),
            reading(
                "sink_responses",
                &[("sink", "calltools"), ("class", "2xx")],
                "Sum",
                9.0,
            ),
            reading(
                "sink_responses",
                &[("sink", "calltools"), ("class", "4xx")],
                "Sum",
                1.0,
            ),
            reading("sync_latency_ms", &[("source", "ghl")], "p99", 120.5),
            reading("sync_latency_ms", &[("source", "ghl")], "SampleCount", 8.0),
            reading("backfill_drift", &[("source", "ghl")], "Maximum", 4.0),
            reading("sink_drift", &[("sink", "calltools")], "Sum", 3.0),
        ]);
        let w = &s.webhooks["ghl"];
        assert_eq!((w.received, w.rejected), (10, 2));
        assert_eq!(w.rejected_by_reason["signature_invalid"], 2);
        assert_eq!(w.success_rate, Some(0.8));
        assert_eq!(s.sinks["calltools"].error_rate, Some(0.1));
        assert_eq!(s.sync_latency_ms["ghl"].p99, Some(120.5));
        assert_eq!(s.sync_latency_ms["ghl"].count, 8);
        assert_eq!(s.backfill.max_drift["ghl"], 4);
        assert_eq!(s.sinks["calltools"].drift, 3);
        assert!(
            crate::stats::render::text(&s).contains("drift found by the audit 3"),
            "{}",
            crate::stats::render::text(&s)
        );
    }

    #[test]
    fn nothing_received_has_no_rate_rather_than_a_made_up_one() {
        let s = from_readings(&[reading("sink_calls", &[("sink", "calltools")], "Sum", 0.0)]);
        assert!(s.webhooks.is_empty());
        assert_eq!(s.sinks["calltools"].error_rate, None);
    }
}
