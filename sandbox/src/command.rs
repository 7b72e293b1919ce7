//! `leadsync-dev sandbox`: run the sandbox in the foreground until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;

use super::{DuplicateMode, SandboxConfig, start};

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on. Keep it on loopback: the sandbox has no real security.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the URL is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Token the fake GoHighLevel API accepts as `Authorization: Bearer <token>`.
    #[arg(long, default_value_t = SandboxConfig::default().ghl_api_token)]
    pub ghl_api_token: String,
    /// Key the fake CallTools API accepts as `Authorization: Token <key>`.
    #[arg(long, default_value_t = SandboxConfig::default().calltools_api_key)]
    pub calltools_api_key: String,
    /// The GoHighLevel location id played.
    #[arg(long, default_value_t = SandboxConfig::default().location_id)]
    pub location_id: String,
    /// Where Marketplace contact webhooks go (e.g. leadsync's `/webhooks/ghl`).
    #[arg(long)]
    pub marketplace_webhook_url: Option<String>,
    /// Where the workflow "Custom Webhook" goes (e.g. leadsync's `/webhooks/ghl/workflow`).
    #[arg(long)]
    pub workflow_webhook_url: Option<String>,
    /// Bearer secret on workflow webhooks.
    #[arg(long)]
    pub workflow_secret: Option<String>,
    /// Tag whose addition triggers the workflow webhook.
    #[arg(long, default_value_t = SandboxConfig::default().workflow_trigger_tag)]
    pub workflow_trigger_tag: String,
    /// Also send the legacy RSA `x-wh-signature` header.
    #[arg(long)]
    pub legacy_rsa_signature: bool,
    /// The CallTools account's duplicate setting.
    #[arg(long, value_enum, default_value_t = DuplicateMode::MergeByPhone)]
    pub duplicate_mode: DuplicateMode,
    /// Seconds between GoHighLevel's retries of a webhook answered 429 (GoHighLevel: 600).
    #[arg(long, default_value_t = 600)]
    pub ghl_retry_interval_secs: u64,
    /// Where signed Messenger/Instagram webhooks go (e.g. leadsync's `/webhooks/meta`).
    #[arg(long)]
    pub meta_webhook_url: Option<String>,
    /// A CallTools bucket as `ID=NAME`; repeat for more. Default: `11237=Cold Leads`.
    #[arg(long = "bucket", value_parser = parse_bucket)]
    pub buckets: Vec<(i64, String)>,
}

fn parse_bucket(s: &str) -> Result<(i64, String), String> {
    let (id, name) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=NAME, got {s:?}"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|_| format!("bucket id {id:?} is not an integer"))?;
    Ok((id, name.trim().to_owned()))
}

impl From<SandboxArgs> for SandboxConfig {
    fn from(a: SandboxArgs) -> Self {
        let defaults = SandboxConfig::default();
        Self {
            bind: SocketAddr::new(a.host, a.port),
            ghl_api_token: a.ghl_api_token,
            calltools_api_key: a.calltools_api_key,
            location_id: a.location_id,
            marketplace_webhook_url: a.marketplace_webhook_url,
            workflow_webhook_url: a.workflow_webhook_url,
            workflow_secret: a.workflow_secret,
            workflow_trigger_tag: a.workflow_trigger_tag,
            legacy_rsa_signature: a.legacy_rsa_signature,
            duplicate_mode: a.duplicate_mode,
            ghl_retry_interval: Duration::from_secs(a.ghl_retry_interval_secs),
            buckets: if a.buckets.is_empty() {
                defaults.buckets
            } else {
                a.buckets
            },
            meta_webhook_url: a.meta_webhook_url,
            ..defaults
        }
    }
}

/// Starts the sandbox, prints its URL and runs until Ctrl-C.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let cfg = SandboxConfig::from(args);
    let summary = format!(
        "GHL location {} (Bearer {}), CallTools key {}",
        cfg.location_id, cfg.ghl_api_token, cfg.calltools_api_key
    );
    let sandbox = start(cfg).await.context("starting the sandbox")?;
    println!("sandbox listening on {}", sandbox.url);
    println!("{summary}");
    println!("control surface: {}/_sandbox/info", sandbox.url);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    #[test]
    fn flags_map_onto_the_config() {
        let cli = Cli::parse_from([
            "x",
            "--port",
            "4010",
            "--duplicate-mode",
            "allow",
            "--bucket",
            "7=Hot",
            "--ghl-retry-interval-secs",
            "1",
        ]);
        let cfg = SandboxConfig::from(cli.args);
        assert_eq!(cfg.bind.port(), 4010);
        assert_eq!(cfg.duplicate_mode, DuplicateMode::AllowDuplicates);
        assert_eq!(cfg.buckets, vec![(7, "Hot".to_owned())]);
        assert_eq!(cfg.ghl_retry_interval, Duration::from_secs(1));
    }
}
