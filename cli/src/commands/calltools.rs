//! `leadsync calltools subscribe`: CallTools' REST hooks for call outcomes, pointed at this
//! stack's `POST /webhooks/calltools` with its token. Creating is idempotent (CallTools itself
//! keeps duplicates): a model already subscribed at the same URL is left as it is. `--list` shows
//! every subscription of the account, `--remove` deletes those that post to this stack. The
//! token is never printed.

use anyhow::{Context, Result};
use leadsync::sources::calltools::hook::HookModel;
use leadsync::sources::calltools::subscription::{
    Subscribed, Subscription, hook_url, ours, subscribe,
};

use crate::target::Target;

#[derive(clap::Args, Debug)]
pub struct CallToolsArgs {
    #[command(subcommand)]
    pub command: CallToolsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CallToolsCommand {
    /// Subscribe CallTools' Call and Contact hooks to this stack (idempotent).
    Subscribe(SubscribeArgs),
}

#[derive(clap::Args, Debug, Default)]
pub struct SubscribeArgs {
    /// The stack's HTTP API URL (the `ApiUrl` output); the local stack's by default.
    #[arg(long, env = "LEADSYNC_API_URL")]
    pub api_url: Option<String>,
    /// List the account's subscriptions instead.
    #[arg(long, conflicts_with = "remove")]
    pub list: bool,
    /// Remove the subscriptions that post to this stack.
    #[arg(long)]
    pub remove: bool,
}

pub async fn run(args: CallToolsArgs, target: &Target) -> Result<()> {
    let CallToolsCommand::Subscribe(args) = args.command;
    let cfg = crate::doctor::config(target).await?;
    let api = crate::doctor::calltools_client(&cfg)
        .map_err(|c| anyhow::anyhow!("{}: {}", c.summary, c.fix.unwrap_or_default()))?;
    let base = api_base(&args, target)?;
    let route = format!("{}/webhooks/calltools", base.trim_end_matches('/'));
    if args.list {
        let all = api
            .hook_subscriptions()
            .await
            .context("listing CallTools REST hook subscriptions")?;
        print!("{}", render_list(&all, &route));
        return Ok(());
    }
    if args.remove {
        let all = api
            .hook_subscriptions()
            .await
            .context("listing subscriptions")?;
        let mine = ours(&all, &route);
        for s in &mine {
            api.delete_subscription(s.id)
                .await
                .with_context(|| format!("removing subscription {}", s.id))?;
            println!("removed {} ({}) {}", s.id, s.resthook_model, s.shown_url());
        }
        if mine.is_empty() {
            println!("no subscription posts to {route}");
        }
        return Ok(());
    }
    anyhow::ensure!(
        cfg.call_outcomes,
        "call outcomes are off in this stack, so its CallTools route refuses every hook: \
         deploy with CallOutcomesBack=on (LEADSYNC_CALL_OUTCOMES=on) first"
    );
    let token = cfg
        .calltools
        .hook_token
        .require("CALLTOOLS_HOOK_TOKEN")
        .context(
            "the hook URLs carry the token ingress checks: set CallToolsHookTokenParameter \
         (CALLTOOLS_HOOK_TOKEN_PARAM) or CALLTOOLS_HOOK_TOKEN",
        )?;
    let done = subscribe(&api, |model: HookModel| {
        hook_url(&base, model, token.expose())
    })
    .await
    .context("subscribing CallTools REST hooks")?;
    for d in &done {
        let (what, s) = match d {
            Subscribed::Created(s) => ("created", s),
            Subscribed::AlreadyThere(s) => ("already subscribed", s),
        };
        println!("{what}: {} ({}) {}", s.id, s.resthook_model, s.shown_url());
    }
    Ok(())
}

/// The API URL: given, or the local stack's.
fn api_base(args: &SubscribeArgs, target: &Target) -> Result<String> {
    if let Some(url) = &args.api_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    match target {
        Target::Local(info) => Ok(info
            .webhook_url
            .trim_end_matches("/webhooks/ghl")
            .to_string()),
        Target::Deployed(_) => anyhow::bail!(
            "which stack should CallTools post to? --api-url (the stack's ApiUrl output) or LEADSYNC_API_URL"
        ),
    }
}

pub fn render_list(all: &[Subscription], route: &str) -> String {
    if all.is_empty() {
        return "no REST hook subscriptions in this CallTools account\n".into();
    }
    let mine: Vec<i64> = ours(all, route).iter().map(|s| s.id).collect();
    let mut out = String::new();
    for s in all {
        let mark = if mine.contains(&s.id) { "*" } else { " " };
        out.push_str(&format!(
            "{mark} {:>8}  {:<32}  {}\n",
            s.id,
            s.resthook_model,
            s.shown_url()
        ));
    }
    out.push_str(&format!("* posts to this stack ({route})\n"));
    out
}
