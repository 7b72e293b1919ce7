//! CallTools' account state: contacts, buckets (dialer lists) and tags, and the write rules the
//! API applies to them, duplicate handling included (§5.3–5.6); beside them the agents' calls
//! and the REST hook subscriptions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::DuplicateMode;
use crate::calltools::calls::{CallTimeFilter, Calls};
use crate::calltools::fields::{ContactWrite, FIELDS, FieldErrors, FieldValue, Kind};
use crate::calltools::resthooks::Subscriptions;

#[derive(Debug, Clone, Default)]
pub(crate) struct CtContact {
    pub id: i64,
    pub values: BTreeMap<&'static str, FieldValue>,
    pub tags: BTreeSet<i64>,
    pub buckets: BTreeSet<i64>,
}

pub(crate) enum Created {
    Contact(Value),
    /// The 2xx answer of an account in "Overwrite (match by phone)" mode (§5.6).
    Merged(Vec<i64>),
}

/// How the played account treats bucket fields on a contact create/PATCH (`buckets`,
/// `add_buckets`, `remove_buckets`, `remove_from_other_buckets_on_add`): known only from the
/// swagger schema, so either variant may be the real one (research, corrections of 2026-12-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Placement {
    /// Honoured; the answer shows the contact's `buckets`.
    #[default]
    Inline,
    /// Answered 2xx and ignored: the answer shows the contact's real buckets, without the ids.
    Ignored,
}

/// Where the played account lists its buckets: T-repo used `/api/lists/` and found
/// `/api/buckets/` not served on its instance (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BucketListing {
    #[default]
    Both,
    BucketsOnly,
    ListsOnly,
}

impl BucketListing {
    pub fn serves(self, path: &str) -> bool {
        match self {
            BucketListing::Both => true,
            BucketListing::BucketsOnly => path == "/api/buckets/",
            BucketListing::ListsOnly => path == "/api/lists/",
        }
    }
}

/// Whether the API key's role may delete contacts. leadsync never deletes; `leadsync doctor`
/// removes its probe contact, and an account that forbids it keeps the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Deletes {
    #[default]
    Allowed,
    /// DRF's 403 `{"detail": "You do not have permission to perform this action."}`.
    Forbidden,
}

/// Whether `GET /api/contacts/?buckets=<id>` lists only that bucket's contacts. CallTools
/// documents DRF-style query filters in general (`?first_name=bob`, §5.1) but no bucket filter:
/// UNCONFIRMED, and a filter it does not know is silently ignored, answering the whole account
/// (§5.3, `external_id`). `leadsync doctor` finds out which; ignored is the safe assumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ContactBucketFilter {
    /// Only the contacts in that bucket, paged like any listing.
    Honoured,
    /// Every contact, as if the parameter were not there.
    #[default]
    Ignored,
}

/// The account's variants, chosen per test through `/_sandbox/calltools/modes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountModes {
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub bucket_listing: BucketListing,
    #[serde(default)]
    pub deletes: Deletes,
    #[serde(default)]
    pub call_time_filter: CallTimeFilter,
    #[serde(default)]
    pub contact_bucket_filter: ContactBucketFilter,
}

pub(crate) struct CtWorld {
    pub modes: AccountModes,
    contacts: BTreeMap<i64, CtContact>,
    buckets: BTreeMap<i64, String>,
    tags: BTreeMap<i64, String>,
    next_contact_id: i64,
    next_tag_id: i64,
    pub calls: Calls,
    pub subscriptions: Subscriptions,
}

impl CtWorld {
    pub fn new(buckets: &[(i64, String)]) -> Self {
        Self {
            modes: AccountModes::default(),
            contacts: BTreeMap::new(),
            buckets: buckets.iter().cloned().collect(),
            tags: BTreeMap::new(),
            // Realistic-looking magnitudes (T-repo ids: buckets 11237, tags 268591).
            next_contact_id: 48_210_001,
            next_tag_id: 268_601,
            calls: Calls::default(),
            subscriptions: Subscriptions::default(),
        }
    }

    pub fn create(
        &mut self,
        write: ContactWrite,
        mode: DuplicateMode,
    ) -> Result<Created, FieldErrors> {
        self.check_relations(&write)?;
        if mode == DuplicateMode::MergeByPhone {
            let phones = write.phones();
            let dupes: Vec<i64> = self
                .contacts
                .values()
                .filter(|c| {
                    c.phone_numbers()
                        .iter()
                        .any(|p| phones.contains(&p.as_str()))
                })
                .map(|c| c.id)
                .collect();
            if let Some(first) = dupes.first() {
                if let Some(existing) = self.contacts.get_mut(first) {
                    // Every posted field overwrites, blank strings included: the clobbering
                    // hazard §5.6 warns about. Whether CallTools also applies add_buckets /
                    // add_tags on a MERGE is unknown; the sandbox does not, so a client that
                    // relies on them after a MERGE fails here rather than in production.
                    for (name, value) in write.fields {
                        existing.values.insert(name, value);
                    }
                }
                return Ok(Created::Merged(dupes));
            }
        }
        let placement = self.modes.placement;
        Ok(Created::Contact(self.insert(write, placement)))
    }

    fn insert(&mut self, write: ContactWrite, placement: Placement) -> Value {
        let id = self.next_contact_id;
        self.next_contact_id += 1;
        let mut contact = CtContact {
            id,
            ..CtContact::default()
        };
        apply(&mut contact, write, placement);
        let json = contact.json();
        self.contacts.insert(id, contact);
        json
    }

    /// `Ok(None)` when there is no such contact.
    pub fn patch(&mut self, id: i64, write: ContactWrite) -> Result<Option<Value>, FieldErrors> {
        if !self.contacts.contains_key(&id) {
            return Ok(None);
        }
        self.check_relations(&write)?;
        let placement = self.modes.placement;
        let Some(contact) = self.contacts.get_mut(&id) else {
            return Ok(None);
        };
        apply(contact, write, placement);
        Ok(Some(contact.json()))
    }

    pub fn delete(&mut self, id: i64) -> bool {
        self.contacts.remove(&id).is_some()
    }

    pub fn contact(&self, id: i64) -> Option<Value> {
        self.contacts.get(&id).map(CtContact::json)
    }

    /// The filters CallTools honours; every other query parameter is ignored, so an unknown
    /// filter returns everyone (§5.3, the `external_id` trap).
    pub fn list_contacts(&self, query: &[(String, String)]) -> Vec<Value> {
        // django-filter semantics: the last value of a repeated parameter (QueryDict.get),
        // whitespace stripped by the form field, and an empty value means "no filter", so
        // `?phone_number=` returns everyone too.
        let param = |key: &str| {
            query
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let text = |c: &CtContact, field: &str| match c.values.get(field) {
            Some(FieldValue::Text(s)) => s.clone(),
            _ => String::new(),
        };
        self.contacts
            .values()
            .filter(|c| {
                param("phone_number").is_none_or(|p| c.phone_numbers().iter().any(|n| n == p))
            })
            .filter(|c| param("first_name").is_none_or(|v| text(c, "first_name") == v))
            .filter(|c| param("last_name").is_none_or(|v| text(c, "last_name") == v))
            .filter(|c| param("email").is_none_or(|v| text(c, "email") == v))
            .filter(
                |c| match (self.modes.contact_bucket_filter, param("buckets")) {
                    (ContactBucketFilter::Ignored, _) | (_, None) => true,
                    (ContactBucketFilter::Honoured, Some(b)) => {
                        b.parse::<i64>().is_ok_and(|b| c.buckets.contains(&b))
                    }
                },
            )
            .map(CtContact::json)
            .collect()
    }

    pub fn all_contacts(&self) -> Vec<Value> {
        self.contacts.values().map(CtContact::json).collect()
    }

    /// Seeds a contact directly, skipping duplicate handling (admin only); its buckets are
    /// set whatever the placement mode, as a person in the CallTools UI would.
    pub fn seed(&mut self, write: ContactWrite) -> Result<Value, FieldErrors> {
        self.check_relations(&write)?;
        Ok(self.insert(write, Placement::Inline))
    }

    pub fn buckets(&self) -> Vec<Value> {
        self.buckets
            .keys()
            .filter_map(|id| self.bucket(*id))
            .collect()
    }

    pub fn bucket(&self, id: i64) -> Option<Value> {
        let name = self.buckets.get(&id)?;
        let count = self
            .contacts
            .values()
            .filter(|c| c.buckets.contains(&id))
            .count();
        Some(json!({ "id": id, "name": name, "contact_count": count }))
    }

    pub fn add_bucket(&mut self, id: i64, name: String) {
        self.buckets.insert(id, name);
    }

    /// `PATCH /api/buckets/{id}/ {"add_contacts": [...], "remove_contacts": [...]}`.
    pub fn patch_bucket(
        &mut self,
        id: i64,
        add: &[i64],
        remove: &[i64],
    ) -> Result<Option<Value>, FieldErrors> {
        if !self.buckets.contains_key(&id) {
            return Ok(None);
        }
        let mut errors = FieldErrors::new();
        for (key, ids) in [("add_contacts", add), ("remove_contacts", remove)] {
            if let Some(bad) = ids.iter().find(|c| !self.contacts.contains_key(c)) {
                errors.insert(key.to_owned(), vec![invalid_pk(*bad)]);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for c in add {
            if let Some(contact) = self.contacts.get_mut(c) {
                contact.buckets.insert(id);
            }
        }
        for c in remove {
            if let Some(contact) = self.contacts.get_mut(c) {
                contact.buckets.remove(&id);
            }
        }
        Ok(self.bucket(id))
    }

    /// `GET /api/alltags/?name=`: exact, case-sensitive match (django-filter's default lookup).
    pub fn tags(&self, name: Option<&str>) -> Vec<Value> {
        self.tags
            .iter()
            .filter(|(_, n)| name.is_none_or(|want| n.as_str() == want))
            .filter_map(|(id, _)| self.tag(*id))
            .collect()
    }

    pub fn tag(&self, id: i64) -> Option<Value> {
        let name = self.tags.get(&id)?;
        let count = self
            .contacts
            .values()
            .filter(|c| c.tags.contains(&id))
            .count();
        Some(json!({ "id": id, "name": name, "contact_count": count }))
    }

    pub fn create_tag(&mut self, name: Option<&Value>) -> Result<Value, FieldErrors> {
        let name = match name {
            None => Err("This field is required."),
            Some(Value::String(s)) if s.trim().is_empty() => Err("This field may not be blank."),
            Some(Value::String(s)) => Ok(s.trim().to_owned()),
            Some(_) => Err("Not a valid string."),
        }
        .map_err(|msg| FieldErrors::from([("name".to_owned(), vec![msg.to_owned()])]))?;
        if self.tags.values().any(|n| *n == name) {
            return Err(FieldErrors::from([(
                "name".to_owned(),
                vec!["tag with this name already exists.".to_owned()],
            )]));
        }
        let id = self.next_tag_id;
        self.next_tag_id += 1;
        self.tags.insert(id, name);
        Ok(self.tag(id).unwrap_or(Value::Null))
    }

    /// DRF checks related ids before writing anything.
    fn check_relations(&self, write: &ContactWrite) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let tag_lists = [
            ("tags", write.tags.as_deref().unwrap_or_default()),
            ("add_tags", &write.add_tags),
            ("remove_tags", &write.remove_tags),
        ];
        for (key, ids) in tag_lists {
            if let Some(bad) = ids.iter().find(|id| !self.tags.contains_key(id)) {
                errors.insert(key.to_owned(), vec![invalid_pk(*bad)]);
            }
        }
        let bucket_lists = [
            ("buckets", write.buckets.as_deref().unwrap_or_default()),
            ("add_buckets", &write.add_buckets),
            ("remove_buckets", &write.remove_buckets),
        ];
        for (key, ids) in bucket_lists {
            if let Some(bad) = ids.iter().find(|id| !self.buckets.contains_key(id)) {
                errors.insert(key.to_owned(), vec![invalid_pk(*bad)]);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn invalid_pk(id: i64) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

fn apply(contact: &mut CtContact, write: ContactWrite, placement: Placement) {
    for (name, value) in write.fields {
        contact.values.insert(name, value);
    }
    if let Some(tags) = write.tags {
        contact.tags = tags.into_iter().collect();
    }
    contact.tags.extend(write.add_tags);
    for t in &write.remove_tags {
        contact.tags.remove(t);
    }
    if placement == Placement::Ignored {
        return;
    }
    if write.remove_from_other_buckets_on_add && !write.add_buckets.is_empty() {
        contact.buckets.clear();
    }
    if let Some(buckets) = write.buckets {
        contact.buckets = buckets.into_iter().collect();
    }
    contact.buckets.extend(write.add_buckets);
    for b in &write.remove_buckets {
        contact.buckets.remove(b);
    }
}

impl CtContact {
    /// `_phone_numbers`: the computed, de-duplicated E.164 list `?phone_number=` matches.
    pub fn phone_numbers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, kind) in FIELDS {
            if *kind != Kind::Phone {
                continue;
            }
            if let Some(FieldValue::Text(p)) = self.values.get(name)
                && !p.is_empty()
                && !out.contains(p)
            {
                out.push(p.clone());
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let mut v = json!({ "id": self.id });
        for (name, kind) in FIELDS {
            v[*name] = match (self.values.get(name), kind) {
                (Some(FieldValue::Text(s)), _) => json!(s),
                (Some(FieldValue::Bool(b)), _) => json!(b),
                (None, Kind::Bool) => json!(*name == "ready"),
                (None, _) => json!(""),
            };
        }
        v["tags"] = json!(self.tags);
        v["buckets"] = json!(self.buckets);
        v["_phone_numbers"] = json!(self.phone_numbers());
        v
    }
}
