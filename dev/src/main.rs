//! `leadsync-dev`: the development rig — the local stack, the sandbox, the demo, the sample
//! events, the ledger and the benchmark. Operators install `leadsync` alone; this binary is
//! built from the repository by `make dev`, `make bench`, `make ledger` and `make events`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "leadsync-dev",
    version,
    about = "Develop leadsync: run it locally, play the external APIs, measure it"
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
        command: leadsync_dev::commands::local::LocalCommand,
    },
    /// Tag a new sandbox contact "cold lead" and show it arriving in the CallTools bucket.
    Demo(leadsync_dev::commands::demo::DemoArgs),
    /// Run only the sandbox that plays GoHighLevel, CallTools and Meta.
    Sandbox(leadsync_sandbox::SandboxArgs),
    /// Write the sample events in events/ (signed with the sandbox test keys).
    Events(leadsync_dev::commands::events::EventsArgs),
    /// The ledger test: thousands of webhooks under injected failures, every one accounted for.
    Ledger(leadsync_dev::commands::ledger::LedgerArgs),
    /// Measure throughput, API calls per contact, latency and cold start (`make bench`).
    Bench(leadsync_dev::bench::BenchArgs),
}

/// An error ends the command with one line on stderr and exit status 1, as `leadsync` does.
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
                "leadsync-dev: {}",
                leadsync::support::error_line::error_line(e.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Local { command } => leadsync_dev::commands::local::run(command).await,
        Command::Demo(args) => leadsync_dev::commands::demo::run(args).await,
        Command::Sandbox(args) => leadsync_sandbox::run(args).await,
        Command::Events(args) => leadsync_dev::commands::events::run(args),
        Command::Ledger(args) => leadsync_dev::commands::ledger::run(args).await,
        Command::Bench(args) => leadsync_dev::bench::run(args).await,
    }
}
