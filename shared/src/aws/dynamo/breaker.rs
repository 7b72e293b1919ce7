//! The DynamoDB adapter of the circuit breaker's shared state: one item per breaker, each
//! transition a conditional put on the version it replaces.

use async_trait::async_trait;

use crate::aws::dynamo::{DynamoStore, applied, get_n, get_s, key, n, s, store_err};
use crate::ports::breaker::{BreakerStore, Shared, State};
use crate::ports::store::StoreError;

fn breaker_pk(name: &str) -> String {
    format!("B#{name}")
}

#[async_trait]
impl BreakerStore for DynamoStore {
    async fn load_breaker(&self, name: &str) -> Result<Shared, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(breaker_pk(name), "BREAKER")))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        Ok(out.item.map_or_else(Shared::default, |item| Shared {
            state: State::parse(get_s(&item, "state").unwrap_or("closed")),
            since_ms: get_n(&item, "since_ms").unwrap_or(0),
            version: get_n(&item, "version").unwrap_or(0).max(0) as u64,
            probe_owner: get_s(&item, "probe_owner").map(str::to_string),
        }))
    }

    async fn transition_breaker(
        &self,
        name: &str,
        expected_version: u64,
        next: &Shared,
    ) -> Result<bool, StoreError> {
        let mut item = key(breaker_pk(name), "BREAKER");
        item.insert("state".into(), s(next.state.as_str()));
        item.insert("since_ms".into(), n(next.since_ms));
        item.insert("version".into(), n(next.version as i64));
        if let Some(owner) = &next.probe_owner {
            item.insert("probe_owner".into(), s(owner.as_str()));
        }
        let condition = if expected_version == 0 {
            "attribute_not_exists(pk) OR version = :v"
        } else {
            "version = :v"
        };
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(":v", n(expected_version as i64))
            .send()
            .await;
        applied(result)
    }
}
