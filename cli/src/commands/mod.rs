//! The `leadsync` subcommands.

use anyhow::{Context, Result};

use crate::target::StackInfo;

pub mod backfill;
pub mod dlq;
pub mod meta;
pub mod stats;
pub mod trace;

/// The deployed state table (`LEADSYNC_TABLE` + the usual AWS configuration), or else the local
/// stack's, as `leadsync-dev local up` described it in `.local/stack.json`.
pub async fn state_table(what: &str) -> Result<(aws_sdk_dynamodb::Client, String)> {
    if let Some(table) = env_var("LEADSYNC_TABLE") {
        let aws = leadsync::app::load_aws().await;
        return Ok((aws_sdk_dynamodb::Client::new(&aws), table));
    }
    let stack = StackInfo::read()
        .with_context(|| format!("set LEADSYNC_TABLE to {what} a deployed stack"))?;
    let aws = crate::target::moto_sdk_config(&stack.moto_url).await;
    Ok((aws_sdk_dynamodb::Client::new(&aws), stack.table))
}

/// A variable that is set and not empty.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
