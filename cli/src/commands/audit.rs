//! `leadsync audit`: does CallTools still hold what leadsync placed there? Reads every contact
//! leadsync created or found in CallTools (its stored states) back from CallTools, and lists the
//! ones deleted there or taken out of a bucket leadsync put them in. Each GHL one is then put
//! back through the pipeline (`--report`: only listed): an `Audit` job on the queue, which the
//! consumer runs under the contact's lease — it looks at CallTools again, reads the contact from
//! GHL, and writes only what the rules still want. A contact that lost its tag is not put back.
//!
//! Cost per 10,000 placed contacts, at the configured request rate: one read each, 10,000 calls,
//! about 33 minutes at 5 requests per second; with `CALLTOOLS_BUCKET_FILTER=honoured` (`leadsync
//! doctor` says whether the account honours it) each bucket is listed, 40 calls per bucket, and
//! only the contacts missing from their buckets' listings are read back.

use std::time::Instant;

use anyhow::{Context, Result};
use leadsync::app::config::BucketFilter;
use leadsync::aws::dynamo::DynamoStore;
use leadsync::aws::sqs::SqsQueue;
use leadsync::domain::clock::now_ms;
use leadsync::domain::contact::ContactKey;
use leadsync::domain::job::SyncJob;
use leadsync::domain::sink::SinkId;
use leadsync::domain::source::Source;
use leadsync::ports::queue::JobQueue;
use leadsync::ports::store::StateScan;
use leadsync::sinks::calltools::audit::listing::{AuditCursor, Fallback, RunListing, recorded};
use leadsync::sinks::calltools::audit::{Drift, drift};
use leadsync::sinks::calltools::client::CallToolsApi;
use leadsync::sources::ghl::job::GhlContactJob;
use serde::Serialize;
use serde_json::json;

use crate::target::Target;

/// Contact states read per DynamoDB page.
const PAGE: i32 = 200;

#[derive(clap::Args, Debug, Default)]
pub struct AuditArgs {
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many placed contacts (a sample); all of them by default.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Only list the drift; put nothing back.
    #[arg(long)]
    pub report: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct AuditReport {
    /// Contact states read.
    pub states: u64,
    /// Of them, contacts leadsync placed in CallTools: each listed in its buckets or read back.
    pub checked: u64,
    /// CallTools calls: bucket listing pages, and contacts read back one by one.
    pub listing_calls: u64,
    pub reads: u64,
    /// Why the contacts were read back although the bucket filter is configured honoured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub drifted: Vec<Drifted>,
    /// Contacts whose CallTools read failed (not counted as drift), and the last failure.
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drifted {
    /// `source:account:contact`, as `leadsync trace` takes it.
    pub contact: String,
    #[serde(skip)]
    pub key: ContactKey,
    pub calltools_id: i64,
    pub kind: &'static str,
    /// The buckets it was taken out of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<i64>,
    /// The job that puts it back, when one was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair_job: Option<String>,
}

/// The jobs that put the drifted GHL contacts back: one `Audit` job each. Contacts of other
/// sources are listed, not repaired (their sources have no audit job yet).
pub fn repair_jobs(report: &mut AuditReport, now_ms: i64) -> Vec<SyncJob> {
    let mut jobs = Vec::new();
    for d in &mut report.drifted {
        let key = d.key.clone();
        if key.source != Source::Ghl {
            continue;
        }
        let job_id = format!("audit:{now_ms}:{}", key.id);
        d.repair_job = Some(job_id.clone());
        let note = json!({"audit": d.kind, "calltools_id": d.calltools_id, "buckets": d.buckets});
        jobs.push(SyncJob::new(GhlContactJob::audit(
            &key,
            job_id,
            now_ms,
            note.to_string(),
        )));
    }
    jobs
}

/// Compares the placed contacts with CallTools: with `filter` honoured, each bucket they were
/// placed in is listed and only the ones missing from it are read back; otherwise each is read.
pub async fn audit(
    store: &DynamoStore,
    calltools: &leadsync::sinks::calltools::client::CallToolsClient,
    filter: BucketFilter,
    limit: Option<u64>,
) -> Result<AuditReport> {
    let started = Instant::now();
    let mut report = AuditReport::default();
    let mut listing = (filter == BucketFilter::Honoured)
        .then(|| RunListing::begin("leadsync audit", &AuditCursor::default()));
    let mut cursor = None;
    'pages: loop {
        let page = store
            .states_page(cursor.as_ref(), PAGE)
            .await
            .context("reading the contact states")?;
        if let Some(l) = listing.as_mut() {
            let placed = page.states.iter().map(|(_, s)| s.sink(SinkId::CallTools));
            list_buckets(l, calltools, &recorded(placed), &mut report).await?;
        }
        for (key, state) in page.states {
            report.states += 1;
            let entry = state.sink(SinkId::CallTools);
            let Some(id) = entry.id else { continue };
            if limit.is_some_and(|l| report.checked >= l) {
                break 'pages;
            }
            report.checked += 1;
            if listing
                .as_ref()
                .is_some_and(|l| l.reads.is_none() && l.holds(entry))
            {
                continue;
            }
            report.reads += 1;
            let observed = match calltools.get_contact(id).await {
                Ok(observed) => observed,
                Err(e) => {
                    report.errors += 1;
                    report.last_error = Some(e.to_string());
                    continue;
                }
            };
            if let Some(d) = drift(entry, observed.as_ref()) {
                report.drifted.push(Drifted {
                    contact: key.to_string(),
                    key: key.clone(),
                    calltools_id: id,
                    kind: d.kind(),
                    buckets: match d {
                        Drift::OutOfBuckets(b) => b.into_iter().collect(),
                        Drift::Deleted | Drift::OptedOut => Vec::new(),
                    },
                    repair_job: None,
                });
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Lists each of `buckets` not listed yet, to the end; stops listing for good at a page that
/// shows a contact outside its bucket (the filter is not honoured).
async fn list_buckets(
    listing: &mut RunListing,
    calltools: &leadsync::sinks::calltools::client::CallToolsClient,
    buckets: &std::collections::BTreeSet<i64>,
    report: &mut AuditReport,
) -> Result<()> {
    while listing.reads.is_none()
        && let Some(bucket) = listing.unlisted(buckets)
    {
        let page = calltools
            .contacts_in_bucket(bucket, listing.next_page(bucket))
            .await
            .with_context(|| format!("listing the contacts of bucket {bucket}"))?;
        report.listing_calls += 1;
        if listing.take(bucket, page).is_err() {
            listing.reads = Some(Fallback::FilterIgnored);
            report.fallback = Some(Fallback::FilterIgnored.warning());
        }
    }
    Ok(())
}

pub async fn run(args: AuditArgs, target: &Target) -> Result<()> {
    let cfg = crate::doctor::config(target).await?;
    let calltools = crate::doctor::calltools_client(&cfg)
        .map_err(|c| anyhow::anyhow!("{}: {}", c.summary, c.fix.unwrap_or_default()))?;
    let (dynamodb, table) = super::state_table(target).await?;
    let store = DynamoStore::new(dynamodb, table);
    let mut report = audit(&store, &calltools, cfg.calltools.bucket_filter, args.limit).await?;
    let mut sent = 0;
    if !args.report {
        let jobs = repair_jobs(&mut report, now_ms());
        if !jobs.is_empty() {
            let queue_url = target
                .queue_url()
                .context("putting contacts back needs the job queue: --queue-url or LEADSYNC_QUEUE_URL (or --report)")?;
            let queue = SqsQueue::new(
                aws_sdk_sqs::Client::new(&target.aws().await),
                queue_url,
                target.dlq_url().map(str::to_string),
            );
            queue
                .enqueue_batch(&jobs)
                .await
                .context("sending the repair jobs")?;
            sent = jobs.len();
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!(report))?);
    } else {
        print!("{}", render(&report));
    }
    if sent > 0 {
        println!(
            "{sent} contacts sent to be put back; `leadsync trace CONTACT` shows each one's Audit job"
        );
        return Ok(());
    }
    if !report.drifted.is_empty() {
        anyhow::bail!(
            "{} contacts drifted in CallTools; `leadsync trace CONTACT` shows what leadsync applied",
            report.drifted.len()
        );
    }
    Ok(())
}

pub fn render(r: &AuditReport) -> String {
    let mut out = String::new();
    for d in &r.drifted {
        let what = match d.kind {
            "deleted" => "deleted in CallTools".to_string(),
            _ => format!(
                "out of bucket{} {}",
                if d.buckets.len() == 1 { "" } else { "s" },
                d.buckets
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push_str(&format!(
            "{}  CallTools {}  {what}\n",
            d.contact, d.calltools_id
        ));
    }
    let count = |kind: &str| r.drifted.iter().filter(|d| d.kind == kind).count();
    out.push_str(&format!(
        "{} placed contacts compared with CallTools ({} states; {} listing calls, {} read back) in {:.1} s: {} drifted ({} deleted, {} out of a bucket), {} unreadable\n",
        r.checked,
        r.states,
        r.listing_calls,
        r.reads,
        r.seconds,
        r.drifted.len(),
        count("deleted"),
        count("out_of_bucket"),
        r.errors
    ));
    if let Some(why) = &r.fallback {
        out.push_str(&format!("{why}\n"));
    }
    if let Some(e) = &r.last_error {
        out.push_str(&format!("the last unreadable: {e}\n"));
    }
    out
}
