//! `leadsync`: the operator command.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "leadsync",
    version,
    about = "Operate leadsync: run it locally, play the external APIs, inspect and replay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline on this machine (moto + sandbox + handlers).
    Local {
        #[command(subcommand)]
        command: leadsync_cli::commands::local::LocalCommand,
    },
    /// Tag a new sandbox contact "cold lead" and show it arriving in the CallTools bucket.
    Demo(leadsync_cli::commands::demo::DemoArgs),
    /// Run only the sandbox that plays GoHighLevel and CallTools.
    Sandbox(leadsync_sandbox::SandboxArgs),
    /// Write the sample events in events/ (signed with the sandbox test keys).
    Events(leadsync_cli::commands::events::EventsArgs),
    /// The dead-letter queue: list, show and replay parked jobs.
    Dlq(leadsync_cli::commands::dlq::DlqArgs),
    /// One contact's state and event log: did we sync it, and what happened to each change?
    Trace(leadsync_cli::commands::trace::TraceArgs),
    /// The scheduled backfill: start a run now, or see the last runs.
    Backfill(leadsync_cli::commands::backfill::BackfillArgs),
    /// Messenger / Instagram: `meta check` tells whether the app is still subscribed to the Page.
    Meta(leadsync_cli::commands::meta::MetaArgs),
    /// The numbers first asked for: webhook success, jobs, latency, CallTools errors, drift, DLQ.
    Stats(leadsync_cli::commands::stats::StatsArgs),
    /// The ledger test: thousands of webhooks under injected failures, every one accounted for.
    Ledger(leadsync_cli::commands::ledger::LedgerArgs),
    /// Measure throughput, API calls per contact, latency and cold start (`make bench`).
    Bench(leadsync_cli::bench::BenchArgs),
}

/// An error ends the command with one line on stderr — what failed and each cause, never a
/// `Debug` dump — and exit status 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .init();
    match run(Cli::parse().command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "leadsync: {}",
                leadsync::support::error_line::error_line(e.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Local { command } => leadsync_cli::commands::local::run(command).await,
        Command::Demo(args) => leadsync_cli::commands::demo::run(args).await,
        Command::Sandbox(args) => leadsync_sandbox::run(args).await,
        Command::Bench(args) => leadsync_cli::bench::run(args).await,
        Command::Stats(args) => leadsync_cli::commands::stats::run(args).await,
        Command::Trace(args) => leadsync_cli::commands::trace::run(args).await,
        Command::Events(args) => leadsync_cli::commands::events::run(args),
        Command::Dlq(args) => leadsync_cli::commands::dlq::run(args).await,
        Command::Ledger(args) => leadsync_cli::commands::ledger::run(args).await,
        Command::Backfill(args) => leadsync_cli::commands::backfill::run(args).await,
        Command::Meta(args) => leadsync_cli::commands::meta::run(args).await,
    }
}
