//! `leadsync meta check`: is leadsync's app still subscribed to the Page's webhooks, with every
//! field it reads? Other apps on the Page are listed beside it and do not count. Meta unsubscribes
//! an app whose endpoint kept failing for an hour and says so only in an email; a Page that is
//! silently unsubscribed sends no webhooks, and only the backfill would notice. The daily backfill
//! run makes the same check and puts a warning in the run.
//!
//! Reads `META_PAGE_ID`, `META_APP_ID`, `META_PAGE_ACCESS_TOKEN` (or
//! `META_PAGE_ACCESS_TOKEN_PARAM`) and `META_GRAPH_API_BASE_URL`; without them, the running
//! local stack's sandbox.

use anyhow::{Context, Result, bail};
use leadsync::app::config::Config;
use leadsync::sources::meta::graph::GraphApi;
use leadsync::sources::meta::subscription::{SubscriptionHealth, health};
use leadsync::support::secret::Secret;
use serde_json::json;

use crate::target::Target;

#[derive(clap::Args)]
pub struct MetaArgs {
    #[command(subcommand)]
    pub command: MetaCommand,
}

#[derive(clap::Subcommand)]
pub enum MetaCommand {
    /// Check that leadsync's app is subscribed to the Page's webhooks with every field it reads
    /// (exit 1 when it is not, 2 when it cannot tell: no META_APP_ID).
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The Page; default META_PAGE_ID, or the local stack's.
    #[arg(long)]
    pub page: Option<String>,
    /// leadsync's Meta app id; default META_APP_ID, or the local stack's.
    #[arg(long)]
    pub app_id: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: MetaArgs, target: &Target) -> Result<()> {
    match args.command {
        MetaCommand::Check(a) => check(a, target).await,
    }
}

/// Reads the Page's subscribed apps through the Graph API `cfg` points at, and what they say
/// about `app_id`.
pub async fn subscription(
    cfg: &Config,
    token: Secret,
    page: &str,
    app_id: Option<&str>,
) -> Result<SubscriptionHealth> {
    let graph = leadsync::app::graph_client(
        cfg,
        leadsync::app::http_client(std::time::Duration::from_secs(15))?,
        token,
    );
    let apps = graph
        .subscribed_apps(page)
        .await
        .with_context(|| format!("reading the subscriptions of Page {page}"))?;
    Ok(health(app_id, apps))
}

/// Exits 0 when leadsync's app is subscribed with every field it reads, 1 when it is not, and
/// 2 when it cannot be told (no app id): a script must not read "unknown" as either.
async fn check(args: CheckArgs, target: &Target) -> Result<()> {
    let (cfg, token) = config(target).await?;
    let page = args
        .page
        .or_else(|| cfg.meta.page_id.clone())
        .context("pass --page or set META_PAGE_ID")?;
    let app_id = args.app_id.or_else(|| cfg.meta.app_id.clone());
    let h = subscription(&cfg, token, &page, app_id.as_deref()).await?;
    if args.json {
        let (fields, missing, apps) = match &h {
            SubscriptionHealth::Subscribed { fields } => (fields.clone(), Vec::new(), Vec::new()),
            SubscriptionHealth::MissingFields { fields, missing } => {
                (fields.clone(), missing.clone(), Vec::new())
            }
            SubscriptionHealth::NotSubscribed { others } => {
                (Vec::new(), Vec::new(), others.clone())
            }
            SubscriptionHealth::CannotTell { apps } => (Vec::new(), Vec::new(), apps.clone()),
        };
        let out = json!({"page": page, "app_id": app_id, "status": h.status(),
            "subscribed": h.is_healthy(), "fields": fields, "missing": missing, "other_apps": apps});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", h.describe(&page, app_id.as_deref()));
    }
    match h {
        SubscriptionHealth::Subscribed { .. } => Ok(()),
        SubscriptionHealth::CannotTell { .. } => std::process::exit(2),
        _ => bail!("leadsync's app is not subscribed to every field it reads on Page {page}"),
    }
}

/// A deployed stack's configuration from the environment (secrets resolved from SSM), or the
/// local stack's sandbox.
async fn config(target: &Target) -> Result<(Config, Secret)> {
    let stack = match target {
        Target::Deployed(_) => {
            let aws = crate::target::operator_aws().await;
            let cfg = leadsync::app::load_config(&aws).await?;
            let token = cfg
                .meta
                .page_access_token
                .require("META_PAGE_ACCESS_TOKEN")?
                .clone();
            return Ok((cfg, token));
        }
        Target::Local(stack) => stack,
    };
    let sandbox = stack
        .sandbox_url
        .clone()
        .context("the local stack runs without the sandbox; set META_PAGE_ACCESS_TOKEN")?;
    let token = stack
        .meta_page_token
        .clone()
        .context(".local/stack.json predates `meta check`: restart `make dev`")?;
    let cfg = Config::from_lookup(|k| match k {
        "META_GRAPH_API_BASE_URL" => Some(sandbox.clone()),
        "META_PAGE_ID" => stack.meta_page_id.clone(),
        "META_APP_ID" => stack.meta_app_id.clone(),
        _ => None,
    })?;
    Ok((cfg, Secret::new(token)))
}
