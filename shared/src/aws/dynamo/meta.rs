//! The Meta store in the state table, beside the contact's other items:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | Meta contact (profile, phone, origin) | `C#<channel>#<page>#<psid>` | `META` |
//! | its conversation with the Page | same | `CONV` |
//! | one message per `mid` | same | `M#<mid>` |
//!
//! Order is settled by conditions, not by reading first: a contact is created by a put that
//! fails if it exists; a conversation's times only move forward; an edit only replaces an older
//! edit; a message that arrives after its own unsend stays unsent.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamo::{Item, applied, contact_pk, get_n, get_s, key, n, s, store_err};
use crate::domain::contact::ContactKey;
use crate::domain::job::Origin;
use crate::ports::store::StoreError;
use crate::sources::meta::graph::Profile;
use crate::sources::meta::store::{
    Direction, MessageChange, MetaContact, MetaConversation, MetaMessage, MetaStore, Receipt,
};

/// The index of Meta contacts by profile age (template.yaml).
const PROFILE_INDEX: &str = "ByProfileAge";

#[derive(Clone)]
pub struct DynamoMetaStore {
    client: Client,
    table: String,
}

impl DynamoMetaStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn item_key(&self, k: &ContactKey, sk: &str) -> Item {
        key(contact_pk(k), sk)
    }

    async fn get(&self, k: &ContactKey, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.item_key(k, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        Ok(out.item)
    }

    /// An update whose failed condition means "already further along": not an error.
    async fn update_if(
        &self,
        k: &ContactKey,
        sk: &str,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.item_key(k, sk)))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (name, v) in values {
            u = u.expression_attribute_values(name, v);
        }
        applied(u.send().await)
    }
}

fn message_sk(mid: &str) -> String {
    format!("M#{mid}")
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    get_s(item, name).map(str::to_string)
}

#[async_trait]
impl MetaStore for DynamoMetaStore {
    async fn create_contact(
        &self,
        k: &ContactKey,
        origin: Origin,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut item = self.item_key(k, "META");
        item.insert("origin".into(), s(origin.as_str()));
        item.insert("created_at_ms".into(), n(at_ms));
        // The refresh index: every contact of one Page by profile age; 0 = never read.
        item.insert(
            "profile_scope".into(),
            s(format!("{}#{}", k.source, k.account)),
        );
        item.insert("profile_at_ms".into(), n(0));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        applied(put)
    }

    async fn contact(&self, k: &ContactKey) -> Result<Option<MetaContact>, StoreError> {
        Ok(self.get(k, "META").await?.map(|item| MetaContact {
            origin: match get_s(&item, "origin") {
                Some("backfill") => Origin::Backfill,
                _ => Origin::Webhook,
            },
            created_at_ms: get_n(&item, "created_at_ms").unwrap_or(0),
            profile: Profile {
                name: opt_s(&item, "p_name"),
                first_name: opt_s(&item, "p_first_name"),
                last_name: opt_s(&item, "p_last_name"),
                username: opt_s(&item, "p_username"),
                profile_pic: opt_s(&item, "p_pic"),
            },
            phone: opt_s(&item, "phone"),
            email: opt_s(&item, "email"),
            profile_at_ms: get_n(&item, "profile_at_ms").filter(|t| *t > 0),
            enrich_reason: opt_s(&item, "enrich_reason"),
        }))
    }

    async fn set_profile(
        &self,
        k: &ContactKey,
        profile: Result<&Profile, &str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        match profile {
            Ok(p) => {
                let fields = [
                    ("p_name", &p.name),
                    ("p_first_name", &p.first_name),
                    ("p_last_name", &p.last_name),
                    ("p_username", &p.username),
                    ("p_pic", &p.profile_pic),
                ];
                let mut set = vec!["profile_at_ms = :at".to_string()];
                let mut remove = vec!["enrich_reason".to_string()];
                let mut values = vec![(":at", n(at_ms))];
                let placeholders = [":a", ":b", ":c", ":d", ":e"];
                for ((name, value), ph) in fields.iter().zip(placeholders) {
                    match value {
                        Some(v) => {
                            set.push(format!("{name} = {ph}"));
                            values.push((ph, s(v.as_str())));
                        }
                        None => remove.push((*name).to_string()),
                    }
                }
                let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
                self.update_if(k, "META", &expression, Some("attribute_exists(pk)"), values)
                    .await?;
            }
            Err(why) => {
                self.update_if(
                    k,
                    "META",
                    "SET enrich_reason = :why",
                    Some("attribute_exists(pk)"),
                    vec![(":why", s(why))],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn set_reachable(
        &self,
        k: &ContactKey,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut set = Vec::new();
        let mut values = Vec::new();
        if let Some(p) = phone {
            set.push("phone = :phone");
            values.push((":phone", s(p)));
        }
        if let Some(e) = email {
            set.push("email = :email");
            values.push((":email", s(e)));
        }
        if set.is_empty() {
            return Ok(());
        }
        let expression = format!("SET {}", set.join(", "));
        self.update_if(k, "META", &expression, Some("attribute_exists(pk)"), values)
            .await?;
        Ok(())
    }

    async fn put_message(&self, k: &ContactKey, m: &MetaMessage) -> Result<bool, StoreError> {
        let mut set = vec![
            "m_dir = :dir",
            "m_kind = :kind",
            "m_created_ms = :at",
            "m_text = if_not_exists(m_text, :text)",
        ];
        let mut values = vec![
            (":dir", s(m.direction.as_str())),
            (":kind", s(m.kind.as_str())),
            (":at", n(m.created_ms)),
            (":text", s(m.text.clone().unwrap_or_default())),
        ];
        for (name, ph, value) in [
            ("m_att", ":att", &m.attachments),
            ("m_qr", ":qr", &m.quick_reply),
            ("m_reply_to", ":rt", &m.reply_to),
        ] {
            if let Some(v) = value {
                set.push(match name {
                    "m_att" => "m_att = :att",
                    "m_qr" => "m_qr = :qr",
                    _ => "m_reply_to = :rt",
                });
                values.push((ph, s(v.as_str())));
            }
        }
        let expression = format!("SET {}", set.join(", "));
        // Once per mid; and a message unsent before it arrived stays unsent.
        self.update_if(
            k,
            &message_sk(&m.mid),
            &expression,
            Some("attribute_not_exists(m_created_ms) AND attribute_not_exists(m_deleted)"),
            values,
        )
        .await
    }

    async fn change_message(
        &self,
        k: &ContactKey,
        mid: &str,
        change: &MessageChange,
    ) -> Result<(), StoreError> {
        let sk = message_sk(mid);
        match change {
            MessageChange::Edited { text, num_edit } => {
                self.update_if(
                    k,
                    &sk,
                    "SET m_text = :text, m_edits = :n",
                    Some("(attribute_not_exists(m_edits) OR m_edits < :n) AND attribute_not_exists(m_deleted)"),
                    vec![(":text", s(text.as_str())), (":n", n(i64::from(*num_edit)))],
                )
                .await?;
            }
            MessageChange::Unsent => {
                self.update_if(
                    k,
                    &sk,
                    "SET m_deleted = :yes REMOVE m_text, m_att",
                    None,
                    vec![(":yes", AttributeValue::Bool(true))],
                )
                .await?;
            }
            MessageChange::Reacted { reaction: Some(r) } => {
                self.update_if(
                    k,
                    &sk,
                    "SET m_reaction = :r",
                    None,
                    vec![(":r", s(r.as_str()))],
                )
                .await?;
            }
            MessageChange::Reacted { reaction: None } => {
                self.update_if(k, &sk, "REMOVE m_reaction", None, vec![])
                    .await?;
            }
        }
        Ok(())
    }

    async fn touch_conversation(
        &self,
        k: &ContactKey,
        activity_ms: Option<i64>,
        receipt: Option<(Receipt, i64)>,
        conversation_id: Option<&str>,
    ) -> Result<(), StoreError> {
        // Each time moves forward on its own condition; a failed one was already further on.
        let forward = |field: &'static str| {
            (
                format!("SET {field} = :t"),
                format!("attribute_not_exists({field}) OR {field} < :t"),
            )
        };
        let mut moves = Vec::new();
        if let Some(a) = activity_ms {
            moves.push((forward("last_activity_ms"), a));
        }
        match receipt {
            Some((Receipt::Delivered, w)) => moves.push((forward("delivered_ms"), w)),
            Some((Receipt::Read, w)) => moves.push((forward("read_ms"), w)),
            None => {}
        }
        for ((expression, condition), t) in moves {
            self.update_if(k, "CONV", &expression, Some(&condition), vec![(":t", n(t))])
                .await?;
        }
        if let Some(id) = conversation_id {
            self.update_if(
                k,
                "CONV",
                "SET conversation_id = :id",
                None,
                vec![(":id", s(id))],
            )
            .await?;
        }
        Ok(())
    }

    async fn conversation(&self, k: &ContactKey) -> Result<Option<MetaConversation>, StoreError> {
        Ok(self.get(k, "CONV").await?.map(|item| MetaConversation {
            conversation_id: opt_s(&item, "conversation_id"),
            last_activity_ms: get_n(&item, "last_activity_ms").unwrap_or(0),
            delivered_ms: get_n(&item, "delivered_ms"),
            read_ms: get_n(&item, "read_ms"),
        }))
    }

    async fn stale_profiles(
        &self,
        channel: crate::sources::meta::Channel,
        account_id: &str,
        older_than_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = format!("C#{}", channel.contact_key(account_id, "").storage_id());
        let mut users = Vec::new();
        let mut start = None;
        while users.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PROFILE_INDEX)
                .key_condition_expression("profile_scope = :scope AND profile_at_ms < :cut")
                .expression_attribute_values(
                    ":scope",
                    s(format!("{}#{account_id}", channel.as_str())),
                )
                .expression_attribute_values(":cut", n(older_than_ms))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_err)?;
            users.extend(
                out.items().iter().filter_map(|item| {
                    get_s(item, "pk")?.strip_prefix(&prefix).map(str::to_string)
                }),
            );
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        users.truncate(limit);
        Ok(users)
    }

    async fn messages(&self, k: &ContactKey) -> Result<BTreeMap<String, MetaMessage>, StoreError> {
        let mut found = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
                .expression_attribute_values(":pk", s(contact_pk(k)))
                .expression_attribute_values(":m", s("M#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_err)?;
            for item in out.items() {
                let Some(mid) = get_s(item, "sk").and_then(|sk| sk.strip_prefix("M#")) else {
                    continue;
                };
                found.insert(
                    mid.to_string(),
                    MetaMessage {
                        mid: mid.to_string(),
                        direction: match get_s(item, "m_dir") {
                            Some("out") => Direction::Out,
                            _ => Direction::In,
                        },
                        kind: opt_s(item, "m_kind").unwrap_or_else(|| "message".into()),
                        text: opt_s(item, "m_text").filter(|t| !t.is_empty()),
                        attachments: opt_s(item, "m_att"),
                        quick_reply: opt_s(item, "m_qr"),
                        reply_to: opt_s(item, "m_reply_to"),
                        created_ms: get_n(item, "m_created_ms").unwrap_or(0),
                        edits: get_n(item, "m_edits").unwrap_or(0).max(0) as u32,
                        deleted: matches!(item.get("m_deleted"), Some(AttributeValue::Bool(true))),
                        reaction: opt_s(item, "m_reaction"),
                    },
                );
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(found),
            }
        }
    }
}
