//! The DynamoDB adapter of the event log, in the state table. An entry's partition is
//! `E#<source>#<account>#<contact>`: the contact's, under a prefix of its own, so a role may be
//! allowed the log without the contact's state or Meta items (`dynamodb:LeadingKeys` in
//! template.yaml sees only the partition key). The `ByContact` index finds entries and state from
//! the contact id alone.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamo::{Item, get_n, get_s, n, s, state_from, store_err};
use crate::domain::clock::now_secs;
use crate::domain::contact::ContactKey;
use crate::ports::events::{
    CONTACT_INDEX, EVENT_TTL_SECS, EventEntry, EventLog, LoggedEvent, QUEUED, Received, SETTLED,
    contact_index_key, event_sort_key,
};
use crate::ports::store::{ContactState, StoreError};

/// How many items one index query reads at most while looking for unexpired entries.
const PAGE: i32 = 100;

#[derive(Clone)]
pub struct DynamoEventLog {
    client: Client,
    table: String,
}

/// A contact's state as found through the index, with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedState {
    pub contact: ContactKey,
    pub state: ContactState,
}

impl DynamoEventLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The contact's state items: one per account the id appears in (in practice one).
    pub async fn states_for(
        &self,
        source: &str,
        contact_id: &str,
    ) -> Result<Vec<LocatedState>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONTACT_INDEX)
            .key_condition_expression("#c = :c AND sk = :state")
            .expression_attribute_names("#c", "contact")
            .expression_attribute_values(":c", s(contact_index_key(source, contact_id)))
            .expression_attribute_values(":state", s("STATE"))
            .send()
            .await
            .map_err(store_err)?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let account = account_of(item, source, contact_id)?;
                Some(LocatedState {
                    contact: ContactKey {
                        source: source.parse().ok()?,
                        account,
                        id: contact_id.into(),
                    },
                    state: state_from(item),
                })
            })
            .collect())
    }

    /// Every unexpired event-log entry of every contact, in one pass over the table (`Scan`,
    /// 1 MB pages). For whole-stack reports; one contact's entries come from the index instead.
    pub async fn all_events(&self) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        let now = now_secs();
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :e)")
                .expression_attribute_values(":e", s("E#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_err)?;
            events.extend(
                out.items()
                    .iter()
                    .filter_map(|item| {
                        let (source, id) = get_s(item, "contact")?.split_once('#')?;
                        event_from(item, source, id)
                    })
                    .filter(|e| e.expires_at > now),
            );
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(events),
            }
        }
    }

    async fn update(&self, entry: &EventEntry, u: Expr, only_if: Only) -> UpdateResult {
        self.update_key(
            &entry.contact,
            entry.received_at_ms,
            &entry.job_id,
            u,
            only_if,
        )
        .await
    }

    async fn update_key(
        &self,
        contact: &ContactKey,
        received_at_ms: i64,
        job_id: &str,
        mut u: Expr,
        only_if: Only,
    ) -> UpdateResult {
        let condition = match only_if {
            Only::Always => None,
            Only::Logged => {
                u.name("job_id");
                Some("attribute_exists(#job_id)".to_string())
            }
            Only::Unsettled => {
                let settled = u.settled_outcomes();
                Some(format!(
                    "attribute_not_exists(#outcome) OR NOT (#outcome IN ({settled}))"
                ))
            }
        };
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(contact)))
            .key("sk", s(event_sort_key(received_at_ms, job_id)))
            .update_expression(u.expression())
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .set_condition_expression(condition);
        match req.send().await {
            Ok(_) => UpdateResult::Done,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                UpdateResult::ConditionFailed
            }
            Err(e) => UpdateResult::Failed(store_err(e)),
        }
    }
}

/// When an update applies.
#[derive(Clone, Copy)]
enum Only {
    Always,
    /// The entry exists (ingress or an attempt wrote it).
    Logged,
    /// No attempt has settled what the job came to yet.
    Unsettled,
}

enum UpdateResult {
    Done,
    ConditionFailed,
    Failed(StoreError),
}

#[async_trait]
impl EventLog for DynamoEventLog {
    async fn received(&self, r: &Received<'_>) -> Result<(), StoreError> {
        let u = received_update(r, crate::domain::clock::now_ms());
        match self
            .update_key(r.contact, r.received_at_ms, r.job_id, u, Only::Always)
            .await
        {
            UpdateResult::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }

    async fn duplicate_delivery(&self, original: &Received<'_>) -> Result<(), StoreError> {
        let mut u = Expr::default();
        u.add_one("duplicate_deliveries");
        match self
            .update_key(
                original.contact,
                original.received_at_ms,
                original.job_id,
                u,
                Only::Logged,
            )
            .await
        {
            UpdateResult::Failed(e) => Err(e),
            // The original's entry expired (or was never written): there is nothing to count on.
            _ => Ok(()),
        }
    }

    async fn record(&self, entry: &EventEntry) -> Result<(), StoreError> {
        if !(entry.duplicate || entry.keep_settled) {
            return match self.update(entry, full_update(entry), Only::Always).await {
                UpdateResult::Failed(e) => Err(e),
                _ => Ok(()),
            };
        }
        // This outcome settles the job only if nothing settled it yet (queued, retried, never
        // logged, expired); otherwise the attempt is only counted on what the job came to. Tried
        // in that order because the common case is a covered or stale job whose entry ingress
        // left `queued`: one write. A duplicate of a settled job takes two.
        match self
            .update(entry, full_update(entry), Only::Unsettled)
            .await
        {
            UpdateResult::Done => Ok(()),
            UpdateResult::Failed(e) => Err(e),
            UpdateResult::ConditionFailed => {
                match self
                    .update(entry, counted_update(entry), Only::Always)
                    .await
                {
                    UpdateResult::Failed(e) => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }

    async fn for_contact(
        &self,
        source: &str,
        contact_id: &str,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        let now = now_secs();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONTACT_INDEX)
                .key_condition_expression("#c = :c AND begins_with(sk, :e)")
                .expression_attribute_names("#c", "contact")
                .expression_attribute_values(":c", s(contact_index_key(source, contact_id)))
                .expression_attribute_values(":e", s("E#"))
                .scan_index_forward(false)
                .limit(PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_err)?;
            // Expired items may linger (DynamoDB deletes them lazily; moto never does).
            events.extend(
                out.items()
                    .iter()
                    .filter_map(|i| event_from(i, source, contact_id))
                    .filter(|e| e.expires_at > now),
            );
            match out.last_evaluated_key {
                Some(key) if events.len() < limit => start = Some(key),
                _ => break,
            }
        }
        events.truncate(limit);
        Ok(events)
    }
}

/// `SET … ADD … REMOVE …` with every attribute name aliased (some, like `trigger`, are reserved).
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let alias = format!("#{attr}");
        self.names.insert(alias.clone(), attr.to_string());
        alias
    }

    fn set(&mut self, attr: &str, v: AttributeValue) {
        let name = self.name(attr);
        self.set.push(format!("{name} = :{attr}"));
        self.values.insert(format!(":{attr}"), v);
    }

    fn set_if_absent(&mut self, attr: &str, v: AttributeValue) {
        let name = self.name(attr);
        self.set
            .push(format!("{name} = if_not_exists({name}, :{attr})"));
        self.values.insert(format!(":{attr}"), v);
    }

    fn set_or_remove(&mut self, attr: &str, v: Option<AttributeValue>) {
        match v {
            Some(v) => self.set(attr, v),
            None => {
                let name = self.name(attr);
                self.remove.push(name);
            }
        }
    }

    /// `:settled_…` values for each settled outcome, as an `IN` list; names `#outcome`.
    fn settled_outcomes(&mut self) -> String {
        self.name("outcome");
        let mut names = Vec::with_capacity(SETTLED.len());
        for outcome in SETTLED {
            let name = format!(":settled_{outcome}");
            self.values.insert(name.clone(), s(outcome));
            names.push(name);
        }
        names.join(", ")
    }

    fn add_one(&mut self, attr: &str) {
        let name = self.name(attr);
        self.add.push(format!("{name} :one"));
        self.values.insert(":one".into(), n(1));
    }

    fn expression(&self) -> String {
        [
            ("SET", &self.set),
            ("ADD", &self.add),
            ("REMOVE", &self.remove),
        ]
        .iter()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// What every attempt updates: the counters and timestamps.
fn counted_update(e: &EventEntry) -> Expr {
    let mut u = Expr::default();
    u.add_one("attempts");
    if e.duplicate {
        u.add_one("duplicates");
    }
    u.set("last_attempt_ms", n(e.at_ms));
    u.set("last_receive_count", n(i64::from(e.receive_count)));
    u.set("expires_at", n(e.at_ms / 1000 + EVENT_TTL_SECS));
    u
}

/// What ingress writes: identity and `queued`, each only where no attempt has written yet (the
/// consumer can be faster than this write).
fn received_update(r: &Received<'_>, at_ms: i64) -> Expr {
    let mut u = Expr::default();
    u.set("job_id", s(r.job_id));
    u.set("trigger", s(r.trigger));
    u.set(
        "contact",
        s(contact_index_key(r.contact.source.as_str(), &r.contact.id)),
    );
    u.set("received_at_ms", n(r.received_at_ms));
    u.set_if_absent("outcome", s(QUEUED));
    u.set_if_absent("expires_at", n(at_ms / 1000 + EVENT_TTL_SECS));
    u
}

/// An attempt that settles (or re-settles) what the job came to.
fn full_update(e: &EventEntry) -> Expr {
    let mut u = counted_update(e);
    u.set("job_id", s(&e.job_id));
    u.set("trigger", s(&e.trigger));
    u.set(
        "contact",
        s(contact_index_key(e.contact.source.as_str(), &e.contact.id)),
    );
    u.set("received_at_ms", n(e.received_at_ms));
    u.set_if_absent("first_seen_ms", n(e.at_ms));
    u.set("outcome", s(&e.outcome));
    u.set_or_remove("reason", e.reason.clone().map(s));
    u.set_or_remove("http_status", e.http_status.map(|h| n(i64::from(h))));
    if let Some(id) = e.calltools_id {
        u.set("calltools_id", n(id));
    }
    u
}

/// The partition of a contact's event entries.
fn event_pk(contact: &ContactKey) -> String {
    format!("{EVENT_PK_PREFIX}{}", contact.storage_id())
}

const EVENT_PK_PREFIX: &str = "E#";
/// Where entries were written before they had a prefix of their own: beside the contact's state.
/// Read until they expire (30 days), never written.
const LEGACY_EVENT_PK_PREFIX: &str = "C#";

/// The account from `E#<source>#<account>#<contact>` (or the legacy `C#…`) of an entry, or from
/// `C#<source>#<account>#<contact>` of a state item.
fn account_of(item: &Item, source: &str, contact_id: &str) -> Option<String> {
    let pk = get_s(item, "pk")?;
    [EVENT_PK_PREFIX, LEGACY_EVENT_PK_PREFIX]
        .iter()
        .find_map(|prefix| pk.strip_prefix(&format!("{prefix}{source}#")))?
        .strip_suffix(&format!("#{contact_id}"))
        .map(str::to_string)
}

fn event_from(item: &Item, source: &str, contact_id: &str) -> Option<LoggedEvent> {
    let count = |name| {
        get_n(item, name)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    Some(LoggedEvent {
        source: source.into(),
        account: account_of(item, source, contact_id)?,
        contact_id: contact_id.into(),
        job_id: get_s(item, "job_id")?.to_string(),
        trigger: get_s(item, "trigger").unwrap_or_default().to_string(),
        received_at_ms: get_n(item, "received_at_ms").unwrap_or(0),
        outcome: get_s(item, "outcome")?.to_string(),
        reason: get_s(item, "reason").map(str::to_string),
        http_status: get_n(item, "http_status").and_then(|h| u16::try_from(h).ok()),
        calltools_id: get_n(item, "calltools_id"),
        attempts: count("attempts"),
        duplicates: count("duplicates"),
        duplicate_deliveries: count("duplicate_deliveries"),
        last_receive_count: count("last_receive_count"),
        first_seen_ms: get_n(item, "first_seen_ms").unwrap_or(0),
        last_attempt_ms: get_n(item, "last_attempt_ms").unwrap_or(0),
        expires_at: get_n(item, "expires_at").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(duplicate: bool) -> EventEntry {
        EventEntry {
            contact: ContactKey::ghl("loc", "c1"),
            job_id: "ghl:w1".into(),
            trigger: "ContactUpdate".into(),
            received_at_ms: 1_000,
            outcome: "skipped".into(),
            reason: Some("stale".into()),
            http_status: None,
            calltools_id: None,
            receive_count: 2,
            duplicate,
            keep_settled: duplicate,
            at_ms: 2_000,
        }
    }

    #[test]
    fn an_attempt_counts_itself_and_settles_the_outcome() {
        let u = full_update(&entry(false));
        let e = u.expression();
        assert!(e.starts_with("SET "), "{e}");
        assert!(e.contains("ADD #attempts :one"), "{e}");
        assert!(e.contains("#outcome = :outcome"), "{e}");
        assert!(
            e.contains("#first_seen_ms = if_not_exists(#first_seen_ms, :first_seen_ms)"),
            "{e}"
        );
        assert!(e.ends_with("REMOVE #http_status"), "{e}");
        assert_eq!(u.values.get(":contact"), Some(&s("ghl#c1")));
        assert_eq!(u.names.get("#trigger").map(String::as_str), Some("trigger"));
    }

    #[test]
    fn a_duplicate_only_counts_and_leaves_the_outcome_alone() {
        let e = counted_update(&entry(true)).expression();
        assert!(e.contains("ADD #attempts :one, #duplicates :one"), "{e}");
        assert!(!e.contains(":outcome"), "{e}");
    }

    #[test]
    fn what_ingress_writes_never_overwrites_an_attempt() {
        let r = Received {
            contact: &ContactKey::ghl("loc", "c1"),
            job_id: "ghl:w1",
            trigger: "ContactUpdate",
            received_at_ms: 1_000,
        };
        let e = received_update(&r, 2_000).expression();
        assert!(
            e.contains("#outcome = if_not_exists(#outcome, :outcome)"),
            "{e}"
        );
        assert!(!e.contains("attempts"), "{e}");
    }

    #[test]
    fn the_account_comes_from_the_partition_key() {
        for pk in ["E#ghl#loc#1#c1", "C#ghl#loc#1#c1"] {
            let item = HashMap::from([("pk".to_string(), s(pk))]);
            assert_eq!(account_of(&item, "ghl", "c1").as_deref(), Some("loc#1"));
            assert_eq!(account_of(&item, "fb", "c1"), None);
        }
    }

    #[test]
    fn event_entries_are_partitioned_apart_from_the_contacts_state_and_meta_items() {
        // The ingress role is allowed `E#*` partitions and no `C#*` one (template.yaml): an entry
        // written beside the contact's state would need the whole contact, PII and mapping included.
        let contact = ContactKey::ghl("loc", "c1");
        let pk = event_pk(&contact);
        assert_eq!(pk, "E#ghl#loc#c1");
        assert_ne!(pk, crate::aws::dynamo::contact_pk(&contact));
        assert!(!pk.starts_with("C#"));
    }
}
