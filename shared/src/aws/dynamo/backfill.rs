//! Backfill checkpoints in the state table: the run in progress per account
//! (`BF#<source>#<account>` / `CURRENT`), advanced by a conditional put after every page, and the
//! finished runs (`RUN#<started ms>#<run id>`, kept 90 days) that `leadsync backfill status`
//! lists. The run itself is stored as JSON: it is read and written whole.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use crate::aws::dynamo::{Item, applied, condition_failed, get_s, key, n, s, store_err};
use crate::backfill::{Checkpoints, Run};
use crate::domain::clock::now_secs;
use crate::ports::store::StoreError;

/// How long finished runs are kept.
const HISTORY_TTL_SECS: i64 = 90 * 86_400;

#[derive(Clone)]
pub struct DynamoCheckpoints {
    client: Client,
    table: String,
}

fn pk(source: &str, account: &str) -> String {
    format!("BF#{source}#{account}")
}

fn item(run: &Run, sk: &str) -> Result<Item, StoreError> {
    let mut item = key(pk(&run.source, &run.account), sk);
    item.insert(
        "run".into(),
        s(serde_json::to_string(run).map_err(|e| StoreError::permanent(e.to_string()))?),
    );
    item.insert("run_id".into(), s(&run.run_id));
    item.insert("pages".into(), n(i64::from(run.pages)));
    Ok(item)
}

fn run_from(item: &Item) -> Result<Run, StoreError> {
    let json =
        get_s(item, "run").ok_or_else(|| StoreError::permanent("checkpoint without a run"))?;
    serde_json::from_str(json)
        .map_err(|e| StoreError::permanent(format!("unreadable checkpoint: {e}")))
}

impl DynamoCheckpoints {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl Checkpoints for DynamoCheckpoints {
    async fn current(&self, source: &str, account: &str) -> Result<Option<Run>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(source, account), "CURRENT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        out.item.as_ref().map(run_from).transpose()
    }

    async fn begin(&self, run: &Run) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(run, "CURRENT")?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        applied(result)
    }

    async fn advance(&self, run: &Run, pages_before: u32) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(run, "CURRENT")?))
            .condition_expression("run_id = :id AND pages = :before")
            .expression_attribute_values(":id", s(&run.run_id))
            .expression_attribute_values(":before", n(i64::from(pages_before)))
            .send()
            .await;
        applied(result)
    }

    async fn finish(&self, run: &Run) -> Result<(), StoreError> {
        // The summary first: a crash in between leaves the run current, and the next
        // invocation finishes it again (the summary item is the same).
        let mut summary = item(
            run,
            &format!("RUN#{:013}#{}", run.started_at_ms, run.run_id),
        )?;
        summary.insert("expires_at".into(), n(now_secs() + HISTORY_TTL_SECS));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(summary))
            .send()
            .await
            .map_err(store_err)?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(&run.source, &run.account), "CURRENT")))
            .condition_expression("run_id = :id")
            .expression_attribute_values(":id", s(&run.run_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already finished by another invocation.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn history(
        &self,
        source: &str,
        account: &str,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :run)")
            .expression_attribute_values(":pk", s(pk(source, account)))
            .expression_attribute_values(":run", s("RUN#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(store_err)?;
        out.items().iter().map(run_from).collect()
    }
}
