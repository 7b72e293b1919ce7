//! The `leadsync` subcommands.

use anyhow::Result;

use crate::target::Target;

pub mod audit;
pub mod backfill;
pub mod calltools;
pub mod dlq;
pub mod meta;
pub mod stats;
pub mod trace;

/// The state table's client and name, on the target.
pub async fn state_table(target: &Target) -> Result<(aws_sdk_dynamodb::Client, String)> {
    let table = target.table()?.to_string();
    Ok((aws_sdk_dynamodb::Client::new(&target.aws().await), table))
}
