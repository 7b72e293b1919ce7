//! `leadsync meta check`: is the app still subscribed to the Page's webhooks? Meta unsubscribes
//! an app whose endpoint kept failing for an hour and says so only in an email; a Page that is
//! silently unsubscribed sends no webhooks, and only the backfill would notice. The daily backfill
//! run makes the same check and puts a warning in the run.
//!
//! Reads `META_PAGE_ID` / `META_PAGE_ACCESS_TOKEN` (or `META_PAGE_ACCESS_TOKEN_PARAM`) and
//! `META_GRAPH_API_BASE_URL`; without them, the running local stack's sandbox.

use anyhow::{Context, Result, bail};
use leadsync::backfill::meta_scan::unsubscribed_warning;
use leadsync::config::Config;
use leadsync::meta::graph::GraphApi;
use leadsync::secret::Secret;
use serde_json::json;

use crate::commands::env_var;
use crate::commands::local::StackInfo;
use crate::sandbox::SandboxConfig;

#[derive(clap::Args)]
pub struct MetaArgs {
    #[command(subcommand)]
    pub command: MetaCommand,
}

#[derive(clap::Subcommand)]
pub enum MetaCommand {
    /// Check that the app is subscribed to the Page's webhooks (exit 1 when it is not).
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The Page; default META_PAGE_ID, or the local stack's.
    #[arg(long)]
    pub page: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: MetaArgs) -> Result<()> {
    match args.command {
        MetaCommand::Check(a) => check(a).await,
    }
}

/// What `subscribed_apps` says about the app on a Page.
pub struct Subscription {
    pub fields: Vec<String>,
}

impl Subscription {
    /// Subscribed to `messages`: new messages arrive as webhooks.
    pub fn receives_messages(&self) -> bool {
        self.fields.iter().any(|f| f == "messages")
    }

    /// What to print: the fields, or what is wrong and how to mend it.
    pub fn describe(&self, page: &str) -> String {
        if self.receives_messages() {
            format!("Page {page}: subscribed ({})", self.fields.join(", "))
        } else {
            format!(
                "Page {page}: NOT SUBSCRIBED\n{}",
                unsubscribed_warning(page, &self.fields)
            )
        }
    }
}

/// Reads the app's subscription to `page` through the Graph API `cfg` points at.
pub async fn subscription(cfg: &Config, token: Secret, page: &str) -> Result<Subscription> {
    let graph = leadsync::app::graph_client(
        cfg,
        leadsync::app::http_client(std::time::Duration::from_secs(15))?,
        token,
    );
    let fields = graph
        .subscribed_fields(page)
        .await
        .with_context(|| format!("reading the subscription of Page {page}"))?;
    Ok(Subscription { fields })
}

async fn check(args: CheckArgs) -> Result<()> {
    let (cfg, token) = config().await?;
    let page = args
        .page
        .or_else(|| cfg.meta.page_id.clone())
        .context("pass --page or set META_PAGE_ID")?;
    let s = subscription(&cfg, token, &page).await?;
    let subscribed = s.receives_messages();
    if args.json {
        let out = json!({"page": page, "subscribed": subscribed, "fields": s.fields});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", s.describe(&page));
    }
    if !subscribed {
        bail!("the app is not subscribed to Page {page}'s messages");
    }
    Ok(())
}

/// The configuration from the environment (secrets resolved from SSM), or the local stack's
/// sandbox when no Page token is configured.
async fn config() -> Result<(Config, Secret)> {
    if env_var("META_PAGE_ACCESS_TOKEN").is_some()
        || env_var("META_PAGE_ACCESS_TOKEN_PARAM").is_some()
    {
        let aws = leadsync::app::load_aws().await;
        let cfg = leadsync::app::load_config(&aws).await?;
        let token = cfg
            .meta
            .page_access_token
            .require("META_PAGE_ACCESS_TOKEN")?
            .clone();
        return Ok((cfg, token));
    }
    let stack = StackInfo::read()
        .context("set META_PAGE_ACCESS_TOKEN (and META_PAGE_ID) to check a real Page")?;
    let sandbox = stack
        .sandbox_url
        .context("the local stack runs without the sandbox; set META_PAGE_ACCESS_TOKEN")?;
    let played = SandboxConfig::default();
    let cfg = Config::from_lookup(|k| match k {
        "META_GRAPH_API_BASE_URL" => Some(sandbox.clone()),
        "META_PAGE_ID" => stack.meta_page_id.clone(),
        _ => None,
    })?;
    Ok((cfg, Secret::new(played.meta_page_token)))
}
