//! A CallTools account in miniature.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::ports::remote::RemoteError;
use crate::sinks::calltools::client::{
    CallToolsApi, ContactsPage, Created, ListedContact, NamedItem,
};

/// A CallTools account in miniature: it keeps each contact's buckets and tags, answers
/// writes with the contact as it now is, and records every call. `ignores_inline_buckets`
/// plays the account that answers 2xx to `add_buckets` and ignores it. `buckets` is what the
/// bucket listing answers; tags are found or created by name.
#[derive(Default)]
pub struct FakeCallTools {
    pub calls: Mutex<Vec<String>>,
    pub merge_into: Option<i64>,
    pub existing_by_phone: Vec<ListedContact>,
    pub gone: Vec<i64>,
    /// Contacts deleted since (by a person in CallTools): [`FakeCallTools::delete`].
    pub deleted: Mutex<BTreeSet<i64>>,
    pub ignores_inline_buckets: bool,
    pub ignores_tags: bool,
    pub members: Mutex<HashMap<i64, Members>>,
    pub buckets: Vec<NamedItem>,
    pub tags: Mutex<HashMap<String, i64>>,
    /// The next writes (create, contact or bucket PATCH) answer these errors, in order.
    pub failing_writes: Mutex<VecDeque<RemoteError>>,
    /// Every call answers this error while it is set.
    pub down: Mutex<Option<RemoteError>>,
    /// The account's calls (`GET /api/calls/{id}/`), as CallTools renders them, by id.
    pub dialed: Mutex<HashMap<i64, Value>>,
    /// Plays the account that ignores `start_time__gte` and lists every call.
    pub ignores_call_filter: bool,
    /// Plays the account that honours `?buckets=<id>` on the contact listing; otherwise the
    /// listing answers every contact, as an ignored filter does. Pages hold two contacts.
    pub honours_bucket_filter: bool,
    /// What `GET /api/contacts/{id}/` adds to a contact's rendering (`do_not_contact`, …).
    pub contact_fields: Mutex<HashMap<i64, Map<String, Value>>>,
}

/// A contact's buckets and tags.
pub type Members = (BTreeSet<i64>, BTreeSet<i64>);

fn ids(body: &Map<String, Value>, key: &str) -> BTreeSet<i64> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

impl FakeCallTools {
    pub fn ignoring_inline_buckets() -> Self {
        Self {
            ignores_inline_buckets: true,
            ..Self::default()
        }
    }

    /// An account with these buckets, by name, numbered from 11237.
    pub fn with_buckets<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            buckets: names
                .iter()
                .zip(11_237..)
                .map(|(name, id)| NamedItem {
                    id,
                    name: name.as_ref().to_string(),
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Every call so far, in order: `POST {body}`, `PATCH <id> {body}`, `PATCH bucket <id>
    /// {body}`, `GET phone=<e164>`, `GET buckets`, `GET tag=<name>`, `POST tag <name>`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls that change something in the account.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("POST") || c.starts_with("PATCH"))
            .collect()
    }

    pub fn buckets_of(&self, id: i64) -> BTreeSet<i64> {
        self.members
            .lock()
            .unwrap()
            .get(&id)
            .map(|m| m.0.clone())
            .unwrap_or_default()
    }

    /// The next write answers `e` (after the ones queued before it).
    pub fn fail_next_write(&self, e: RemoteError) {
        self.failing_writes.lock().unwrap().push_back(e);
    }

    /// Every call answers `e` until [`FakeCallTools::recover`].
    pub fn fail_every_call(&self, e: RemoteError) {
        *self.down.lock().unwrap() = Some(e);
    }

    pub fn recover(&self) {
        *self.down.lock().unwrap() = None;
    }

    /// Deletes `id` as a person in CallTools would: reads and PATCHes of it answer 404 until a
    /// create makes it again.
    pub fn delete(&self, id: i64) {
        self.deleted.lock().unwrap().insert(id);
        self.members.lock().unwrap().remove(&id);
    }

    fn is_gone(&self, id: i64) -> bool {
        self.gone.contains(&id) || self.deleted.lock().unwrap().contains(&id)
    }

    /// Records the call; then the error it answers, if any.
    fn record(&self, call: String) -> Result<(), RemoteError> {
        let write = call.starts_with("POST") || call.starts_with("PATCH");
        self.calls.lock().unwrap().push(call);
        if let Some(e) = self.down.lock().unwrap().clone() {
            return Err(e);
        }
        // Only a write takes the next queued failure; reads leave it for the write.
        let mut failing = self.failing_writes.lock().unwrap();
        match failing.front() {
            Some(_) if write => Err(failing.pop_front().expect("just seen")),
            _ => Ok(()),
        }
    }

    /// Applies a contact write and answers with the contact.
    fn write(&self, id: i64, body: &Map<String, Value>) -> Value {
        let mut members = self.members.lock().unwrap();
        let (buckets, tags) = members.entry(id).or_default();
        if !self.ignores_inline_buckets {
            buckets.extend(ids(body, "add_buckets"));
            buckets.retain(|b| !ids(body, "remove_buckets").contains(b));
        }
        if !self.ignores_tags {
            tags.extend(ids(body, "add_tags"));
            tags.retain(|t| !ids(body, "remove_tags").contains(t));
        }
        json!({"id": id, "buckets": buckets.clone(), "tags": tags.clone()})
    }
}

#[async_trait]
impl CallToolsApi for FakeCallTools {
    async fn create_contact(&self, body: &Map<String, Value>) -> Result<Created, RemoteError> {
        self.record(format!("POST {}", Value::Object(body.clone())))?;
        // The one id this account gives a new contact, live again if it was deleted.
        self.deleted.lock().unwrap().remove(&100);
        Ok(match self.merge_into {
            Some(id) => Created::Merged(id),
            None => Created::New {
                id: 100,
                answer: self.write(100, body),
            },
        })
    }
    async fn update_contact(
        &self,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError> {
        self.record(format!("PATCH {id} {}", Value::Object(body.clone())))?;
        Ok((!self.is_gone(id)).then(|| self.write(id, body)))
    }
    async fn patch_bucket(
        &self,
        bucket_id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError> {
        self.record(format!(
            "PATCH bucket {bucket_id} {}",
            Value::Object(body.clone())
        ))?;
        let mut members = self.members.lock().unwrap();
        for c in ids(body, "add_contacts") {
            members.entry(c).or_default().0.insert(bucket_id);
        }
        for c in ids(body, "remove_contacts") {
            members.entry(c).or_default().0.remove(&bucket_id);
        }
        Ok(Some(
            json!({"id": bucket_id, "name": "Cold Leads", "contact_count": 1}),
        ))
    }
    async fn get_contact(&self, id: i64) -> Result<Option<Value>, RemoteError> {
        self.record(format!("GET {id}"))?;
        if self.is_gone(id) {
            return Ok(None);
        }
        let mut contact =
            json!({"id": id, "buckets": self.buckets_of(id).into_iter().collect::<Vec<_>>()});
        if let Some(fields) = self.contact_fields.lock().unwrap().get(&id) {
            for (k, v) in fields {
                contact[k] = v.clone();
            }
        }
        Ok(Some(contact))
    }
    async fn calls_page(
        &self,
        since_ms: i64,
        page: u32,
    ) -> Result<(Vec<Value>, bool), RemoteError> {
        self.record(format!("GET calls since={since_ms} page={page}"))?;
        let since = crate::sources::calltools::hook::format_datetime(since_ms);
        let mut calls: Vec<Value> = self
            .dialed
            .lock()
            .unwrap()
            .values()
            .filter(|c| {
                self.ignores_call_filter
                    || c["start_time"]
                        .as_str()
                        .is_some_and(|t| t >= since.as_str())
            })
            .cloned()
            .collect();
        calls.sort_by_key(|c| {
            (
                c["start_time"].as_str().map(str::to_string),
                c["id"].as_i64(),
            )
        });
        const PAGE: usize = 2;
        let start = (page as usize - 1) * PAGE;
        let rest = calls.get(start..).unwrap_or_default();
        Ok((rest.iter().take(PAGE).cloned().collect(), rest.len() > PAGE))
    }
    async fn contacts_in_bucket(
        &self,
        bucket: i64,
        page: u32,
    ) -> Result<ContactsPage, RemoteError> {
        self.record(format!("GET contacts buckets={bucket} page={page}"))?;
        let members = self.members.lock().unwrap();
        let mut listed: Vec<Value> = members
            .iter()
            .filter(|(_, (buckets, _))| !self.honours_bucket_filter || buckets.contains(&bucket))
            .map(|(id, (buckets, _))| json!({"id": id, "buckets": buckets}))
            .collect();
        listed.sort_by_key(|c| c["id"].as_i64());
        const PAGE: usize = 2;
        let start = (page as usize - 1) * PAGE;
        let rest = listed.get(start..).unwrap_or_default();
        Ok(ContactsPage {
            contacts: rest.iter().take(PAGE).cloned().collect(),
            count: Some(listed.len() as u64),
            more: rest.len() > PAGE,
        })
    }
    async fn get_call(&self, id: i64) -> Result<Option<Value>, RemoteError> {
        self.record(format!("GET call {id}"))?;
        Ok(self.dialed.lock().unwrap().get(&id).cloned())
    }
    async fn find_by_phone(&self, e164: &str) -> Result<Vec<ListedContact>, RemoteError> {
        self.record(format!("GET phone={e164}"))?;
        Ok(self.existing_by_phone.clone())
    }
    async fn list_buckets(&self) -> Result<Vec<NamedItem>, RemoteError> {
        self.record("GET buckets".into())?;
        Ok(self.buckets.clone())
    }
    async fn find_tag(&self, name: &str) -> Result<Option<i64>, RemoteError> {
        self.record(format!("GET tag={name}"))?;
        Ok(self.tags.lock().unwrap().get(name).copied())
    }
    async fn create_tag(&self, name: &str) -> Result<i64, RemoteError> {
        self.record(format!("POST tag {name}"))?;
        let mut tags = self.tags.lock().unwrap();
        let id = 268_601 + tags.len() as i64;
        tags.insert(name.to_string(), id);
        Ok(id)
    }
}
