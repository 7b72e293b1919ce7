//! A backfill run and where it stands: written after every page, so a run that runs out of time
//! or dies goes on from its last finished page, and read back as the run's summary.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::store::StoreError;

/// What a run scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every contact carrying a rule's tag.
    Full,
    /// Every contact changed at or after `since_ms` (tag removals included).
    Since,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Done,
    /// Stopped on an error it could not wait out; the next run starts over from its window.
    Failed,
}

/// One run, as the checkpoint holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: String,
    pub source: String,
    pub account: String,
    pub scope: Scope,
    pub since_ms: Option<i64>,
    pub started_at_ms: i64,
    pub status: Status,
    /// The cursor of the next page; `None` before the first page and after the last.
    pub cursor: Option<Value>,
    pub pages: u32,
    pub seen: u64,
    pub unchanged: u64,
    /// Missing or changed contacts sent to the queue: what the webhooks missed (drift).
    pub enqueued: u64,
    pub errors: u64,
    /// Invocations the run took (more than one when it ran out of time).
    pub invocations: u32,
    pub finished_at_ms: Option<i64>,
    pub error: Option<String>,
    /// Contacts sent for a profile refresh after the scan (Meta).
    #[serde(default)]
    pub refreshed: u64,
    /// What a finished run found wrong beside the scan (Meta: the app is no longer subscribed
    /// to the Page).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[async_trait]
pub trait Checkpoints: Send + Sync {
    /// The run in progress for the account, if any.
    async fn current(&self, source: &str, account: &str) -> Result<Option<Run>, StoreError>;
    /// Records `run` as in progress unless another one is; `false` when another one is.
    async fn begin(&self, run: &Run) -> Result<bool, StoreError>;
    /// Saves progress; refused (`false`) unless the stored run is at `pages_before` pages, so
    /// two invocations never both advance one run.
    async fn advance(&self, run: &Run, pages_before: u32) -> Result<bool, StoreError>;
    /// Ends the run (done or failed) and files its summary.
    async fn finish(&self, run: &Run) -> Result<(), StoreError>;
    /// Finished runs, newest first.
    async fn history(
        &self,
        source: &str,
        account: &str,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError>;
}
