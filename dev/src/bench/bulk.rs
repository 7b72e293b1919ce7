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
    /// Where the time went: when CallTools was busy, and how often a job was sent back to wait.
    pub pace: Pace,
    /// The contacts read more than once, and why.
    pub second_reads: SecondReads,
}

/// Contacts GHL was asked for more than once in a run, and how many of them had a webhook
/// answered after their first read began. A read cannot be known to include a change notified
/// after it started (GHL stamps webhooks in whole seconds and sends no change id), so such a
/// second read can be what "synced means observed" costs. The count is a correlation, an upper
/// bound: it does not tell which job made the second read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecondReads {
    pub contacts: usize,
    pub notified_after_first_read: usize,
}

/// The CallTools calls of a run on its clock (seconds from the first tag request): a run within
/// its ideal keeps CallTools busy from soon after the first tag to the last contact.
#[derive(Debug, Clone, Serialize)]
pub struct Pace {
    /// First CallTools call (the bucket lookup aside).
    pub first_call_secs: f64,
    /// Last CallTools call.
    pub last_call_secs: f64,
    /// The longest time without a CallTools call between the two.
    pub longest_gap_secs: f64,
    /// CallTools calls per second between the first and the last.
    pub calls_per_sec: f64,
    /// Records sent back to wait (`Defer`: their contact or job busy in another invocation, or
    /// a vendor asking to slow down); a job deferred twice counts twice.
    pub deferrals: usize,
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
    let started_at = time::OffsetDateTime::now_utc();
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
    let deliveries = sandbox
        .call(Method::GET, "/_sandbox/ghl/deliveries", None)
        .await?;
    let deliveries = deliveries["deliveries"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let delivered = deliveries.iter().filter(|d| answered(d)).count();
    let phones = h.dialable_phones().await?;
    let ratio = secs / ideal;
    let deferrals = h
        .results_since(mark)
        .iter()
        .filter(|r| matches!(r.outcome, leadsync::domain::outcome::Outcome::Defer { .. }))
        .count();
    let pace = pace(&sandbox.calls("calltools").await?, started_at, deferrals)?;
    let second_reads = second_reads(&sandbox.calls("ghl").await?, deliveries)?;
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
        pace,
        second_reads,
    })
}

/// [`Pace`] from the sandbox's CallTools call log (each call's `at`, RFC 3339).
fn pace(
    calls: &[serde_json::Value],
    started_at: time::OffsetDateTime,
    deferrals: usize,
) -> Result<Pace> {
    let mut secs = calls
        .iter()
        .filter(|c| {
            !(c["method"] == "GET"
                && c["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/api/buckets")))
        })
        .map(|c| instant(&c["at"]).map(|t| (t - started_at).as_seconds_f64()))
        .collect::<Result<Vec<f64>>>()?;
    secs.sort_by(f64::total_cmp);
    let (Some(&first), Some(&last)) = (secs.first(), secs.last()) else {
        bail!("the run made no CallTools call");
    };
    let longest_gap_secs = secs.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    Ok(Pace {
        first_call_secs: first,
        last_call_secs: last,
        longest_gap_secs,
        calls_per_sec: if last > first {
            (secs.len() - 1) as f64 / (last - first)
        } else {
            0.0
        },
        deferrals,
    })
}

/// A delivery ingress accepted (2xx): one that could have numbered a job.
fn answered(delivery: &serde_json::Value) -> bool {
    delivery["status"].as_u64().is_some_and(|s| s < 300)
}

/// A sandbox log entry's `at` (RFC 3339).
fn instant(v: &serde_json::Value) -> Result<time::OffsetDateTime> {
    let at = v.as_str().unwrap_or_default();
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("a sandbox log time {at:?}"))
}

/// [`SecondReads`] from the sandbox's GHL call log (`GET /contacts/{id}`, each with its `at`)
/// and its webhook deliveries (`contactId`, `status`, `at`: when the answer came back).
fn second_reads(
    ghl_calls: &[serde_json::Value],
    deliveries: &[serde_json::Value],
) -> Result<SecondReads> {
    let mut reads: HashMap<&str, Vec<time::OffsetDateTime>> = HashMap::new();
    for c in ghl_calls.iter().filter(|c| c["method"] == "GET") {
        if let Some(id) = c["path"]
            .as_str()
            .and_then(|p| p.strip_prefix("/contacts/"))
        {
            reads.entry(id).or_default().push(instant(&c["at"])?);
        }
    }
    let mut out = SecondReads::default();
    for (id, times) in reads.iter().filter(|(_, t)| t.len() > 1) {
        let Some(first) = times.iter().min() else {
            continue;
        };
        out.contacts += 1;
        let answered = deliveries
            .iter()
            .filter(|d| d["contactId"] == *id && answered(d))
            .map(|d| instant(&d["at"]))
            .collect::<Result<Vec<_>>>()?;
        if answered.iter().any(|at| at > first) {
            out.notified_after_first_read += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(id: &str, at: &str) -> serde_json::Value {
        json!({"method": "GET", "path": format!("/contacts/{id}"), "at": at})
    }

    fn delivery(id: &str, status: u16, at: &str) -> serde_json::Value {
        json!({"contactId": id, "status": status, "at": at})
    }

    #[test]
    fn a_second_read_is_explained_only_by_a_webhook_answered_after_the_first_read() {
        let calls = [
            // Read twice; its second webhook came back after the first read began.
            read("a", "2026-12-07T10:00:01.000Z"),
            read("a", "2026-12-07T10:00:05.000Z"),
            // Read twice with every webhook answered before: waste.
            read("b", "2026-12-07T10:00:02.000Z"),
            read("b", "2026-12-07T10:00:06.000Z"),
            // Read once.
            read("c", "2026-12-07T10:00:03.000Z"),
            json!({"method": "PUT", "path": "/contacts/c", "at": "2026-12-07T10:00:04.000Z"}),
        ];
        let deliveries = [
            delivery("a", 202, "2026-12-07T10:00:00.500Z"),
            delivery("a", 202, "2026-12-07T10:00:02.500Z"),
            delivery("b", 202, "2026-12-07T10:00:01.000Z"),
            delivery("b", 202, "2026-12-07T10:00:01.900Z"),
            // A refused delivery numbered nothing.
            delivery("b", 429, "2026-12-07T10:00:03.000Z"),
        ];
        assert_eq!(
            second_reads(&calls, &deliveries).unwrap(),
            SecondReads {
                contacts: 2,
                notified_after_first_read: 1
            }
        );
    }
}
