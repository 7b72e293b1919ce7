//! `leadsync doctor`: every external assumption leadsync makes, checked against the accounts a
//! stack is configured with, before the first lead. A checklist, each line ✓ / ! / ✗ / - with
//! the exact fix (`--json` for scripts), exit status 1 when anything failed.
//!
//! The configuration is the functions' own: for a deployed stack the same variables the
//! functions read (with `*_PARAM` secrets fetched from SSM); for the local stack, the variables
//! `make dev` gave its functions (`.local/stack.json`).
//!
//! Reading settles most things. What only a write can tell — the CallTools duplicate mode, which
//! bucket placement takes effect, whether the phone lands — needs `--probe-writes`, which creates
//! one clearly named, do-not-contact probe contact and removes it.

pub mod bucket_filter;
pub mod calltools;
pub mod ghl;
pub mod meta;
pub mod outcomes;
pub mod report;
pub mod stack;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use leadsync::app::config::Config;

use crate::target::Target;
use report::{Check, Report};

#[derive(clap::Args, Debug, Default)]
pub struct DoctorArgs {
    /// The report as JSON (every check and what was learned).
    #[arg(long)]
    pub json: bool,
    /// Also probe with one named, do-not-contact CallTools contact (created and removed): the
    /// duplicate mode, the bucket placement method, whether the phone lands.
    #[arg(long)]
    pub probe_writes: bool,
    /// The probe's phone; the default is a number reserved for fiction, which an account that
    /// checks carriers may refuse.
    #[arg(long, default_value = calltools::PROBE_PHONE)]
    pub probe_phone: String,
    /// Print what was learned as `samconfig.toml` parameter overrides.
    #[arg(long)]
    pub write_config: bool,
}

/// Runs every check on `cfg` (the stack's configuration) and `target` (its AWS resources).
pub async fn examine(cfg: &Config, target: &Target, args: &DoctorArgs) -> Report {
    let mut report = Report::default();
    let dynamodb = aws_sdk_dynamodb::Client::new(&target.aws().await);
    let http = leadsync::app::http_client(std::time::Duration::from_secs(15));
    let ghl_client = match (&http, target.table()) {
        (Ok(http), Ok(table)) => leadsync::app::ghl_client(cfg, http.clone(), &dynamodb, table)
            .map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(format!("{e:#}")),
    };
    report.extend(ghl::checks(cfg, ghl_client).await);
    match calltools_client(cfg) {
        Ok(client) => {
            let checks = calltools::CallToolsChecks {
                cfg,
                client: &client,
                probe_writes: args.probe_writes,
                probe_phone: &args.probe_phone,
            };
            let mut learned = std::mem::take(&mut report.learned);
            let found = checks.run(&mut learned).await;
            report.learned = learned;
            report.extend(found);
            report.extend(outcomes::checks(cfg, &client).await);
        }
        Err(check) => report.push(check),
    }
    report.extend(meta::checks(cfg).await);
    report.extend(stack::checks(target).await);
    report
}

pub(crate) fn calltools_client(
    cfg: &Config,
) -> Result<leadsync::sinks::calltools::client::CallToolsClient, Check> {
    let ct = &cfg.calltools;
    let fail = |summary: String, fix: &str| Check::fail("calltools", "calltools.key", summary, fix);
    let base = ct.base_url.clone().ok_or_else(|| {
        fail(
            "no CallTools base URL configured".into(),
            "set CallToolsBaseUrl to your silo, e.g. https://east-1.calltools.io",
        )
    })?;
    let key = ct.api_key.require("CALLTOOLS_API_KEY").map_err(|e| {
        fail(
            e.to_string(),
            "set CallToolsApiKeyParameter to the SSM parameter holding the key",
        )
    })?;
    let http = leadsync::app::http_client(ct.request_timeout)
        .map_err(|e| fail(e.to_string(), "run doctor again"))?;
    // The live consumer shares the key's budget: the same per-environment rate as one consumer.
    Ok(
        leadsync::sinks::calltools::client::CallToolsClient::new(http, base, key.clone())
            .with_rate_limit(ct.max_requests_per_second),
    )
}

pub async fn run(args: DoctorArgs, target: &Target) -> Result<()> {
    let cfg = config(target).await?;
    let report = examine(&cfg, target, &args).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render());
    }
    if args.write_config {
        let lines = report.parameter_overrides();
        if lines.is_empty() {
            println!("\nnothing learned that configuration should change");
        } else {
            println!("\n# samconfig.toml, [default.deploy.parameters] parameter_overrides:");
            for line in lines {
                println!("{line}");
            }
        }
    }
    if report.failed() {
        anyhow::bail!("doctor found failures: fix the lines marked ✗ and run it again");
    }
    Ok(())
}

/// The configuration the target's functions run with.
pub(crate) async fn config(target: &Target) -> Result<Config> {
    match target {
        Target::Deployed(_) => {
            let aws = crate::target::operator_aws().await;
            Ok(leadsync::app::load_config(&aws).await?)
        }
        Target::Local(info) => local_config(&info.environment, |k| std::env::var(k).ok()),
    }
}

/// The local stack's configuration as `make dev` built it: its own `LEADSYNC_*` settings first,
/// the shell's variables (real accounts) before the sandbox's.
pub fn local_config(
    environment: &BTreeMap<String, String>,
    shell: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    if environment.is_empty() {
        anyhow::bail!(".local/stack.json predates doctor: restart `make dev`");
    }
    Config::from_lookup(|k| {
        if k.starts_with("LEADSYNC_") && environment.contains_key(k) {
            return environment.get(k).cloned();
        }
        shell(k)
            .filter(|v| !v.is_empty())
            .or_else(|| environment.get(k).cloned())
    })
    .context("the local stack's configuration")
}
