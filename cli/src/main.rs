//! `leadsync`: the operator command.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "leadsync",
    version,
    about = "Operate leadsync: inspect, replay and backfill a stack"
)]
struct Cli {
    #[command(flatten)]
    target: leadsync_cli::target::TargetArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The dead-letter queue: list, show and replay parked jobs.
    Dlq(leadsync_cli::commands::dlq::DlqArgs),
    /// One contact's state and event log: did we sync it, and what happened to each change?
    Trace(leadsync_cli::commands::trace::TraceArgs),
    /// The scheduled backfill: start a run now, or see the last runs.
    Backfill(leadsync_cli::commands::backfill::BackfillArgs),
    /// Messenger / Instagram: `meta check` tells whether the app is still subscribed to the Page.
    Meta(leadsync_cli::commands::meta::MetaArgs),
    /// Read every contact leadsync placed back from CallTools: deleted there, or out of a bucket?
    Audit(leadsync_cli::commands::audit::AuditArgs),
    /// Check every assumption about the accounts before the first lead (exit 1 on a failure).
    Doctor(leadsync_cli::doctor::DoctorArgs),
    /// CallTools REST hooks for call outcomes: `calltools subscribe [--list | --remove]`.
    #[command(name = "calltools")]
    CallTools(leadsync_cli::commands::calltools::CallToolsArgs),
    /// The numbers first asked for: webhook success, jobs, latency, CallTools errors, drift, DLQ.
    Stats(leadsync_cli::commands::stats::StatsArgs),
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
    let cli = Cli::parse();
    match run(cli.target, cli.command).await {
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

async fn run(target: leadsync_cli::target::TargetArgs, command: Command) -> anyhow::Result<()> {
    let target = leadsync_cli::target::Target::resolve(
        target,
        |name| std::env::var(name).ok(),
        leadsync_cli::target::StackInfo::read,
    )?;
    let target = &target;
    match command {
        Command::Stats(args) => leadsync_cli::commands::stats::run(args, target).await,
        Command::Trace(args) => leadsync_cli::commands::trace::run(args, target).await,
        Command::Dlq(args) => leadsync_cli::commands::dlq::run(args, target).await,
        Command::Backfill(args) => leadsync_cli::commands::backfill::run(args, target).await,
        Command::Meta(args) => leadsync_cli::commands::meta::run(args, target).await,
        Command::Doctor(args) => leadsync_cli::doctor::run(args, target).await,
        Command::Audit(args) => leadsync_cli::commands::audit::run(args, target).await,
        Command::CallTools(args) => leadsync_cli::commands::calltools::run(args, target).await,
    }
}
