//! The ledger test: thousands of GHL webhooks through the whole local stack while GHL delivers
//! some twice and some late and CallTools fails in every way it can, then proof that each one
//! ended exactly once as synced, skipped (with a reason) or parked (with a reason), that
//! CallTools holds one up-to-date contact per phone (out of the bucket for the contacts whose
//! tag was removed or that were deleted, and none that matches no GHL contact), and that only
//! the phones CallTools refuses are still parked after `leadsync dlq replay`. The played
//! CallTools account allows duplicate phones ([`DUPLICATE_MODE`]), so a second create would
//! show as a second contact instead of being merged away.
//!
//! `leadsync-dev ledger` runs it on its own stack (`make ledger`); the end-to-end tests run a
//! smaller one on theirs.

pub mod account;
pub mod cpu;
pub mod render;
pub mod timing;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use leadsync::aws::dynamo::events::DynamoEventLog;
use reqwest::Method;
use serde_json::{Value, json};

pub use account::{Ledger, Observed, account};
use leadsync_cli::dlq::{self, Filter, ReplayOptions};
use leadsync_local::Stack;
use leadsync_local::moto::{requests_answered, requests_between};
use leadsync_sandbox::{DuplicateMode, SandboxClient};
pub use timing::Timing;
use workload::{Ending, PlannedContact, TAG};

#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// About this many webhooks are sent (the plan rounds to whole contacts).
    pub webhooks: usize,
    /// CallTools answers nothing but 503 for this long, starting after 30 % of the changes.
    pub outage: Duration,
    pub seed: u64,
    /// GHL changes made side by side.
    pub concurrency: usize,
    /// GHL changes per second (each sends one to three webhooks).
    pub rate: NonZeroU32,
    /// GHL API requests per 10 s the played account allows; `None` is GHL's documented 100.
    /// A run at scale raises it with `rate`, and leadsync's own GHL pace with it
    /// ([`stack_settings`]).
    pub ghl_burst: Option<NonZeroUsize>,
    /// moto's process, when the stack shares one it did not start (the tests' moto), so the
    /// run can say how much CPU moto used.
    pub moto_pid: Option<u32>,
    /// How long the queue may take to drain (each time).
    pub drain_timeout: Duration,
    pub show_progress: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            webhooks: 10_000,
            outage: Duration::from_secs(60),
            seed: 7,
            concurrency: 8,
            rate: NonZeroU32::new(4).expect("non-zero"),
            ghl_burst: None,
            moto_pid: None,
            drain_timeout: Duration::from_secs(900),
            show_progress: false,
        }
    }
}

/// Configuration the ledger stack runs with: a CallTools timeout shorter than the sandbox's
/// injected hang, a breaker that probes every few seconds, and CallTools spacing loose enough
/// for thousands of contacts in minutes (GHL keeps its real 100 requests per 10 s unless
/// [`stack_settings`] raises it).
pub const STACK_SETTINGS: [(&str, &str); 3] = [
    ("CALLTOOLS_TIMEOUT_MS", "2000"),
    ("LEADSYNC_BREAKER_RECOVERY_SECS", "5"),
    ("CALLTOOLS_MAX_REQUESTS_PER_SECOND", "50"),
];

/// [`STACK_SETTINGS`], with leadsync's GHL pace matching a raised GHL burst limit (a tenth of
/// it per second, as for the documented 100 per 10 s).
pub fn stack_settings(ghl_burst: Option<NonZeroUsize>) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = STACK_SETTINGS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(burst) = ghl_burst {
        let per_sec = (burst.get() / 10).max(1);
        settings.push(("GHL_MAX_REQUESTS_PER_SECOND".into(), per_sec.to_string()));
    }
    settings
}

/// The CallTools account the ledger plays: one that creates a second contact for a known phone
/// (leadsync then looks up by phone before it creates). An account that merges by phone would
/// hide every duplicate create the run made.
pub const DUPLICATE_MODE: DuplicateMode = DuplicateMode::AllowDuplicates;

/// The injected CallTools failures, without or with the outage.
fn faults(seed: u64, rejected: &BTreeSet<String>, outage: Option<Duration>) -> Value {
    json!({
        "rate_429": 0.10,
        "rate_5xx": 0.05,
        "rate_timeout": 0.01,
        "timeout_ms": 3_000,
        "retry_after_secs": 1,
        "seed": seed,
        "reject_phones": rejected,
        "outage_for_ms": outage.map_or(0, |o| o.as_millis() as u64),
    })
}

fn phase(opts: &LedgerOptions, what: &str) {
    if opts.show_progress {
        eprintln!("ledger: {what}");
    }
}

fn bar(opts: &LedgerOptions, len: u64) -> ProgressBar {
    if !opts.show_progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("  {bar:40} {pos}/{len} GHL changes ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs the ledger on `stack` (which must use the sandbox) and balances it.
pub async fn run(stack: &Stack, opts: &LedgerOptions) -> Result<Ledger> {
    let sandbox_url = stack
        .sandbox_url()
        .context("the ledger needs the sandbox (unset GHL_API_BASE_URL / CALLTOOLS_BASE_URL)")?;
    if stack.config.calltools.duplicate_mode != leadsync::app::config::DuplicateMode::Lookup {
        bail!("the ledger needs a CallTools account that allows duplicates ({DUPLICATE_MODE:?})");
    }
    let sandbox = SandboxClient::new(reqwest::Client::new(), sandbox_url);
    let contacts = workload::plan(opts.webhooks, opts.seed);
    let rejected: BTreeSet<String> = contacts
        .iter()
        .filter(|c| c.rejected)
        .map(|c| c.phone.clone())
        .collect();

    sandbox
        .call(
            Method::POST,
            "/_sandbox/calltools/faults",
            Some(faults(opts.seed, &rejected, None)),
        )
        .await?;
    if let Some(burst) = opts.ghl_burst {
        sandbox.ghl_account(json!({ "burst_limit": burst })).await?;
    }
    sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/delivery",
            Some(json!({
                "duplicate_rate": 0.10,
                "reorder_rate": 0.05,
                "reorder_delay_ms": 1_500,
                "seed": opts.seed,
            })),
        )
        .await?;

    phase(
        opts,
        &format!(
            "{} contacts, about {} webhooks; CallTools outage of {} s after 30 %",
            contacts.len(),
            opts.webhooks,
            opts.outage.as_secs()
        ),
    );
    let moto_pid = stack.moto_pid().or(opts.moto_pid);
    let cpu_now = || (moto_pid.and_then(cpu::of_process), cpu::of_this_process());
    let cpu_before = cpu_now();
    // Best effort, like the CPU: a moto started elsewhere may not count its requests.
    let requests_before = requests_answered(&stack.moto_url).await.ok();
    let started = Instant::now();
    let changes = workload::operations(&contacts);
    let progress = bar(opts, changes);
    let split = contacts.len() * 3 / 10;
    let pace = governor::RateLimiter::direct(governor::Quota::per_second(opts.rate));
    let mut played = workload::play_all(
        &sandbox,
        &contacts[..split],
        opts.concurrency,
        &pace,
        &progress,
    )
    .await?;
    sandbox
        .call(
            Method::POST,
            "/_sandbox/calltools/faults",
            Some(faults(opts.seed + 1, &rejected, Some(opts.outage))),
        )
        .await?;
    played.extend(
        workload::play_all(
            &sandbox,
            &contacts[split..],
            opts.concurrency,
            &pace,
            &progress,
        )
        .await?,
    );
    progress.finish_and_clear();
    let changes_secs = started.elapsed().as_secs_f64();
    let delivered_while_changing = delivery_count(&sandbox).await?;

    phase(opts, "waiting for GHL's deliveries and the queue to drain");
    deliveries_settled(&sandbox).await?;
    drained(stack, opts.drain_timeout).await?;
    let drained_at = started.elapsed().as_secs_f64();
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let (queue, dead) = (&stack.resources.queue_url, &stack.resources.dlq_url);
    let parked_before = dlq::list(&sqs, dead, &Filter::default()).await?.selected;

    phase(
        opts,
        &format!("replaying {} parked jobs", parked_before.len()),
    );
    let replay = dlq::replay(
        &sqs,
        queue,
        dead,
        &Filter::default(),
        ReplayOptions {
            rate: NonZeroU32::new(100).expect("non-zero"),
            dry_run: false,
        },
        &ProgressBar::hidden(),
    )
    .await?;
    drained(stack, opts.drain_timeout).await?;
    let elapsed = started.elapsed();
    let cpu_after = cpu_now();
    let requests_after = requests_answered(&stack.moto_url).await.ok();

    phase(opts, "balancing");
    let observed = observe(
        stack,
        &sandbox,
        &played,
        rejected,
        parked_before,
        replay.replayed,
    )
    .await?;
    let mut ledger = account(&observed);
    ledger.elapsed_secs = elapsed.as_secs_f64();
    ledger.timing = Timing {
        changes,
        paced_at: opts.rate.get(),
        delivered_while_changing,
        changes_secs,
        drain_secs: drained_at - changes_secs,
        replay_secs: ledger.elapsed_secs - drained_at,
        balance_secs: (started.elapsed() - elapsed).as_secs_f64(),
        moto_cpu_secs: cpu::used(cpu_before.0, cpu_after.0),
        own_cpu_secs: cpu::used(cpu_before.1, cpu_after.1),
        aws_requests: match (requests_before, requests_after) {
            (Some(before), Some(after)) => requests_between(&before, &after),
            _ => BTreeMap::new(),
        },
    };
    Ok(ledger)
}

/// Everything the balance needs, read from the sandbox, the event log and the DLQ.
async fn observe(
    stack: &Stack,
    sandbox: &SandboxClient,
    played: &[(PlannedContact, String)],
    rejected_phones: BTreeSet<String>,
    parked_before: Vec<dlq::ParkedMessage>,
    replayed: usize,
) -> Result<Observed> {
    let list = |path: &'static str, key: &'static str| async move {
        let v = sandbox.call(Method::GET, path, None).await?;
        anyhow::Ok(v[key].as_array().cloned().unwrap_or_default())
    };
    let deliveries = list("/_sandbox/ghl/deliveries", "deliveries")
        .await?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<account::Delivery>, _>>()?;
    let ended = |ending| played.iter().filter(move |(c, _)| c.ending == ending);
    let deleted: BTreeMap<String, String> = ended(Ending::Deleted)
        .map(|(c, id)| (c.phone.clone(), id.clone()))
        .collect();
    let ghl_contacts = list("/_sandbox/ghl/contacts", "contacts").await?;
    if ghl_contacts.len() + deleted.len() != played.len() {
        bail!(
            "GHL holds {} contacts, the plan made {} and deleted {}",
            ghl_contacts.len(),
            played.len(),
            deleted.len()
        );
    }
    let log = DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.resources.table,
    );
    // One scan, not a query per contact: moto answers an index query by reading the whole
    // table, which for thousands of contacts takes an hour.
    let events = log.all_events().await?;
    let info = sandbox.call(Method::GET, "/_sandbox/info", None).await?;
    let bucket = info["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["name"] == "Cold Leads")
        .and_then(|b| b["id"].as_i64())
        .context("the sandbox has no Cold Leads bucket")?;
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    Ok(Observed {
        deliveries,
        events,
        ghl_contacts,
        calltools_contacts: list("/_sandbox/calltools/contacts", "contacts").await?,
        rejected_phones,
        untagged_phones: ended(Ending::Untagged)
            .map(|(c, _)| c.phone.clone())
            .collect(),
        deleted,
        bucket,
        tag: TAG.into(),
        parked_before,
        parked_after: dlq::list(&sqs, &stack.resources.dlq_url, &Filter::default())
            .await?
            .selected,
        replayed,
        calltools_calls: sandbox.calls("calltools").await?,
        ghl_calls: sandbox.calls("ghl").await?.len(),
    })
}

/// Delivery attempts the sandbox's GHL has made so far.
async fn delivery_count(sandbox: &SandboxClient) -> Result<usize> {
    Ok(sandbox
        .call(Method::GET, "/_sandbox/ghl/deliveries", None)
        .await?["deliveries"]
        .as_array()
        .map_or(0, Vec::len))
}

/// Waits until GHL has stopped delivering: no new delivery for 3 s (held-back ones included).
async fn deliveries_settled(sandbox: &SandboxClient) -> Result<()> {
    let mut last = usize::MAX;
    let mut quiet_since = Instant::now();
    loop {
        let n = delivery_count(sandbox).await?;
        if n != last {
            last = n;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(3) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the queue has been empty on two reads a second apart.
async fn drained(stack: &Stack, limit: Duration) -> Result<()> {
    let start = Instant::now();
    let mut empty_reads = 0;
    while empty_reads < 2 {
        if start.elapsed() > limit {
            bail!(
                "the queue still holds {} messages after {limit:?}",
                stack.queue_depth(&stack.resources.queue_url).await?
            );
        }
        empty_reads = if stack.queue_depth(&stack.resources.queue_url).await? == 0 {
            empty_reads + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}
