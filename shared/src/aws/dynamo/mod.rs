//! The DynamoDB adapter of the store ports: conditional writes do the locking, so no item is
//! ever read and then written on an assumption. Each child module adapts one more port to the same
//! table.

pub mod backfill;
pub mod breaker;
pub mod events;
pub mod meta;
pub mod placement;
pub mod tokens;

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, WriteRequest,
};

use crate::domain::clock::{now_ms, now_secs};
use crate::domain::contact::{ContactKey, DoNotCall};
use crate::domain::sink::SinkId;
use crate::ports::events::contact_index_key;
use crate::ports::store::{
    Carried, ContactState, JobClaim, Lease, SinkIndex, SinkState, StateScan, StateStore,
    StatesPage, StoreError, WebhookClaim, WebhookLedger,
};

/// A completed job is remembered longer than the DLQ keeps messages (14 days), so replaying an
/// old message that did succeed is still recognised as a duplicate.
const COMPLETED_JOB_TTL_SECS: i64 = 15 * 86_400;
/// Long enough to cover GHL's 429 retries (about 70 minutes) with a wide margin.
const WEBHOOK_TTL_SECS: i64 = 2 * 86_400;
/// The contact state's attribute with one entry per sink: `{"calltools": {id, hash, buckets,
/// tags, unconfirmed_create_phone}}`.
const SINKS: &str = "sinks";
/// The sparse index of contact states with a CallTools id (`template.yaml`).
const CALLTOOLS_INDEX: &str = "ByCallToolsId";

pub(super) type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn contact_pk(k: &ContactKey) -> String {
    format!("C#{}", k.storage_id())
}

/// A failed DynamoDB call as a [`StoreError`] that says whether retrying can help.
pub(super) fn store_err<E>(e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = crate::support::error_line::error_line(&e);
    if is_transient(&e) {
        StoreError::transient(message)
    } else {
        StoreError::permanent(message)
    }
}

/// DynamoDB's error codes for "not now" rather than "not this": throttling (which the SDK has
/// already retried), a failure on its side, a request that timed out, a transaction conflict.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether the same call may succeed later: a timeout, a connection that failed or an answer
/// cut short, throttling, a 5xx. A failed condition, a validation error, a refused permission
/// or a request that could not be built would fail again.
pub(super) fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A connector's "user" error is the client's own configuration.
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ServiceError(s) => {
            let status = s.raw().status();
            status.is_server_error()
                || status.as_u16() == 429
                || e.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        _ => false,
    }
}

/// The three write errors that can carry a failed condition.
pub(super) trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

pub(super) fn condition_failed<E: ConditionFailed, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .is_some_and(ConditionFailed::condition_failed)
}

/// A conditional write's result: `true` when it was applied, `false` when its condition failed.
pub(super) fn applied<O, E>(
    result: Result<O, SdkError<E, HttpResponse>>,
) -> Result<bool, StoreError>
where
    E: ConditionFailed + ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(store_err(e)),
    }
}

/// For releases: a failed condition means someone else already holds or removed it — fine.
fn ok_unless_other_error<O, E>(
    result: Result<O, SdkError<E, HttpResponse>>,
) -> Result<(), StoreError>
where
    E: ConditionFailed + ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Err(e) if !condition_failed(&e) => Err(store_err(e)),
        _ => Ok(()),
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_ns(item: &Item, name: &str) -> BTreeSet<i64> {
    item.get(name)
        .and_then(|v| v.as_ns().ok())
        .map(|ns| ns.iter().filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default()
}

/// Ingress's count of the webhooks accepted for a contact ([`WebhookLedger::arrived`]).
const ARRIVED_SEQ: &str = "webhook_seq";

pub(super) fn state_from(item: &Item) -> ContactState {
    let state = ContactState {
        version_ms: get_n(item, "version_ms"),
        // Absent in items saved before webhook timestamps were kept apart: no webhook guard.
        webhook_ms: get_n(item, "webhook_ms"),
        updated_at_ms: get_n(item, "updated_at_ms"),
        read_at_ms: get_n(item, "read_at_ms"),
        arrived_seq: get_n(item, ARRIVED_SEQ),
        read_seq: get_n(item, "read_seq"),
        source_hash: get_s(item, "source_hash").map(str::to_string),
        do_not_call: get_s(item, "do_not_call").and_then(DoNotCall::from_label),
        sinks: Default::default(),
    };
    SinkId::ALL.into_iter().fold(state, |state, sink| {
        state.with_sink(sink, sink_state_from(item, sink))
    })
}

/// One sink's entry: from the `sinks` map, or, in an item saved before there was one, from the
/// CallTools attributes that came before it.
fn sink_state_from(item: &Item, sink: SinkId) -> SinkState {
    let entry = item
        .get(SINKS)
        .and_then(|v| v.as_m().ok())
        .and_then(|m| m.get(sink.as_str()))
        .and_then(|v| v.as_m().ok());
    match (entry, sink) {
        (Some(m), _) => SinkState {
            id: get_n(m, "id"),
            hash: get_s(m, "hash").map(str::to_string),
            buckets: get_ns(m, "buckets"),
            tags: get_ns(m, "tags"),
            unconfirmed_create_phone: get_s(m, "unconfirmed_create_phone").map(str::to_string),
            opted_out: get_bool(m, "opted_out"),
            dnd_written: get_bool(m, "dnd_written"),
            done: get_ss(m, "done")
                .iter()
                .filter_map(|t| Carried::parse(t))
                .collect(),
            unconfirmed_notes: get_ss(m, "unconfirmed_notes").into_iter().collect(),
            parked: get_ss(m, "parked")
                .iter()
                .filter_map(|t| Carried::parse(t))
                .collect(),
            recorded: get_ns(m, "recorded"),
            version_ms: get_n(m, "version_ms"),
        },
        (None, SinkId::CallTools) => SinkState {
            id: get_n(item, "calltools_id"),
            hash: get_s(item, "sink_hash").map(str::to_string),
            buckets: get_ns(item, "ct_buckets"),
            tags: get_ns(item, "ct_tags"),
            unconfirmed_create_phone: get_s(item, "unconfirmed_create_phone").map(str::to_string),
            ..SinkState::default()
        },
        (None, _) => SinkState::default(),
    }
}

/// The `sinks` map: one entry per sink written to, each holding only what it has (DynamoDB
/// refuses an empty number set).
fn sinks_attribute(state: &ContactState) -> Option<AttributeValue> {
    let entries: HashMap<String, AttributeValue> = state
        .sinks
        .iter()
        .map(|(sink, st)| {
            let fields: Item = [
                ("id", st.id.map(n)),
                ("hash", st.hash.clone().map(s)),
                ("buckets", id_set(&st.buckets)),
                ("tags", id_set(&st.tags)),
                (
                    "unconfirmed_create_phone",
                    st.unconfirmed_create_phone.clone().map(s),
                ),
                ("opted_out", flag(st.opted_out)),
                ("dnd_written", flag(st.dnd_written)),
                ("done", text_set(st.done.iter().map(Carried::as_text))),
                (
                    "unconfirmed_notes",
                    text_set(st.unconfirmed_notes.iter().cloned()),
                ),
                ("parked", text_set(st.parked.iter().map(Carried::as_text))),
                ("recorded", id_set(&st.recorded)),
                ("version_ms", st.version_ms.map(n)),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
            (sink.as_str().to_string(), AttributeValue::M(fields))
        })
        .collect();
    (!entries.is_empty()).then_some(AttributeValue::M(entries))
}

/// Builds `SET #a = :a, … REMOVE #x, …` for optional attributes. Every name goes through an
/// alias, so no attribute can collide with one of DynamoDB's reserved words.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl Update {
    fn set(&mut self, name: &str, value: Option<AttributeValue>) {
        self.names.insert(format!("#{name}"), name.to_string());
        match value {
            Some(v) => {
                self.set.push(format!("#{name} = :{name}"));
                self.values.insert(format!(":{name}"), v);
            }
            None => self.remove.push(format!("#{name}")),
        }
    }

    fn expression(&self) -> String {
        let mut e = String::new();
        if !self.set.is_empty() {
            e.push_str("SET ");
            e.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            e.push_str(" REMOVE ");
            e.push_str(&self.remove.join(", "));
        }
        e
    }
}

/// A flag kept only when set, like the other entries' fields.
fn flag(set: bool) -> Option<AttributeValue> {
    set.then_some(AttributeValue::Bool(true))
}

fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied() == Some(true)
}

/// A string set, or `None` when empty (DynamoDB refuses an empty set).
fn text_set(texts: impl Iterator<Item = String>) -> Option<AttributeValue> {
    let texts: Vec<String> = texts.collect();
    (!texts.is_empty()).then_some(AttributeValue::Ss(texts))
}

fn get_ss(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default()
}

fn id_set(ids: &BTreeSet<i64>) -> Option<AttributeValue> {
    (!ids.is_empty()).then(|| AttributeValue::Ns(ids.iter().map(i64::to_string).collect()))
}

/// A contact state's attributes as saved; `None` ones are removed.
///
/// The CallTools entry is also mirrored into the attributes that came before the `sinks` map, so
/// a consumer rolled back to a release that knows only those still finds every mapping (and does
/// not create a second contact). They can go one release after every item has been rewritten.
fn state_attributes(
    k: &ContactKey,
    state: &ContactState,
) -> [(&'static str, Option<AttributeValue>); 14] {
    let ct = state.sink(SinkId::CallTools);
    [
        ("version_ms", state.version_ms.map(n)),
        ("webhook_ms", state.webhook_ms.map(n)),
        (SINKS, sinks_attribute(state)),
        ("calltools_id", ct.id.map(n)),
        ("sink_hash", ct.hash.clone().map(s)),
        ("ct_buckets", id_set(&ct.buckets)),
        ("ct_tags", id_set(&ct.tags)),
        ("updated_at_ms", Some(n(now_ms()))),
        ("read_at_ms", state.read_at_ms.map(n)),
        ("read_seq", state.read_seq.map(n)),
        ("source_hash", state.source_hash.clone().map(s)),
        ("do_not_call", state.do_not_call.map(|d| s(d.as_str()))),
        (
            "unconfirmed_create_phone",
            ct.unconfirmed_create_phone.clone().map(s),
        ),
        // The `ByContact` index key, so the contact id alone finds this state (`leadsync trace`).
        (
            "contact",
            Some(s(contact_index_key(k.source.as_str(), &k.id))),
        ),
    ]
}

impl DynamoStore {
    /// Writes contact states outright, 25 to a `BatchWriteItem`, with no lease and no condition:
    /// for filling a table before anything runs on it (the backfill's scale tests and
    /// benchmark). Never while a consumer runs: it would overwrite what the consumer decided.
    pub async fn import_states(
        &self,
        states: &[(ContactKey, ContactState)],
    ) -> Result<(), StoreError> {
        for chunk in states.chunks(25) {
            let pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|(k, state)| {
                    let mut item = key(contact_pk(k), "STATE");
                    item.extend(
                        state_attributes(k, state)
                            .into_iter()
                            .filter_map(|(name, v)| Some((name.to_string(), v?))),
                    );
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| StoreError::permanent(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            until_processed(pending, |p| self.batch_write_round(p)).await?;
        }
        Ok(())
    }

    async fn batch_write_round(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Result<(Vec<Item>, Vec<WriteRequest>), StoreError> {
        let out = self
            .client
            .batch_write_item()
            .request_items(&self.table, requests)
            .send()
            .await
            .map_err(store_err)?;
        let unprocessed = out
            .unprocessed_items()
            .and_then(|u| u.get(&self.table))
            .cloned()
            .unwrap_or_default();
        Ok((Vec::new(), unprocessed))
    }

    async fn batch_get_round(
        &self,
        keys: Vec<Item>,
        projection: Option<&str>,
    ) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .set_projection_expression(projection.map(str::to_string))
            .build()
            .map_err(|e| StoreError::permanent(e.to_string()))?;
        let mut out = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(store_err)?;
        let found = out
            .responses
            .as_mut()
            .and_then(|r| r.remove(&self.table))
            .unwrap_or_default();
        let unprocessed = out
            .unprocessed_keys()
            .and_then(|u| u.get(&self.table))
            .map(|k| k.keys().to_vec())
            .unwrap_or_default();
        Ok((found, unprocessed))
    }
}

/// Runs a batch call until DynamoDB has processed every request: what a `BatchGetItem` or
/// `BatchWriteItem` answers as unprocessed (throttling, the 16 MB answer limit) is sent again
/// after a growing pause. Returns every item the rounds answered.
async fn until_processed<T, F, Fut>(
    mut pending: Vec<T>,
    mut round_trip: F,
) -> Result<Vec<Item>, StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Item>, Vec<T>), StoreError>>,
{
    const ROUNDS: u32 = 8;
    let mut answered = Vec::new();
    for round in 0..ROUNDS {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50 << (round - 1).min(5))).await;
        }
        let (items, unprocessed) = round_trip(pending).await?;
        answered.extend(items);
        pending = unprocessed;
    }
    if !pending.is_empty() {
        return Err(StoreError::transient(format!(
            "{} batch requests still unprocessed after {ROUNDS} rounds",
            pending.len()
        )));
    }
    Ok(answered)
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn claim_job(&self, job_id: &str, lock_until_ms: i64) -> Result<JobClaim, StoreError> {
        let mut item = key(format!("J#{job_id}"), "JOB");
        item.insert("status".into(), s("INPROGRESS"));
        item.insert("lock_until".into(), n(lock_until_ms));
        item.insert("expires_at".into(), n(lock_until_ms / 1000 + 86_400));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#s = :inprogress AND lock_until < :now) OR expires_at < :now_s",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .expression_attribute_values(":now", n(now_ms()))
            .expression_attribute_values(":now_s", n(now_secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(JobClaim::Acquired),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let old = match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().cloned().unwrap_or_default()
                        }
                        _ => Item::new(),
                    };
                    Ok(match get_s(&old, "status") {
                        Some("COMPLETE") => JobClaim::Completed {
                            outcome: get_s(&old, "outcome").unwrap_or("completed").to_string(),
                        },
                        _ => JobClaim::InProgress,
                    })
                }
                _ => Err(store_err(e)),
            },
        }
    }

    async fn complete_job(&self, job_id: &str, outcome: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("J#{job_id}"), "JOB")))
            .update_expression(
                "SET #s = :complete, outcome = :outcome, expires_at = :exp REMOVE lock_until",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":complete", s("COMPLETE"))
            .expression_attribute_values(":outcome", s(outcome))
            .expression_attribute_values(":exp", n(now_secs() + COMPLETED_JOB_TTL_SECS))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn release_job(&self, job_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("J#{job_id}"), "JOB")))
            .condition_expression("#s = :inprogress")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .send()
            .await;
        ok_unless_other_error(result)
    }

    async fn lease_contact(
        &self,
        k: &ContactKey,
        owner: &str,
        until_ms: i64,
    ) -> Result<Lease, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(contact_pk(k), "STATE")))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Lease::Held(state_from(&out.attributes.unwrap_or_default()))),
            Err(e) if condition_failed(&e) => Ok(Lease::Busy),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn save_contact(
        &self,
        k: &ContactKey,
        owner: &str,
        state: &ContactState,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        for (name, value) in state_attributes(k, state) {
            u.set(name, value);
        }
        u.set("lease_owner", None);
        u.set("lease_until", None);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(contact_pk(k), "STATE")))
            .update_expression(u.expression())
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        for (name, value) in u.values {
            req = req.expression_attribute_values(name, value);
        }
        for (alias, name) in u.names {
            req = req.expression_attribute_names(alias, name);
        }
        req.send().await.map_err(|e| {
            if condition_failed(&e) {
                StoreError::permanent(format!(
                    "the lease on {k} was lost before the state was saved"
                ))
            } else {
                store_err(e)
            }
        })?;
        Ok(())
    }

    async fn release_contact(&self, k: &ContactKey, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(contact_pk(k), "STATE")))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        ok_unless_other_error(result)
    }

    async fn contact_state(&self, k: &ContactKey) -> Result<Option<ContactState>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(contact_pk(k), "STATE")))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        Ok(out.item.as_ref().map(state_from))
    }

    /// `BatchGetItem`, 100 keys a call, consistent; unprocessed keys are asked for again.
    async fn contact_states(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<String, ContactState>, StoreError> {
        Ok(self
            .state_items(keys, None)
            .await?
            .into_iter()
            .map(|(id, item)| (id, state_from(&item)))
            .collect())
    }

    /// Only `source_hash` comes back: a backfill page of 500 unchanged contacts reads a few
    /// kilobytes instead of every sink's entry.
    async fn source_hashes(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .state_items(keys, Some("pk, source_hash"))
            .await?
            .into_iter()
            .filter_map(|(id, item)| Some((id, get_s(&item, "source_hash")?.to_string())))
            .collect())
    }
}

/// `BatchGetItem`s in flight at once for one call of [`DynamoStore::state_items`]: a backfill
/// page of 500 contacts is five of them, side by side instead of one after the other.
const BATCH_GETS_AT_ONCE: usize = 5;

impl DynamoStore {
    /// The contacts' state items (`projection`: only these attributes), by storage id;
    /// `BatchGetItem`, 100 keys a call, consistent, unprocessed keys asked for again.
    async fn state_items(
        &self,
        keys: &[ContactKey],
        projection: Option<&str>,
    ) -> Result<HashMap<String, Item>, StoreError> {
        // BatchGetItem refuses a request that names one item twice (several calls of one
        // contact on a page of calls).
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<Item> = keys
            .iter()
            .filter(|k| seen.insert(k.storage_id()))
            .map(|k| key(contact_pk(k), "STATE"))
            .collect();
        let batches: Vec<Vec<Item>> = wanted.chunks(100).map(<[Item]>::to_vec).collect();
        let mut found = HashMap::new();
        for side_by_side in batches.chunks(BATCH_GETS_AT_ONCE) {
            let answers = futures::future::try_join_all(side_by_side.iter().map(|batch| {
                until_processed(batch.clone(), |w| self.batch_get_round(w, projection))
            }))
            .await?;
            for item in answers.into_iter().flatten() {
                if let Some(id) = get_s(&item, "pk").and_then(|pk| pk.strip_prefix("C#")) {
                    found.insert(id.to_string(), item);
                }
            }
        }
        Ok(found)
    }
}

/// The contact states with a CallTools id, through the sparse `ByCallToolsId` index: each item
/// holds the keys, the CallTools id and its buckets only (what the audit compares), read
/// eventually consistently — the consumer looks again under the lease before it acts. Event
/// entries carry a `calltools_id` too, so the index holds them as well: `limit` counts them,
/// and the filter drops them (each costs read units, not a CallTools call).
#[async_trait]
impl StateScan for DynamoStore {
    async fn states_page(
        &self,
        cursor: Option<&serde_json::Value>,
        limit: i32,
    ) -> Result<StatesPage, StoreError> {
        let start = cursor.and_then(|c| {
            let mut k = key(c["pk"].as_str()?.to_string(), c["sk"].as_str()?);
            k.insert("calltools_id".into(), n(c["calltools_id"].as_i64()?));
            Some(k)
        });
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .index_name(CALLTOOLS_INDEX)
            // Event entries carry calltools_id too: only states are compared.
            .filter_expression("sk = :state")
            .expression_attribute_values(":state", s("STATE"))
            .set_exclusive_start_key(start)
            .limit(limit)
            .send()
            .await
            .map_err(store_err)?;
        let states = out
            .items()
            .iter()
            .filter_map(|item| {
                let pk = get_s(item, "pk")?.strip_prefix("C#")?;
                Some((ContactKey::from_storage_id(pk)?, state_from(item)))
            })
            .collect();
        // An index scan resumes from the index key and the table key together.
        let next = out.last_evaluated_key.as_ref().and_then(|k| {
            Some(serde_json::json!({
                "pk": get_s(k, "pk")?,
                "sk": get_s(k, "sk")?,
                "calltools_id": get_n(k, "calltools_id")?,
            }))
        });
        Ok(StatesPage { states, next })
    }
}

/// The contact states whose CallTools entry has this id, through the same sparse index.
#[async_trait]
impl SinkIndex for DynamoStore {
    async fn placed_as(&self, sink: SinkId, id: i64) -> Result<Vec<ContactKey>, StoreError> {
        if sink != SinkId::CallTools {
            // Only CallTools ids are indexed; no other sink sends hooks.
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CALLTOOLS_INDEX)
            .key_condition_expression("calltools_id = :id")
            // Event entries carry calltools_id too.
            .filter_expression("sk = :state")
            .expression_attribute_values(":id", n(id))
            .expression_attribute_values(":state", s("STATE"))
            .send()
            .await
            .map_err(store_err)?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| ContactKey::from_storage_id(get_s(item, "pk")?.strip_prefix("C#")?))
            .collect())
    }
}

/// A webhook id received, its job not yet confirmed on the queue. Items written as `RETRY` by
/// earlier versions (a delivery answered 429) read the same way.
const WEBHOOK_PENDING: &str = "PENDING";
/// A webhook id whose job is on the queue.
const WEBHOOK_ACCEPTED: &str = "ACCEPTED";

#[async_trait]
impl WebhookLedger for DynamoStore {
    async fn claim_webhook(
        &self,
        source: &str,
        webhook_id: &str,
        received_at_ms: i64,
    ) -> Result<WebhookClaim, StoreError> {
        let mut item = key(format!("W#{source}#{webhook_id}"), "WEBHOOK");
        item.insert("state".into(), s(WEBHOOK_PENDING));
        item.insert("received_at_ms".into(), n(received_at_ms));
        item.insert("expires_at".into(), n(now_secs() + WEBHOOK_TTL_SECS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR #st <> :accepted OR expires_at < :now_s",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":accepted", s(WEBHOOK_ACCEPTED))
            .expression_attribute_values(":now_s", n(now_secs()))
            // The refusal carries the original, so a duplicate costs no extra read.
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(WebhookClaim::New),
            Err(e) if condition_failed(&e) => {
                let first_received_at_ms = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    })
                    .and_then(|old| get_n(old, "received_at_ms"));
                Ok(WebhookClaim::Replayed {
                    first_received_at_ms,
                })
            }
            Err(e) => Err(store_err(e)),
        }
    }

    async fn mark_queued(&self, source: &str, webhook_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("W#{source}#{webhook_id}"), "WEBHOOK")))
            .update_expression("SET #st = :accepted, expires_at = :exp")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":accepted", s(WEBHOOK_ACCEPTED))
            .expression_attribute_values(":exp", n(now_secs() + WEBHOOK_TTL_SECS))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// `ADD` on the contact's state item, the one attribute ingress may write there
    /// (`template.yaml` limits its `UpdateItem` to it): the consumer's lease reads it back with
    /// the rest of the state, and no state save names it.
    async fn arrived(&self, k: &ContactKey) -> Result<i64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(contact_pk(k), "STATE")))
            .update_expression("ADD #seq :one")
            .expression_attribute_names("#seq", ARRIVED_SEQ)
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(store_err)?;
        out.attributes
            .as_ref()
            .and_then(|a| get_n(a, ARRIVED_SEQ))
            .ok_or_else(|| StoreError::transient("the webhook count came back without a value"))
    }

    async fn retry_allowed(&self, source: &str, webhook_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("W#{source}#{webhook_id}"), "WEBHOOK")))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        // Expired items may linger (DynamoDB deletes them lazily; moto never does).
        Ok(out.item.is_some_and(|i| {
            get_s(&i, "state") != Some(WEBHOOK_ACCEPTED)
                && get_n(&i, "expires_at").unwrap_or(0) > now_secs()
        }))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    };

    use super::*;

    fn ns(ids: &[i64]) -> AttributeValue {
        AttributeValue::Ns(ids.iter().map(i64::to_string).collect())
    }

    /// A contact state as a release before the `sinks` map saved it.
    fn legacy_item() -> Item {
        Item::from([
            ("version_ms".to_string(), n(100)),
            ("calltools_id".to_string(), n(4242)),
            ("sink_hash".to_string(), s("h1")),
            ("ct_buckets".to_string(), ns(&[11237])),
            ("ct_tags".to_string(), ns(&[5, 6])),
            ("source_hash".to_string(), s("src")),
            ("do_not_call".to_string(), s("dnd")),
        ])
    }

    fn calltools(id: i64, hash: &str, buckets: &[i64]) -> SinkState {
        SinkState {
            id: Some(id),
            hash: Some(hash.to_string()),
            buckets: buckets.iter().copied().collect(),
            ..SinkState::default()
        }
    }

    #[test]
    fn an_item_saved_before_the_sinks_map_reads_as_the_calltools_entry() {
        let state = state_from(&legacy_item());
        assert_eq!(state.version_ms, Some(100));
        assert_eq!(state.do_not_call, Some(DoNotCall::AllChannels));
        assert_eq!(
            state.sink(SinkId::CallTools),
            &SinkState {
                tags: BTreeSet::from([5, 6]),
                ..calltools(4242, "h1", &[11237])
            }
        );
    }

    #[test]
    fn the_sinks_map_wins_over_the_attributes_it_replaces() {
        let key = ContactKey::ghl("loc", "c1");
        let newer = ContactState::default().with_sink(SinkId::CallTools, calltools(7, "h2", &[1]));
        let mut item = legacy_item();
        for (name, value) in state_attributes(&key, &newer) {
            match value {
                Some(v) => item.insert(name.to_string(), v),
                None => item.remove(name),
            };
        }
        // A half-migrated item: the map says 7 while an old attribute still says 4242.
        item.insert("calltools_id".to_string(), n(4242));
        assert_eq!(
            state_from(&item).sink(SinkId::CallTools),
            &calltools(7, "h2", &[1])
        );
    }

    #[test]
    fn a_saved_state_reads_back_the_same_and_mirrors_calltools_for_a_rollback() {
        let key = ContactKey::ghl("loc", "c1");
        let state = ContactState {
            version_ms: Some(9),
            source_hash: Some("src".into()),
            ..ContactState::default()
        }
        .with_sink(
            SinkId::CallTools,
            SinkState {
                unconfirmed_create_phone: Some("+14155550100".into()),
                ..calltools(7, "h2", &[1, 2])
            },
        )
        .with_sink(
            SinkId::Ghl,
            SinkState {
                done: BTreeSet::from([Carried::new(5001, Some(3)), Carried::new(5002, None)]),
                unconfirmed_notes:
                    ["CallTools call 5003, disposition 7 (leadsync 0a1b2c3d)".into()].into(),
                parked: BTreeSet::from([Carried::new(5004, Some(2))]),
                recorded: BTreeSet::from([5001]),
                dnd_written: true,
                version_ms: Some(1_000),
                ..SinkState::default()
            },
        );
        let item: Item = state_attributes(&key, &state)
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
        let read = state_from(&item);
        assert_eq!(read.sinks, state.sinks);
        assert_eq!(read.version_ms, Some(9));
        assert_eq!(
            get_n(&item, "calltools_id"),
            Some(7),
            "mirrored for a rollback"
        );
        assert_eq!(get_ns(&item, "ct_buckets"), BTreeSet::from([1, 2]));
        let entry = item[SINKS].as_m().unwrap()["calltools"].as_m().unwrap();
        assert!(
            !entry.contains_key("tags"),
            "an empty set is left out: DynamoDB refuses an empty NS"
        );
    }

    #[test]
    fn a_contact_no_sink_has_seen_saves_no_sinks_map() {
        let key = ContactKey::ghl("loc", "c1");
        let seen = ContactState {
            version_ms: Some(1),
            ..ContactState::default()
        };
        let attributes = state_attributes(&key, &seen);
        let sinks = attributes.iter().find(|(k, _)| *k == SINKS).unwrap();
        assert!(sinks.1.is_none());
        assert!(state_from(&Item::new()).sinks.is_empty());
    }

    fn answer(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().expect("a status"), "{}".into())
    }

    fn service(e: PutItemError, status: u16) -> SdkError<PutItemError, HttpResponse> {
        SdkError::service_error(e, answer(status))
    }

    fn coded(code: &str) -> PutItemError {
        PutItemError::generic(ErrorMetadata::builder().code(code).build())
    }

    #[test]
    fn throttling_a_5xx_a_timeout_and_a_lost_connection_are_transient() {
        // As the SDK reads it: the modelled error, its code in the metadata.
        let throttled = PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .build(),
                )
                .build(),
        );
        for e in [
            service(throttled, 400),
            service(coded("ThrottlingException"), 400),
            service(coded("RequestLimitExceeded"), 400),
            service(coded("InternalServerError"), 500),
            service(coded("SomethingNew"), 503),
            SdkError::timeout_error("no answer in 3 s"),
            SdkError::dispatch_failure(ConnectorError::io("connection reset".into())),
            SdkError::response_error("cut short", answer(200)),
        ] {
            let err = store_err(e);
            assert!(err.is_transient(), "{err}");
        }
    }

    #[test]
    fn a_failed_condition_a_refusal_or_a_bad_request_is_not_transient() {
        let condition = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        );
        for e in [
            service(condition, 400),
            service(coded("ValidationException"), 400),
            service(coded("AccessDeniedException"), 400),
            SdkError::construction_failure("no table name"),
            SdkError::dispatch_failure(ConnectorError::user("bad TLS configuration".into())),
        ] {
            let err = store_err(e);
            assert!(!err.is_transient(), "{err}");
        }
    }
}
