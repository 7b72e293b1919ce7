//! `leadsync-dev local up`: start the local stack in the foreground and say how to use it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use leadsync_cli::target::{STATE_FILE, StackInfo};
use serde_json::json;

use leadsync_local::{Stack, StackOptions};

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Start moto, the sandbox, ingress and consumer; stop with Ctrl-C.
    Up {
        /// Port of the webhook API (0: a free port).
        #[arg(long, env = "LEADSYNC_API_PORT", default_value_t = 0)]
        api_port: u16,
        /// Port of the sandbox (0: a free port).
        #[arg(long, env = "LEADSYNC_SANDBOX_PORT", default_value_t = 0)]
        sandbox_port: u16,
        /// The SAM template the local resources are provisioned from.
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
}

pub async fn run(cmd: LocalCommand) -> Result<()> {
    match cmd {
        LocalCommand::Up {
            api_port,
            sandbox_port,
            template,
        } => up(api_port, sandbox_port, template).await,
    }
}

async fn up(api_port: u16, sandbox_port: u16, template: PathBuf) -> Result<()> {
    let stack = Stack::start(StackOptions {
        template,
        api_port,
        sandbox_port,
        use_env: true,
        ..StackOptions::default()
    })
    .await?;
    let info = StackInfo {
        webhook_url: stack.webhook_url(),
        workflow_url: stack.workflow_url(),
        sandbox_url: stack.sandbox_url().map(str::to_string),
        moto_url: stack.moto_url.clone(),
        table: stack.resources.table.clone(),
        queue_url: stack.resources.queue_url.clone(),
        dlq_url: stack.resources.dlq_url.clone(),
        lambda_url: stack.lambda.as_ref().map(|l| l.url.clone()),
        backfill_function: Some(stack.resources.backfill_function.clone()),
        ghl_location_id: stack.config.ghl.default_location_id.clone(),
        meta_page_id: stack.config.meta.page_id.clone(),
        meta_ig_account_id: stack.config.meta.ig_account_id.clone(),
        meta_app_id: stack.config.meta.app_id.clone(),
        meta_page_token: stack
            .sandbox_url()
            .map(|_| leadsync_sandbox::SandboxConfig::default().meta_page_token),
        stack_name: Some(stack.metrics.service.clone()),
        metrics_namespace: Some(stack.metrics.namespace.clone()),
        environment: stack.environment.clone(),
    };
    std::fs::create_dir_all(".local")?;
    std::fs::write(FUNCTIONS_ENV, env_file(&stack.function_environment()))?;
    std::fs::write(STATE_FILE, serde_json::to_string_pretty(&info)?)?;
    print_banner(&info);
    tokio::signal::ctrl_c().await?;
    println!("\nstopping…");
    let _ = std::fs::remove_file(STATE_FILE);
    let _ = std::fs::remove_file(FUNCTIONS_ENV);
    stack.stop().await;
    Ok(())
}

/// The functions' variables for `cargo lambda watch --env-file`: a real function binary run by
/// cargo-lambda's emulator then uses this stack's table, queues, moto and sandbox.
pub const FUNCTIONS_ENV: &str = ".local/functions.env";

/// `KEY=VALUE` lines; a value with a line break (a PEM key) is double-quoted, as dotenv reads it.
fn env_file(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(k, v)| {
            if v.contains('\n') || v.contains('"') {
                format!("{k}=\"{}\"\n", v.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                format!("{k}={v}\n")
            }
        })
        .collect()
}

fn print_banner(info: &StackInfo) {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| {
            let cwd = std::env::current_dir().ok()?;
            p.strip_prefix(&cwd)
                .ok()
                .map(|r| format!("./{}", r.display()))
        })
        .unwrap_or_else(|| "leadsync-dev".into());
    println!("leadsync is running locally (Ctrl-C stops everything)\n");
    println!("  GHL Marketplace webhook URL  {}", info.webhook_url);
    println!("  GHL workflow webhook URL     {}", info.workflow_url);
    println!(
        "  Meta webhook URL             {}",
        info.webhook_url.replace("/webhooks/ghl", "/webhooks/meta")
    );
    match &info.sandbox_url {
        Some(url) => println!("  sandbox (GHL, CallTools, Graph API) {url}"),
        None => println!(
            "  sandbox                      off (GHL_API_BASE_URL and CALLTOOLS_BASE_URL are set)"
        ),
    }
    println!("  AWS (moto)                   {}", info.moto_url);
    println!("  DynamoDB table               {}", info.table);
    println!(
        "  job queue / dead-letter      {} / {}",
        info.queue_url, info.dlq_url
    );
    println!(
        "  metrics (CloudWatch in moto) namespace {}, service {}   `{exe} stats` (--watch, --html report.html)",
        info.metrics_namespace.as_deref().unwrap_or("-"),
        info.stack_name.as_deref().unwrap_or("-")
    );
    match &info.lambda_url {
        Some(url) => println!("  backfill (Lambda Invoke API) {url}   `{exe} backfill run`"),
        None => println!("  backfill                     off (set GHL_LOCATION_ID)"),
    }
    println!(
        "  a real function binary on this stack, without Docker: `cargo lambda watch --env-file {FUNCTIONS_ENV}`, then `cargo lambda invoke ingress --data-file events/apigw-ghl-workflow.json`"
    );
    if info.sandbox_url.is_some() {
        println!(
            "\nTry it: tag a new sandbox contact \"cold lead\" and watch it reach the CallTools bucket:\n"
        );
        println!("  {exe} demo\n");
        println!("Or by hand with curl (see docs/sandbox.md):");
        println!(
            "  {}",
            json!({"sandbox contacts": format!("{}/_sandbox/ghl/contacts", info.sandbox_url.as_deref().unwrap_or(""))})
        );
    }
}
