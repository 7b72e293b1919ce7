//! Which stack a command works on. A deployed one comes from the environment; the local one
//! (`make dev`) describes itself in `.local/stack.json`, written by `leadsync-dev local up`, and
//! runs its AWS services on moto.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};

/// The region the local stack's moto serves.
pub const LOCAL_REGION: &str = "us-east-1";

/// Where `local up` writes what other commands need to find the running stack.
pub const STATE_FILE: &str = ".local/stack.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct StackInfo {
    pub webhook_url: String,
    pub workflow_url: String,
    pub sandbox_url: Option<String>,
    pub moto_url: String,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// The Lambda Invoke endpoint of the local backfill, and its function name.
    #[serde(default)]
    pub lambda_url: Option<String>,
    #[serde(default)]
    pub backfill_function: Option<String>,
    /// The GHL location the stack syncs.
    #[serde(default)]
    pub ghl_location_id: Option<String>,
    /// The Facebook Page and Instagram account the stack reads (the sandbox's).
    #[serde(default)]
    pub meta_page_id: Option<String>,
    #[serde(default)]
    pub meta_ig_account_id: Option<String>,
    /// The Meta app the stack runs as (the sandbox's).
    #[serde(default)]
    pub meta_app_id: Option<String>,
    /// The Page access token the sandbox plays (a committed test value, never a real token), so
    /// `leadsync meta check` can ask the local Graph API.
    #[serde(default)]
    pub meta_page_token: Option<String>,
    /// The stack's name (its metrics' `service` dimension) and metrics namespace.
    #[serde(default)]
    pub stack_name: Option<String>,
    #[serde(default)]
    pub metrics_namespace: Option<String>,
}

impl StackInfo {
    pub fn read() -> Result<Self> {
        let text = std::fs::read_to_string(STATE_FILE).with_context(|| {
            format!("{STATE_FILE} not found: is `make dev` running in this directory?")
        })?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Messages on a queue: visible, in flight, or delayed (deferred jobs).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "SQS GetQueueAttributes: {}",
                leadsync::support::error_line::error_line(&e)
            )
        })?;
    Ok(out
        .attributes
        .unwrap_or_default()
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}

/// The AWS SDK configuration for a moto endpoint.
pub async fn moto_sdk_config(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(LOCAL_REGION))
        .test_credentials()
        .load()
        .await
}
