//! `leadsync dlq list | show ID | replay`: what is parked and why, and putting it back through
//! the main queue once the cause is fixed. The work is in [`crate::dlq`]; this is the command line.

use std::io::IsTerminal;
use std::num::NonZeroU32;

use anyhow::{Context, Result, bail};
use aws_sdk_sqs::Client;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use leadsync::domain::clock::now_ms;
use serde_json::Value;

use crate::dlq::move_task::{self, MoveProgress};
use crate::dlq::{self, Filter, ParkedMessage, ReplayOptions, ReplayReport};
use crate::target::Target;

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the parked messages and why they were parked; the DLQ is left as it was.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one parked message (message id or job id), with its job.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send parked messages back to the main queue, then delete them from the DLQ.
    Replay {
        #[command(flatten)]
        filter: FilterArgs,
        /// Messages per second.
        #[arg(long, default_value = "10")]
        rate: NonZeroU32,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// On AWS: move the whole DLQ with SQS StartMessageMoveTask (no filters).
        #[arg(long)]
        move_task: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct FilterArgs {
    /// Only this source (e.g. `ghl`).
    #[arg(long)]
    source: Option<String>,
    /// Only this contact: its id or `ghl:<location>:<id>`.
    #[arg(long)]
    contact: Option<String>,
    /// Only reasons containing this text (case-insensitive).
    #[arg(long)]
    reason: Option<String>,
    /// Parked at or after: RFC 3339 or an age such as 30m, 2h, 7d.
    #[arg(long)]
    since: Option<String>,
    /// Parked at or before: RFC 3339 or an age such as 30m, 2h, 7d.
    #[arg(long)]
    until: Option<String>,
    /// At most this many, oldest first.
    #[arg(long)]
    limit: Option<usize>,
}

impl FilterArgs {
    fn into_filter(self) -> Result<Filter> {
        let now = now_ms();
        let time = |t: Option<String>, flag: &str| {
            t.map(|t| dlq::filter::parse_time(&t, now))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
        };
        Ok(Filter {
            source: self.source,
            contact: self.contact,
            reason: self.reason,
            since_ms: time(self.since, "since")?,
            until_ms: time(self.until, "until")?,
            limit: self.limit,
        })
    }
}

/// The SQS client and the queues it talks to.
struct Queues {
    client: Client,
    queue_url: Option<String>,
    dlq_url: String,
}

impl Queues {
    async fn on(target: &Target) -> Result<Self> {
        let dlq_url = target
            .dlq_url()
            .context("this needs the deployed dead-letter queue: --dlq-url or LEADSYNC_DLQ_URL")?
            .to_string();
        Ok(Self {
            client: Client::new(&target.aws().await),
            queue_url: target.queue_url().map(str::to_string),
            dlq_url,
        })
    }

    fn queue_url(&self) -> Result<&str> {
        self.queue_url
            .as_deref()
            .context("replay needs the main queue: --queue-url or LEADSYNC_QUEUE_URL")
    }
}

pub async fn run(args: DlqArgs, target: &Target) -> Result<()> {
    let q = Queues::on(target).await?;
    match args.command {
        DlqCommand::List { filter, json } => {
            let listing = dlq::list(&q.client, &q.dlq_url, &filter.into_filter()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listing.selected)?);
            } else {
                listing.selected.iter().for_each(print_summary);
                println!(
                    "{} of {} parked message(s) shown",
                    listing.selected.len(),
                    listing.total
                );
            }
            Ok(())
        }
        DlqCommand::Show { id, json } => {
            let found = dlq::read::find(&q.client, &q.dlq_url, &id).await?;
            if found.selected.is_empty() {
                bail!("no parked message with message id or job id {id:?}");
            }
            if json {
                let detailed: Vec<Value> = found.selected.iter().map(detail_json).collect();
                println!("{}", serde_json::to_string_pretty(&detailed)?);
            } else {
                found.selected.iter().for_each(print_detail);
            }
            Ok(())
        }
        DlqCommand::Replay {
            filter,
            rate,
            dry_run,
            move_task,
            json,
        } => {
            let filter = filter.into_filter()?;
            if move_task {
                if !filter.is_empty() || dry_run {
                    bail!(
                        "--move-task moves the whole DLQ: it cannot filter or dry-run; \
                         use the default mover for a selection"
                    );
                }
                return run_move_task(&q, rate, json).await;
            }
            let progress = progress_bar(json);
            let opts = ReplayOptions { rate, dry_run };
            let report = dlq::replay(
                &q.client,
                q.queue_url()?,
                &q.dlq_url,
                &filter,
                opts,
                &progress,
            )
            .await?;
            progress.finish_and_clear();
            print_report(&report, json)?;
            if report.failed > 0 {
                bail!("{} message(s) could not be replayed", report.failed);
            }
            Ok(())
        }
    }
}

fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("replaying {bar:40} {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

async fn run_move_task(q: &Queues, rate: NonZeroU32, json: bool) -> Result<()> {
    let print = |p: &MoveProgress| {
        if !json {
            let total = p.to_move.map_or_else(|| "?".into(), |t| t.to_string());
            println!("move task {}: {} of {total} moved", p.status, p.moved);
        }
    };
    let done = move_task::move_all(&q.client, q.queue_url()?, &q.dlq_url, rate, print)
        .await
        .context(
            "StartMessageMoveTask (AWS only; moto does not implement it, use the default mover)",
        )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    if done.status != "COMPLETED" {
        bail!(
            "move task ended {}: {}",
            done.status,
            done.failure_reason.as_deref().unwrap_or("no reason given")
        );
    }
    Ok(())
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn print_summary(m: &ParkedMessage) {
    println!("{}  {}", or_dash(m.parked_at.as_deref()), m.message_id);
    println!(
        "  job {}  source {}  contact {}  receives {}  replays {}",
        or_dash(m.job_id.as_deref()),
        or_dash(m.source.as_deref()),
        or_dash(m.contact.as_deref()),
        m.receive_count
            .map_or_else(|| "-".into(), |c| c.to_string()),
        m.replay_count
    );
    match m.http_status {
        Some(s) => println!("  reason: {} (HTTP {s})", m.reason),
        None => println!("  reason: {}", m.reason),
    }
    if let Some(e) = &m.response_excerpt {
        println!("  excerpt: {e}");
    }
}

/// The job body as JSON, with its embedded webhook payload unfolded when it is JSON too.
fn job_json(body: &str) -> Value {
    let Ok(mut job) = serde_json::from_str::<Value>(body) else {
        return Value::String(body.to_string());
    };
    if let Some(payload) = job.get_mut("payload")
        && let Some(parsed) = payload
            .as_str()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
    {
        *payload = parsed;
    }
    job
}

fn detail_json(m: &ParkedMessage) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("job".into(), job_json(&m.body));
    }
    v
}

fn print_detail(m: &ParkedMessage) {
    print_summary(m);
    if m.redriven {
        println!("  (the last attempt's consumer log line has the failure detail)");
    }
    println!("  attributes:");
    for (k, v) in &m.attributes {
        println!("    {k} = {v}");
    }
    let job = serde_json::to_string_pretty(&job_json(&m.body)).unwrap_or_else(|_| m.body.clone());
    println!("  job:");
    for line in job.lines() {
        println!("    {line}");
    }
}

fn print_report(r: &ReplayReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if r.dry_run {
        println!(
            "would replay {} message(s) (dry run, nothing changed):",
            r.selected
        );
        r.messages.iter().for_each(print_summary);
        return Ok(());
    }
    for f in &r.failures {
        println!("failed {}: {}", f.message_id, f.error);
    }
    println!(
        "selected {}, replayed {}, failed {}",
        r.selected, r.replayed, r.failed
    );
    Ok(())
}
