//! `leadsync backfill run | status`: start a backfill run and follow it to its end, or list the
//! last runs with what each found. `run` invokes the backfill function through the Lambda Invoke
//! API: the deployed one (`LEADSYNC_BACKFILL_FUNCTION`), or the local stack's.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use leadsync::aws::dynamo::backfill::DynamoCheckpoints;
use leadsync::backfill::{Checkpoints, Ending, Request, Run, Scope, Status};
use leadsync::domain::clock::now_ms;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::state_table;
use super::trace::time;
use crate::target::{Target, account_variable};

#[derive(clap::Args)]
pub struct BackfillArgs {
    #[command(subcommand)]
    pub command: BackfillCommand,
}

#[derive(clap::Subcommand)]
pub enum BackfillCommand {
    /// Start a run (or go on with the one in progress) and follow it to its end.
    Run(RunArgs),
    /// The run in progress and the last finished runs: pages, contacts seen, unchanged,
    /// enqueued as missed, errors, duration.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Read the contacts changed at or after this time: RFC 3339 (2026-11-01T00:00:00Z) or an
    /// age (90m, 36h, 7d). Without it or --full, the run reads what changed since the last run.
    #[arg(long, conflicts_with = "full")]
    pub since: Option<String>,
    /// Read every contact that carries a rule's tag.
    #[arg(long)]
    pub full: bool,
    /// The source to read: ghl, messenger, instagram or calltools_calls (CallTools' recent
    /// calls, for outcomes whose hook was lost); or calltools, the sink audit.
    #[arg(long, default_value = "ghl", value_parser = ["ghl", "messenger", "instagram", "calltools_calls", "calltools"])]
    pub source: String,
    /// Start the run and return at once; the schedule's resume tick carries it on.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the run as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The GHL location (sub-account); default `GHL_LOCATION_ID`, or the local stack's.
    #[arg(long, alias = "account")]
    pub location: Option<String>,
    /// Whose runs: ghl, messenger, instagram or calltools_calls; or calltools, the sink audit.
    #[arg(long, default_value = "ghl", value_parser = ["ghl", "messenger", "instagram", "calltools_calls", "calltools"])]
    pub source: String,
    /// At most this many finished runs, newest first.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BackfillArgs, target: &Target) -> Result<()> {
    match args.command {
        BackfillCommand::Run(a) => run_command(a, target).await,
        BackfillCommand::Status(a) => status_command(a, target).await,
    }
}

async fn run_command(args: RunArgs, target: &Target) -> Result<()> {
    let request = Request {
        source: Some(args.source.clone()),
        full: args.full,
        since_ms: args
            .since
            .as_deref()
            .map(|s| parse_since(s, now_ms()))
            .transpose()?,
        resume: false,
    };
    let function = BackfillFunction::on(target).await?;
    if args.no_wait {
        function.invoke_async(&request).await?;
        println!(
            "backfill started on {}; `leadsync backfill status` follows it",
            function.name
        );
        return Ok(());
    }
    let ending = function
        .run_to_end(&request, |run| {
            eprintln!(
                "backfill: {} pages, {} contacts seen, {} enqueued so far; going on from the checkpoint…",
                run.pages, run.seen, run.enqueued
            );
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ending)?);
        return Ok(());
    }
    match &ending {
        Ending::Finished(run) => print!("{}", render_runs(None, std::slice::from_ref(run))),
        Ending::Busy => println!(
            "another invocation is advancing the run in progress (the schedule's resume tick); \
             `leadsync backfill status` follows it"
        ),
        Ending::Idle => println!("no run in progress"),
        Ending::Paused(run) => print!("{}", render_runs(Some(run), &[])),
    }
    if let Ending::Finished(run) = &ending
        && run.status == Status::Failed
    {
        bail!(
            "the run failed: {}",
            run.error.as_deref().unwrap_or("no reason recorded")
        );
    }
    Ok(())
}

/// The backfill function and the Lambda client that reaches it.
pub struct BackfillFunction {
    client: aws_sdk_lambda::Client,
    pub name: String,
}

/// How long one synchronous invocation may take: the function's 15-minute limit, and a margin.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(16 * 60);

impl BackfillFunction {
    /// The function `name`, reached at `endpoint` (the local stack's Lambda Invoke API) or at
    /// AWS's own.
    pub fn new(
        aws: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            client: client(aws, endpoint),
            name: name.into(),
        }
    }

    /// The target's backfill function.
    async fn on(target: &Target) -> Result<Self> {
        let (endpoint, name) = target.backfill_function()?;
        Ok(Self::new(&target.aws().await, endpoint, name))
    }

    /// Invokes until the run ends: a run that pauses at the function's deadline is taken on
    /// from its checkpoint by the next invocation.
    pub async fn run_to_end(
        &self,
        request: &Request,
        mut on_pause: impl FnMut(&Run),
    ) -> Result<Ending> {
        let mut ending = self.invoke(request).await?;
        while let Ending::Paused(run) = &ending {
            on_pause(run);
            ending = self
                .invoke(&Request {
                    resume: true,
                    ..Request::default()
                })
                .await?;
            // The resume found nothing: another invocation finished the run meanwhile.
            if ending == Ending::Idle {
                break;
            }
        }
        Ok(ending)
    }

    pub async fn invoke(&self, request: &Request) -> Result<Ending> {
        let out = self
            .client
            .invoke()
            .function_name(&self.name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(serde_json::to_vec(request)?))
            .send()
            .await
            .with_context(|| format!("invoking {}", self.name))?;
        let payload = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            bail!(
                "the backfill function failed ({kind}): {}",
                String::from_utf8_lossy(payload)
            );
        }
        serde_json::from_slice(payload).with_context(|| {
            format!(
                "unexpected answer from {}: {}",
                self.name,
                String::from_utf8_lossy(payload)
            )
        })
    }

    pub async fn invoke_async(&self, request: &Request) -> Result<()> {
        self.client
            .invoke()
            .function_name(&self.name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(serde_json::to_vec(request)?))
            .send()
            .await
            .with_context(|| format!("invoking {}", self.name))?;
        Ok(())
    }
}

fn client(aws: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_lambda::Client {
    let mut conf = aws_sdk_lambda::config::Builder::from(aws).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(INVOKE_TIMEOUT)
            .build(),
    );
    if let Some(url) = endpoint {
        conf = conf.endpoint_url(url);
    }
    aws_sdk_lambda::Client::from_conf(conf.build())
}

/// `--since`: RFC 3339, or an age in minutes, hours or days before `now_ms`.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((at.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let per_unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if per_unit_ms > 0 && n >= 0 => Ok(now_ms - n * per_unit_ms),
        _ => bail!(
            "--since {text:?}: expected RFC 3339 (2026-11-01T00:00:00Z) or an age (90m, 36h, 7d)"
        ),
    }
}

async fn status_command(args: StatusArgs, target: &Target) -> Result<()> {
    let source = args.source.as_str();
    let location = match (args.location, source) {
        (Some(account), _) => account,
        // The audit's and the calls' runs are kept under the CallTools account, named from the
        // silo and key.
        (None, "calltools" | "calltools_calls") => {
            let cfg = crate::doctor::config(target).await?;
            let base = cfg
                .calltools
                .base_url
                .clone()
                .context("set CALLTOOLS_BASE_URL")?;
            let key = cfg.calltools.api_key.require("CALLTOOLS_API_KEY")?.clone();
            leadsync::sinks::calltools::placement::account_id(&base, key.expose())
        }
        (None, _) => target
            .account(source)
            .with_context(|| format!("pass --account or set {}", account_variable(source)))?,
    };
    let (client, table) = state_table(target).await?;
    let checkpoints = DynamoCheckpoints::new(client, table);
    let current = checkpoints.current(source, &location).await?;
    let history = checkpoints.history(source, &location, args.limit).await?;
    if args.json {
        #[derive(Serialize)]
        struct Out<'a> {
            location: &'a str,
            current: Option<Run>,
            history: Vec<Run>,
        }
        let out = Out {
            location: &location,
            current,
            history,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{source} account {location}");
    print!("{}", render_runs(current.as_ref(), &history));
    Ok(())
}

/// The runs as a table: the one in progress first, then the finished ones, newest first.
pub fn render_runs(current: Option<&Run>, finished: &[Run]) -> String {
    let mut out = String::new();
    if current.is_none() && finished.is_empty() {
        out.push_str("no backfill runs yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<19} {:<8} {:<23} {:<7} {:>5} {:>8} {:>9} {:>8} {:>6} {:>9}",
        "run",
        "status",
        "started (UTC)",
        "scope",
        "pages",
        "seen",
        "unchanged",
        "enqueued",
        "errors",
        "duration"
    );
    for run in current.into_iter().chain(finished) {
        let scope = match run.scope {
            Scope::Full => "full",
            Scope::Since => "since",
        };
        let status = match run.status {
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "FAILED",
        };
        let duration = run
            .finished_at_ms
            .unwrap_or_else(now_ms)
            .saturating_sub(run.started_at_ms);
        let _ = writeln!(
            out,
            "{:<19} {:<8} {:<23} {:<7} {:>5} {:>8} {:>9} {:>8} {:>6} {:>8.1}s",
            run.run_id,
            status,
            time(run.started_at_ms),
            scope,
            run.pages,
            run.seen,
            run.unchanged,
            run.enqueued,
            run.errors,
            duration as f64 / 1000.0
        );
        if let Some(since) = run.since_ms {
            let _ = writeln!(out, "{:<19}   read changes since {}", "", time(since));
        }
        if let Some(e) = &run.error {
            let _ = writeln!(out, "{:<19}   error: {e}", "");
        }
        if run.refreshed > 0 {
            let _ = writeln!(
                out,
                "{:<19}   profiles sent for a refresh: {}",
                "", run.refreshed
            );
        }
        for w in &run.warnings {
            let _ = writeln!(out, "{:<19}   WARNING: {w}", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = 1_793_491_200_000;
        assert_eq!(parse_since("2026-11-01T00:00:00Z", 0).unwrap(), now);
        assert_eq!(parse_since("36h", now).unwrap(), now - 36 * 3_600_000);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(parse_since("90m", now).unwrap(), now - 90 * 60_000);
        for bad in ["yesterday", "7w", "h", "", "-3d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }

    fn run(status: Status, error: Option<&str>) -> Run {
        Run {
            run_id: "1793491200000-00ab".into(),
            source: "ghl".into(),
            account: "loc".into(),
            scope: Scope::Since,
            since_ms: Some(1_793_404_800_000),
            started_at_ms: 1_793_491_200_000,
            status,
            cursor: None,
            pages: 3,
            seen: 1_234,
            unchanged: 1_200,
            enqueued: 34,
            errors: u64::from(error.is_some()),
            invocations: 1,
            finished_at_ms: Some(1_793_491_212_500),
            error: error.map(str::to_string),
            refreshed: 0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_table_shows_each_run_with_its_drift_and_error() {
        let text = render_runs(
            None,
            &[
                run(Status::Failed, Some("GHL answered 401")),
                run(Status::Done, None),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("run"), "{text}");
        assert!(
            lines[1].contains("FAILED") && lines[1].contains("12.5s"),
            "{text}"
        );
        assert!(text.contains("error: GHL answered 401"), "{text}");
        assert!(
            text.contains("read changes since 2026-10-31 00:00:00.000"),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(" done ") && l.contains(" 1234 ") && l.contains(" 34 ")),
            "{text}"
        );
        assert_eq!(render_runs(None, &[]), "no backfill runs yet\n");
    }
}
