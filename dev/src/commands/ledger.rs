//! `leadsync-dev ledger`: the ledger test on a stack of its own (`make ledger`). Exits non-zero
//! when the ledger does not balance.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::ledger::{self, LedgerOptions};
use leadsync_local::{Stack, StackOptions};
use leadsync_sandbox::GHL_DOCUMENTED_BURST;

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// About this many GHL webhooks (rounded to whole contacts).
    #[arg(long, default_value_t = 10_000)]
    pub webhooks: usize,
    /// How long CallTools is down, starting after 30 % of the GHL changes.
    #[arg(long, default_value_t = 60)]
    pub outage_secs: u64,
    /// Seed of the plan and of the injected failures; the same seed plans the same run.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// GHL changes made side by side.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// GHL changes per second (each sends one to three webhooks). moto, the local stand-in
    /// for AWS, sets the limit: on a 2-core machine it settles about 9 jobs per second, and
    /// at 12 changes per second it is over 90 % busy; faster, ingress's calls to it time out.
    #[arg(long, default_value_t = 4)]
    pub rate: u32,
    /// GHL API requests per 10 s the sandbox's GHL allows (at least 10), and leadsync's GHL
    /// pace with it (a tenth per second). GHL documents 100 per app per location; a run faster
    /// than about 7 changes per second raises it, so that it measures leadsync, not GHL's budget.
    #[arg(long, default_value_t = GHL_DOCUMENTED_BURST, value_parser = at_least_ten)]
    pub ghl_requests_per_10s: usize,
    /// Print the ledger as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Below 10 per 10 s, leadsync's GHL pace (whole requests per second) would outrun the limit.
fn at_least_ten(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 10 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 10")),
    }
}

pub async fn run(args: LedgerArgs) -> Result<()> {
    // GHL's documented limit is the sandbox's default: nothing to raise.
    let ghl_burst = std::num::NonZeroUsize::new(args.ghl_requests_per_10s)
        .filter(|b| b.get() != GHL_DOCUMENTED_BURST);
    let stack = Stack::start(StackOptions {
        stack_name: "leadsync-ledger".into(),
        settings: ledger::stack_settings(ghl_burst).into_iter().collect(),
        ghl_retry_interval: Duration::from_secs(2),
        duplicate_mode: ledger::DUPLICATE_MODE,
        ..StackOptions::default()
    })
    .await?;
    let opts = LedgerOptions {
        webhooks: args.webhooks,
        outage: Duration::from_secs(args.outage_secs),
        seed: args.seed,
        concurrency: args.concurrency,
        rate: std::num::NonZeroU32::new(args.rate).context("--rate must be at least 1")?,
        ghl_burst,
        show_progress: !args.json && std::io::stderr().is_terminal(),
        ..LedgerOptions::default()
    };
    let result = ledger::run(&stack, &opts).await;
    stack.stop().await;
    let l = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&l)?);
    } else {
        println!(
            "ledger: about {} webhooks, seed {}, CallTools outage {} s, GHL {} requests per 10 s\n{}",
            args.webhooks,
            args.seed,
            args.outage_secs,
            args.ghl_requests_per_10s,
            ledger::render::render(&l)
        );
    }
    if !l.balances() {
        bail!("the ledger does not balance");
    }
    Ok(())
}
