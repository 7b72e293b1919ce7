//! GHL OAuth tokens in the state table (`AUTH#<source>#<account>` / `TOKENS`), encrypted at rest
//! with the table's KMS key. Every change is conditional on the version read, so a rotated
//! refresh token is saved exactly once or not at all. Only the consumer and backfill roles are
//! allowed `AUTH#*` keys, and only with OAuth configured (template.yaml).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamo::{Item, applied, get_n, get_s, key, n, s, store_err};
use crate::ports::store::StoreError;
use crate::sources::ghl::auth::{StoredTokens, TokenStore};
use crate::support::secret::Secret;

const SK: &str = "TOKENS";

#[derive(Clone)]
pub struct DynamoTokenStore {
    client: Client,
    table: String,
    source: &'static str,
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>, source: &'static str) -> Self {
        Self {
            client,
            table: table.into(),
            source,
        }
    }

    fn key(&self, account: &str) -> Item {
        key(format!("AUTH#{}#{account}", self.source), SK)
    }
}

fn tokens_from(item: &Item) -> Result<StoredTokens, StoreError> {
    let refresh = get_s(item, "refresh_token")
        .ok_or_else(|| StoreError::permanent("stored GHL tokens without a refresh token"))?;
    Ok(StoredTokens {
        access_token: get_s(item, "access_token").map(Secret::new),
        refresh_token: Secret::new(refresh),
        expires_at_ms: get_n(item, "expires_at_ms").unwrap_or(0),
        version: get_n(item, "version").unwrap_or(0).max(0) as u64,
        seed_hash: get_s(item, "seed_hash").unwrap_or_default().to_string(),
        broken: matches!(item.get("broken"), Some(AttributeValue::Bool(true))),
    })
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    async fn load(&self, account: &str) -> Result<Option<StoredTokens>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(account)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        out.item.as_ref().map(tokens_from).transpose()
    }

    async fn start_chain(
        &self,
        account: &str,
        tokens: &StoredTokens,
        replacing: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut item = self.key(account);
        item.insert("refresh_token".into(), s(tokens.refresh_token.expose()));
        item.insert("seed_hash".into(), s(&tokens.seed_hash));
        item.insert("expires_at_ms".into(), n(tokens.expires_at_ms));
        item.insert("broken".into(), AttributeValue::Bool(false));
        item.insert("version".into(), n(tokens.version as i64));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match replacing {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v AND broken = :true")
                .expression_attribute_values(":v", n(v as i64))
                .expression_attribute_values(":true", AttributeValue::Bool(true)),
        };
        applied(put.send().await)
    }

    async fn claim_refresh(
        &self,
        account: &str,
        version: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(account)))
            .update_expression("SET lease_until_ms = :until")
            .condition_expression(
                "version = :v AND (attribute_not_exists(lease_until_ms) OR lease_until_ms < :now)",
            )
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":v", n(version as i64))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        applied(result)
    }

    async fn save(
        &self,
        account: &str,
        tokens: &StoredTokens,
        version: u64,
    ) -> Result<bool, StoreError> {
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(account)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version as i64))
            .expression_attribute_values(":next", n(version as i64 + 1))
            .expression_attribute_values(":refresh", s(tokens.refresh_token.expose()))
            .expression_attribute_values(":expires", n(tokens.expires_at_ms))
            .expression_attribute_values(":broken", AttributeValue::Bool(tokens.broken));
        let common =
            "refresh_token = :refresh, expires_at_ms = :expires, broken = :broken, version = :next";
        let expression = match &tokens.access_token {
            Some(a) => {
                u = u.expression_attribute_values(":access", s(a.expose()));
                format!("SET access_token = :access, {common} REMOVE lease_until_ms")
            }
            None => format!("SET {common} REMOVE lease_until_ms, access_token"),
        };
        let result = u.update_expression(expression).send().await;
        applied(result)
    }
    async fn expire_access(&self, account: &str, access_token: &Secret) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(account)))
            .update_expression("SET expires_at_ms = :zero")
            .condition_expression("access_token = :access")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":access", s(access_token.expose()))
            .send()
            .await;
        // Not applied: the token was already rotated away, which is what was wanted.
        applied(result).map(|_| ())
    }
}
