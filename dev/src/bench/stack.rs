//! End to end on the local stack (moto + sandbox + the real handlers): API calls per contact
//! for new, changed and unchanged contacts, counted from the sandbox's own call logs, and
//! tag → dialable latency beside the stack's own floor.
//!
//! Contacts go through one at a time, each step waiting until its jobs are final and the queue
//! is drained, so every logged call belongs to the contact at hand.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::harness::{Calls, Harness};
use super::{Sizes, ms, progress};
use leadsync_sandbox::DuplicateMode;

/// How often the sandbox's CallTools is polled while waiting for a contact to become dialable.
const DIALABLE_POLL: Duration = Duration::from_millis(5);
/// One GHL read per contact and step, however many of GHL's webhooks announced the change.
const GHL_READS_PER_CONTACT: u32 = 1;
/// A tag → dialable time worth explaining on stderr: this much beyond the batching window.
const SLOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize)]
pub struct CallsScenario {
    pub scenario: &'static str,
    /// The CallTools account's duplicate handling: `merge` (by phone) or `lookup`.
    pub account: &'static str,
    pub contacts: usize,
    pub calltools_mean: f64,
    pub calltools_max: u32,
    pub target_max: u32,
    pub pass: bool,
    pub ghl_mean: f64,
    pub ghl_max: u32,
    /// GHL calls per contact (issue 19: one read per tagged lead with both webhooks on).
    pub ghl_target_max: u32,
    pub ghl_pass: bool,
    /// Consumer records that ended in a retry, over all contacts of the scenario (a retry costs
    /// time and an SQS receive, not necessarily an API call).
    pub retries: u32,
    /// The first seed document: ~3 calls per contact (1 GHL read + 2 CallTools).
    pub seed_doc_calls: &'static str,
    /// The public implementation (research §6 #1), calls per contact, where known.
    pub public_impl_calls: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallsFigure {
    pub scenarios: Vec<CallsScenario>,
    /// `GET /api/buckets/` once per cold start of a consumer, per account; not per contact.
    pub bucket_lookups_merge: u32,
    pub bucket_lookups_lookup: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigure {
    pub contacts: usize,
    pub tag_to_dialable_p50_ms: f64,
    pub tag_to_dialable_p99_ms: f64,
    pub tag_to_dialable_max_ms: f64,
    /// One signed webhook delivery to ingress answered 202 (verify, DynamoDB ledger write, SQS
    /// send on moto), p50 over the unchanged-scenario redeliveries.
    pub webhook_round_trip_p50_ms: f64,
    /// One moto SQS receive of a waiting message, p50.
    pub sqs_receive_p50_ms: f64,
    /// The consumer's `MaximumBatchingWindowInSeconds` (template.yaml): with fewer records than
    /// a full batch, Lambda invokes only once the window has passed, locally as in AWS.
    pub batching_window_ms: f64,
    /// `webhook_round_trip_p50_ms + sqs_receive_p50_ms + batching_window_ms`: the soonest a
    /// consumer can hold the job.
    pub floor_p50_ms: f64,
    /// `tag_to_dialable_p50_ms / floor_p50_ms`.
    pub ratio_p50: f64,
    /// The first seed document's expectation for tag → dialable.
    pub seed_doc: &'static str,
}

pub async fn measure(moto_url: &str, sizes: Sizes) -> Result<(CallsFigure, LatencyFigure)> {
    let merge = Harness::start(moto_url, "merge", DuplicateMode::MergeByPhone).await?;
    let measured = merge_account(&merge, sizes).await;
    merge.stop().await;
    let (mut scenarios, merge_buckets, latency) = measured?;

    progress("local stack, lookup-mode account");
    let lookup = Harness::start(moto_url, "lookup", DuplicateMode::AllowDuplicates).await?;
    let measured = new_contacts(&lookup, sizes.contacts, "Lookup").await;
    lookup.stop().await;
    let (calls, _) = measured?;
    scenarios.insert(1, scenario("new", "lookup", 2, &calls, Some(5)));
    Ok((
        CallsFigure {
            scenarios,
            bucket_lookups_merge: merge_buckets,
            bucket_lookups_lookup: calls.iter().map(|c| c.bucket_lookups).sum(),
        },
        latency,
    ))
}

async fn merge_account(
    h: &Harness,
    sizes: Sizes,
) -> Result<(Vec<CallsScenario>, u32, LatencyFigure)> {
    progress("local stack, new contacts (tag → dialable)");
    let (new, latencies) = new_contacts(h, sizes.latency_contacts, "Merge").await?;
    let bucket_lookups = new.iter().map(|c| c.bucket_lookups).sum();

    progress("local stack, changed contacts");
    let mut changed = Vec::new();
    for (i, (id, _)) in latencies.iter().take(sizes.contacts).enumerate() {
        h.clear_call_logs().await?;
        let mark = h.mark();
        h.rename(id, &format!("Renamed{i}")).await?;
        h.settle(mark, 1).await?;
        changed.push(h.calls(mark).await?);
    }

    progress("local stack, unchanged contacts");
    let mut unchanged = Vec::new();
    let mut round_trips = Vec::new();
    for (id, _) in &latencies {
        h.clear_call_logs().await?;
        let mark = h.mark();
        round_trips.push(h.redeliver_unchanged(id).await?);
        h.settle(mark, 1).await?;
        unchanged.push(h.calls(mark).await?);
    }

    progress("local stack, floor");
    let receives = h.sqs_receive_round_trips(sizes.latency_contacts).await?;
    let dialable: Vec<Duration> = latencies.iter().map(|(_, d)| *d).collect();
    let latency = latency_figure(&dialable, &round_trips, &receives, h.batching_window());
    let scenarios = vec![
        scenario("new", "merge", 1, &new, Some(5)),
        scenario("changed", "merge", 1, &changed, None),
        scenario("unchanged", "merge", 0, &unchanged, Some(5)),
    ];
    Ok((scenarios, bucket_lookups, latency))
}

/// Creates `n` untagged contacts one by one, tags each "cold lead", times it to dialable and
/// counts what the tag cost. Returns the calls and, per contact, its id and latency.
async fn new_contacts(
    h: &Harness,
    n: usize,
    name: &str,
) -> Result<(Vec<Calls>, Vec<(String, Duration)>)> {
    let mut calls = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let phone = format!("+1415555{:04}", 100 + i);
        let id = h.create_contact(&format!("{name}{i}"), &phone).await?;
        h.clear_call_logs().await?;
        let mark = h.mark();
        let started = Instant::now();
        h.tag_cold_lead(&id).await?;
        while !h.dialable(&phone).await? {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("contact {id} ({phone}) was not dialable within 60 s");
            }
            tokio::time::sleep(DIALABLE_POLL).await;
        }
        let latency = started.elapsed();
        // ContactTagUpdate and the workflow webhook: two jobs.
        h.settle(mark, 2).await?;
        let spent = h.calls(mark).await?;
        if latency > h.batching_window() + SLOW {
            progress(&format!(
                "contact {id} took {} ms to become dialable:\n    {}",
                latency.as_millis(),
                spent.detail.join("\n    ")
            ));
        }
        calls.push(spent);
        latencies.push((id, latency));
    }
    Ok((calls, latencies))
}

fn scenario(
    name: &'static str,
    account: &'static str,
    target_max: u32,
    calls: &[Calls],
    public_impl_calls: Option<u32>,
) -> CallsScenario {
    let mean = |f: fn(&Calls) -> u32| {
        if calls.is_empty() {
            0.0
        } else {
            calls.iter().map(|c| f64::from(f(c))).sum::<f64>() / calls.len() as f64
        }
    };
    let max = |f: fn(&Calls) -> u32| calls.iter().map(f).max().unwrap_or(0);
    let calltools_max = max(|c| c.calltools);
    let ghl_max = max(|c| c.ghl);
    for (i, c) in calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.calltools > target_max)
    {
        progress(&format!(
            "{name} contact #{i} ({account} account) cost {} CallTools calls, target ≤ {target_max}:\n    {}",
            c.calltools,
            c.detail.join("\n    ")
        ));
    }
    CallsScenario {
        scenario: name,
        account,
        contacts: calls.len(),
        calltools_mean: mean(|c| c.calltools),
        calltools_max,
        target_max,
        pass: calltools_max <= target_max,
        ghl_mean: mean(|c| c.ghl),
        ghl_max,
        ghl_target_max: GHL_READS_PER_CONTACT,
        ghl_pass: ghl_max <= GHL_READS_PER_CONTACT,
        retries: calls.iter().map(|c| c.retries).sum(),
        seed_doc_calls: "~3",
        public_impl_calls,
    }
}

fn latency_figure(
    dialable: &[Duration],
    round_trips: &[Duration],
    receives: &[Duration],
    window: Duration,
) -> LatencyFigure {
    let hist = |samples: &[Duration]| {
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid");
        for d in samples {
            h.saturating_record(d.as_micros() as u64);
        }
        h
    };
    let q = |h: &Histogram<u64>, q: f64| ms(Duration::from_micros(h.value_at_quantile(q)));
    let dialable = hist(dialable);
    let webhook = q(&hist(round_trips), 0.5);
    let sqs = q(&hist(receives), 0.5);
    let floor = webhook + sqs + ms(window);
    let p50 = q(&dialable, 0.5);
    LatencyFigure {
        contacts: dialable.len() as usize,
        tag_to_dialable_p50_ms: p50,
        tag_to_dialable_p99_ms: q(&dialable, 0.99),
        tag_to_dialable_max_ms: ms(Duration::from_micros(dialable.max())),
        webhook_round_trip_p50_ms: webhook,
        sqs_receive_p50_ms: sqs,
        batching_window_ms: ms(window),
        floor_p50_ms: floor,
        ratio_p50: if floor > 0.0 { p50 / floor } else { 0.0 },
        seed_doc: "2-4 s",
    }
}
