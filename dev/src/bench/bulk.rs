//! Bulk tagging on the local stack: N contacts tagged at once, as a user selecting a list in GHL
//! and adding "cold lead" would, first with the Marketplace webhook alone, then with the workflow
//! webhook too. The limit is the CallTools request budget the consumer is configured with: a new
//! contact on a merge account costs one CallTools call, so N contacts cannot be dialable sooner
//! than N ÷ budget. GHL must keep up (one read per contact, at most 98 per 10 s) without a 429.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use super::harness::Harness;
use super::progress;
use leadsync_local::StackOptions;
use leadsync_sandbox::DuplicateMode;

/// Time to dialable within this multiple of the budget-limited ideal (issue 19, target 2).
pub const TARGET_RATIO: f64 = 1.1;
/// How many tag requests the "user" has in flight at once.
const TAGGING_CONCURRENCY: usize = 50;
/// GHL webhooks the sandbox has on the wire at once. Unbounded, 2,000 webhooks at once made
/// the local stack's moto (one Python process) time out ingress's DynamoDB calls, and ingress
/// answered 429 to most: a limit of moto, not of DynamoDB or leadsync. GHL's own parallelism is
/// not documented.
pub const DELIVERY_CONCURRENCY: usize = 20;
/// How often the sandbox's CallTools is counted while the contacts become dialable.
const COUNT_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Serialize)]
pub struct BulkRun {
    /// `marketplace` (one webhook per tag) or `marketplace + workflow` (two).
    pub webhooks: &'static str,
    pub contacts: usize,
    /// Webhooks ingress accepted during the run.
    pub webhooks_delivered: usize,
    /// From the first tag request to the last contact in its bucket.
    pub secs: f64,
    /// contacts ÷ the CallTools budget: the soonest the dialer's rate limit allows.
    pub ideal_secs: f64,
    pub ratio: f64,
    pub target_ratio: f64,
    pub pass: bool,
    /// GHL contact reads, per contact.
    pub ghl_reads_per_contact: f64,
    /// GHL answers 429 (target 0).
    pub ghl_429s: u32,
    /// CallTools calls, per contact (target 1: a create on a merge account).
    pub calltools_per_contact: f64,
    /// Phones in the bucket more than once (target 0).
    pub duplicates: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BulkFigure {
    /// `CALLTOOLS_MAX_REQUESTS_PER_SECOND` of the local stack's consumer.
    pub calltools_budget_per_sec: u32,
    /// GHL webhooks the sandbox had on the wire at once.
    pub delivery_concurrency: usize,
    pub runs: Vec<BulkRun>,
}

pub async fn measure(moto_url: &str, contacts: usize) -> Result<BulkFigure> {
    let mut runs = Vec::new();
    let mut budget = 0;
    for (webhooks, workflow) in [("marketplace", false), ("marketplace + workflow", true)] {
        progress(&format!(
            "bulk tagging: {contacts} contacts at once, {webhooks}"
        ));
        let h = Harness::start_options(
            if workflow { "bulk-both" } else { "bulk-one" },
            StackOptions {
                moto_url: Some(moto_url.to_string()),
                duplicate_mode: DuplicateMode::MergeByPhone,
                workflow_webhook: workflow,
                ghl_delivery_concurrency: Some(DELIVERY_CONCURRENCY),
                ..StackOptions::default()
            },
        )
        .await?;
        budget = h
            .stack
            .config
            .calltools
            .max_requests_per_second
            .map_or(0, |n| n.get());
        let measured = run(&h, webhooks, contacts, budget).await;
        h.stop().await;
        runs.push(measured?);
    }
    Ok(BulkFigure {
        calltools_budget_per_sec: budget,
        delivery_concurrency: DELIVERY_CONCURRENCY,
        runs,
    })
}

async fn run(h: &Harness, webhooks: &'static str, n: usize, budget: u32) -> Result<BulkRun> {
    if budget == 0 {
        bail!("the bulk figure needs a CallTools budget (CALLTOOLS_MAX_REQUESTS_PER_SECOND > 0)");
    }
    let sandbox = h.sandbox_client();
    // Imported contacts are untagged and GHL sends no webhook for them: only the tags count.
    let imported = sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/contacts/import",
            Some(json!({"count": n, "tags": []})),
        )
        .await?;
    let ids: Vec<String> = serde_json::from_value(imported["ids"].clone())
        .context("the sandbox's import answered no ids")?;
    h.clear_call_logs().await?;
    sandbox
        .call(Method::DELETE, "/_sandbox/ghl/deliveries", None)
        .await?;

    let mark = h.mark();
    let started = Instant::now();
    let tagged: Vec<Result<()>> = futures::stream::iter(ids.iter())
        .map(|id| h.tag_cold_lead(id))
        .buffer_unordered(TAGGING_CONCURRENCY)
        .collect()
        .await;
    tagged.into_iter().collect::<Result<Vec<()>>>()?;
    let ideal = n as f64 / f64::from(budget);
    let limit = Duration::from_secs_f64(ideal * 3.0 + 60.0);
    let mut phones: HashMap<String, usize>;
    loop {
        phones = h.dialable_phones().await?;
        if phones.len() >= n {
            break;
        }
        if started.elapsed() > limit {
            bail!(
                "{} of {n} bulk-tagged contacts were dialable after {limit:?}",
                phones.len()
            );
        }
        tokio::time::sleep(COUNT_POLL).await;
    }
    let secs = started.elapsed().as_secs_f64();
    h.settle_both_ways().await?;

    let calls = h.calls(mark).await?;
    let delivered = sandbox
        .call(Method::GET, "/_sandbox/ghl/deliveries", None)
        .await?["deliveries"]
        .as_array()
        .map_or(0, |d| {
            d.iter()
                .filter(|x| x["status"].as_u64().is_some_and(|s| s < 300))
                .count()
        });
    let phones = h.dialable_phones().await?;
    let ratio = secs / ideal;
    Ok(BulkRun {
        webhooks,
        contacts: n,
        webhooks_delivered: delivered,
        secs,
        ideal_secs: ideal,
        ratio,
        target_ratio: TARGET_RATIO,
        pass: ratio <= TARGET_RATIO,
        ghl_reads_per_contact: f64::from(calls.ghl_reads) / n as f64,
        ghl_429s: calls.ghl_429s,
        calltools_per_contact: f64::from(calls.calltools) / n as f64,
        duplicates: phones.values().filter(|&&k| k > 1).count(),
    })
}
