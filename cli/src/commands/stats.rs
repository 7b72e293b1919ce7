//! `leadsync stats`: webhook success rate, jobs by outcome, contacts by origin, sync latency,
//! CallTools errors, backfill drift and the dead-letter queue, for the last `--since`.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::dynamo::backfill::DynamoCheckpoints;
use leadsync::domain::clock::now_ms;

use super::backfill::parse_since;
use crate::stats::metrics::StackMetrics;
use crate::stats::{collect, html, render};
use crate::target::Target;

#[derive(clap::Args)]
pub struct StatsArgs {
    /// The window: an age (90m, 24h, 7d) or an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Redraw every `--every` seconds until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    #[arg(long, default_value_t = 5)]
    pub every: u64,
    /// Also write the dashboard's main graphs and these numbers into one self-contained page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub async fn run(args: StatsArgs, target: &Target) -> Result<()> {
    let target = resolve(target).await?;
    loop {
        let until = now_ms();
        let since = parse_since(&args.since, until)?;
        // A minute past now: CloudWatch counts a data point in [start, end).
        let stats = collect(&target, since, until + 60_000).await?;
        if let Some(path) = &args.html {
            let page = html::report(&target, &stats).await?;
            std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        let text = if args.json {
            serde_json::to_string_pretty(&stats)? + "\n"
        } else {
            render::text(&stats)
        };
        let mut out = std::io::stdout().lock();
        if args.watch && out.is_terminal() {
            // Home and clear: the report is redrawn in place.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if !args.watch {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.every.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Where the numbers come from, on the target: its metrics, queues and backfill checkpoints.
async fn resolve(target: &Target) -> Result<crate::stats::Target> {
    let aws = target.aws().await;
    let (namespace, service) = target.metrics()?;
    let accounts = ["ghl", "messenger", "instagram"]
        .into_iter()
        .filter_map(|source| Some((source.to_string(), target.account(source)?)))
        .collect();
    Ok(crate::stats::Target {
        metrics: StackMetrics {
            client: aws_sdk_cloudwatch::Client::new(&aws),
            namespace,
            service,
        },
        sqs: aws_sdk_sqs::Client::new(&aws),
        dlq_url: target.dlq_url().map(str::to_string),
        queue_url: target.queue_url().map(str::to_string),
        checkpoints: target
            .table()
            .ok()
            .map(|t| DynamoCheckpoints::new(aws_sdk_dynamodb::Client::new(&aws), t.to_string())),
        accounts,
    })
}
