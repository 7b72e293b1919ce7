//! `leadsync-dev bench` (`make bench`): the figures that say whether leadsync is fast and frugal,
//! each printed beside a limit measured in the same run on the same machine. Machines are shared
//! and noisy, so an absolute time means little on its own; a ratio to a same-run limit holds.
//!
//! * in-process ingress throughput and latency, against raw signature verification (per scheme);
//! * CallTools and GHL API calls per contact, end to end on the local stack, against the targets
//!   and the figures of the documents leadsync grew from;
//! * tag → dialable latency on the local stack, against the stack's own floor;
//! * release binary sizes, and ingress cold start against parsing its two keys;
//! * each function's real binary through a Lambda Runtime API: process start → first answer
//!   beside an empty Rust function, and peak memory under load;
//! * bulk tagging: 1,000 contacts tagged at once, time to all dialable against the CallTools
//!   request budget's ideal, GHL reads and 429s, duplicates;
//! * the backfill over 50,000 contacts: GHL calls against ceil(N/500), wall time against paging
//!   alone, CallTools calls when nothing changed, jobs per changed contact;
//! * call outcomes back to GoHighLevel: hook → GHL updated against the same kind of floor, GHL
//!   calls per disposition, CallTools reads per hook.

mod backfill;
mod bulk;
mod harness;
mod ingress;
mod lambda;
mod meta_ingress;
mod outcomes;
mod report;
mod requests;
mod stack;
mod startup;

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use leadsync_local::moto::Moto;

pub use ingress::IngressFigure;
pub use report::print_table;
pub use stack::{CallsFigure, CallsScenario, LatencyFigure};
pub use startup::{BinaryFigure, ColdStartFigure};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BenchArgs {
    /// Small sizes for a smoke test: every figure, none of them meaningful.
    #[arg(long)]
    pub quick: bool,
    /// Requests per round of the in-process ingress benchmark.
    #[arg(long, value_name = "N")]
    pub requests: Option<usize>,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measure one part alone, on a moto of its own, and print its figure as JSON: for working
    /// on one figure without the whole run. Its figures are not the benchmark's.
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Option<Part>,
}

/// The parts `--only` can measure alone.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Part {
    /// Ingress in-process against raw signature verification (section 1); needs no moto.
    Ingress,
    /// Cold start, warm invocation and memory through the Lambda Runtime API (section 4).
    Lambda,
    /// Bulk tagging (section 8).
    Bulk,
    /// The backfill over unchanged contacts (section 5).
    Backfill,
}

/// How much work each part does.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Requests per round, in-process.
    pub requests: usize,
    /// Rounds over all the requests, per scheme.
    pub rounds: usize,
    /// Contacts for the latency and unchanged scenarios on the local stack.
    pub latency_contacts: usize,
    /// Contacts for the changed and lookup-account scenarios.
    pub contacts: usize,
    /// Repetitions of the cold-start build and of the key parse, and cold starts per function
    /// through the Runtime API.
    pub cold_starts: usize,
    /// Invocations of load (webhooks; jobs in batches of ten) before a function's peak memory.
    pub lambda_load: usize,
    /// GHL contacts the backfill reads, and how many of them change without a webhook.
    pub backfill_contacts: usize,
    pub backfill_changed: usize,
    /// Contacts tagged at once in the bulk-tagging figure (per webhook setup).
    pub bulk_contacts: usize,
}

impl Sizes {
    pub fn from_args(args: &BenchArgs) -> Self {
        let base = if args.quick {
            Sizes {
                requests: 100,
                rounds: 2,
                latency_contacts: 3,
                contacts: 2,
                cold_starts: 3,
                lambda_load: 10,
                backfill_contacts: 1_000,
                backfill_changed: 10,
                bulk_contacts: 20,
            }
        } else {
            Sizes {
                requests: 2000,
                rounds: 5,
                latency_contacts: 20,
                contacts: 5,
                cold_starts: 20,
                lambda_load: 100,
                backfill_contacts: 50_000,
                backfill_changed: 500,
                bulk_contacts: 1_000,
            }
        };
        Sizes {
            requests: args.requests.unwrap_or(base.requests).max(1),
            ..base
        }
    }
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub sizes: Sizes,
    pub ingress: Vec<IngressFigure>,
    pub calls: CallsFigure,
    pub latency: LatencyFigure,
    pub binaries: Vec<BinaryFigure>,
    pub cold_start: ColdStartFigure,
    pub lambda: lambda::LambdaColdStarts,
    pub backfill: backfill::BackfillFigure,
    pub bulk: bulk::BulkFigure,
    pub meta_ingress: meta_ingress::MetaIngressFigure,
    pub outcomes: outcomes::OutcomesFigure,
    pub attacks: crate::attacks::AttackTable,
}

pub async fn run(args: BenchArgs) -> Result<()> {
    if let Some(part) = args.only {
        let figure = measure_part(part, Sizes::from_args(&args)).await?;
        println!("{}", serde_json::to_string_pretty(&figure)?);
        return Ok(());
    }
    let report = measure(Sizes::from_args(&args)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Runs every part. The CPU-bound in-process part goes first, before the local stack's pollers
/// keep moto busy.
pub async fn measure(sizes: Sizes) -> Result<Report> {
    let binaries = startup::binaries();
    let moto = start_moto().await?;
    progress("cold start");
    let cold_start = startup::cold_start(&moto.url, sizes.cold_starts).await?;
    progress("in-process ingress (signing the requests first)");
    let ingress = measure_ingress(sizes).await?;
    progress("in-process Meta ingress");
    let meta_ingress = tokio::task::spawn_blocking(move || {
        meta_ingress::measure((sizes.requests / 10).max(8), sizes.rounds)
    })
    .await??;
    let lambda = measure_lambda(&moto, sizes).await?;
    progress("local stack");
    let (calls, latency) = stack::measure(&moto.url, sizes).await?;
    let bulk = measure_bulk(&moto, sizes).await?;
    progress("backfill");
    let backfill = measure_backfill(&moto, sizes).await?;
    let outcomes = outcomes::measure(&moto.url, sizes.latency_contacts, sizes.contacts).await?;
    progress("attack suite");
    let attacks = attack_suite(&moto.url).await?;
    Ok(Report {
        attacks,
        outcomes,
        meta_ingress,
        backfill,
        bulk,
        sizes,
        ingress,
        calls,
        latency,
        binaries,
        cold_start,
        lambda,
    })
}

/// One part alone (`--only`), as JSON; each that needs moto on a moto of its own.
pub async fn measure_part(part: Part, sizes: Sizes) -> Result<serde_json::Value> {
    Ok(match part {
        Part::Ingress => serde_json::to_value(measure_ingress(sizes).await?)?,
        Part::Lambda => serde_json::to_value(measure_lambda(&start_moto().await?, sizes).await?)?,
        Part::Bulk => serde_json::to_value(measure_bulk(&start_moto().await?, sizes).await?)?,
        Part::Backfill => {
            serde_json::to_value(measure_backfill(&start_moto().await?, sizes).await?)?
        }
    })
}

async fn start_moto() -> Result<Moto> {
    progress("starting moto");
    tokio::task::spawn_blocking(Moto::start)
        .await?
        .context("starting moto (run `make venv` first)")
}

// The parts `--only` measures alone, called the same way by the full run.
async fn measure_ingress(sizes: Sizes) -> Result<Vec<ingress::IngressFigure>> {
    tokio::task::spawn_blocking(move || ingress::measure(sizes.requests, sizes.rounds)).await?
}

async fn measure_lambda(moto: &Moto, sizes: Sizes) -> Result<lambda::LambdaColdStarts> {
    lambda::measure(&moto.url, sizes.cold_starts, sizes.lambda_load).await
}

async fn measure_bulk(moto: &Moto, sizes: Sizes) -> Result<bulk::BulkFigure> {
    bulk::measure(&moto.url, sizes.bulk_contacts).await
}

async fn measure_backfill(moto: &Moto, sizes: Sizes) -> Result<backfill::BackfillFigure> {
    backfill::measure(&moto.url, sizes.backfill_contacts, sizes.backfill_changed).await
}

/// The attack suite against a stack of its own, with no consumer: what it queued stays to be
/// counted.
async fn attack_suite(moto_url: &str) -> Result<crate::attacks::AttackTable> {
    let stack = leadsync_local::Stack::start(leadsync_local::StackOptions {
        stack_name: format!("bench-{}-attacks", std::process::id()),
        moto_url: Some(moto_url.to_string()),
        start_consumer: false,
        ..leadsync_local::StackOptions::default()
    })
    .await
    .context("starting the attack suite's local stack")?;
    let table = crate::attacks::run(&stack).await;
    stack.stop().await;
    table
}

/// Progress goes to stderr so `--json` output stays clean.
fn progress(what: &str) {
    eprintln!("bench: {what}…");
}

/// Percentile of a sorted, non-empty slice of durations.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
