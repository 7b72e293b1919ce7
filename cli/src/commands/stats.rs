//! `leadsync stats`: webhook success rate, jobs by outcome, contacts by origin, sync latency,
//! CallTools errors, backfill drift and the dead-letter queue, for the last `--since`.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::dynamo::backfill::DynamoCheckpoints;
use leadsync::domain::clock::now_ms;

use super::backfill::parse_since;
use super::env_var;
use crate::stats::metrics::StackMetrics;
use crate::stats::{Target, collect, html, render};
use crate::target::StackInfo;

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
    /// The deployed stack's name (its metrics' `service` dimension); without it and without
    /// `LEADSYNC_STACK`, the `make dev` stack in this directory.
    #[arg(long, env = "LEADSYNC_STACK")]
    pub stack: Option<String>,
}

pub async fn run(args: StatsArgs) -> Result<()> {
    let target = resolve(args.stack.clone()).await?;
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

/// A deployed stack from the environment (`LEADSYNC_STACK` or `--stack`, with `LEADSYNC_TABLE`,
/// `LEADSYNC_QUEUE_URL`, `LEADSYNC_DLQ_URL` and the usual AWS configuration), else the local one.
async fn resolve(stack: Option<String>) -> Result<Target> {
    let accounts = |ghl: Option<String>, page: Option<String>, ig: Option<String>| {
        [("ghl", ghl), ("messenger", page), ("instagram", ig)]
            .into_iter()
            .filter_map(|(s, a)| Some((s.to_string(), a?)))
            .collect::<Vec<_>>()
    };
    if let Some(service) = stack {
        let aws = leadsync::app::load_aws().await;
        let table = env_var("LEADSYNC_TABLE");
        return Ok(Target {
            metrics: StackMetrics {
                client: aws_sdk_cloudwatch::Client::new(&aws),
                namespace: env_var("POWERTOOLS_METRICS_NAMESPACE")
                    .unwrap_or_else(|| "leadsync".into()),
                service,
            },
            sqs: aws_sdk_sqs::Client::new(&aws),
            dlq_url: env_var("LEADSYNC_DLQ_URL"),
            queue_url: env_var("LEADSYNC_QUEUE_URL"),
            checkpoints: table
                .map(|t| DynamoCheckpoints::new(aws_sdk_dynamodb::Client::new(&aws), t)),
            accounts: accounts(
                env_var("GHL_LOCATION_ID"),
                env_var("META_PAGE_ID"),
                env_var("META_IG_ACCOUNT_ID"),
            ),
        });
    }
    let info =
        StackInfo::read().context("pass --stack (or set LEADSYNC_STACK) for a deployed stack")?;
    let aws = crate::target::moto_sdk_config(&info.moto_url).await;
    Ok(Target {
        metrics: StackMetrics {
            client: aws_sdk_cloudwatch::Client::new(&aws),
            namespace: info
                .metrics_namespace
                .clone()
                .unwrap_or_else(|| "leadsync".into()),
            service: info
                .stack_name
                .clone()
                .context(".local/stack.json predates metrics: restart `make dev`")?,
        },
        sqs: aws_sdk_sqs::Client::new(&aws),
        dlq_url: Some(info.dlq_url.clone()),
        queue_url: Some(info.queue_url.clone()),
        checkpoints: Some(DynamoCheckpoints::new(
            aws_sdk_dynamodb::Client::new(&aws),
            info.table.clone(),
        )),
        accounts: accounts(
            info.ghl_location_id,
            info.meta_page_id,
            info.meta_ig_account_id,
        ),
    })
}
