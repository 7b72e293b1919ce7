//! The DynamoDB adapter of the CallTools placement memory: one small item per CallTools
//! account, written when a method is learned and read once per cold start.

use async_trait::async_trait;

use crate::aws::dynamo::{DynamoStore, get_s, key, n, s, store_err};
use crate::domain::clock::now_ms;
use crate::ports::store::StoreError;
use crate::sinks::calltools::placement::{Placement, PlacementStore};

fn placement_pk(account: &str) -> String {
    format!("P#calltools#{account}")
}

#[async_trait]
impl PlacementStore for DynamoStore {
    async fn placement(&self, account: &str) -> Result<Option<Placement>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(placement_pk(account), "PLACEMENT")))
            .send()
            .await
            .map_err(store_err)?;
        Ok(out
            .item
            .and_then(|item| get_s(&item, "method").and_then(Placement::parse)))
    }

    async fn save_placement(&self, account: &str, method: Placement) -> Result<(), StoreError> {
        let mut item = key(placement_pk(account), "PLACEMENT");
        item.insert("method".into(), s(method.as_str()));
        item.insert("learned_at_ms".into(), n(now_ms()));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }
}
