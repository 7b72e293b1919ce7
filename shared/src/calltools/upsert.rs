//! The CallTools upsert (research/ghl_calltools.md §7.4), spending as few calls as the account
//! allows:
//!
//! | situation | calls |
//! |---|---|
//! | mapped contact, changed | 1 PATCH |
//! | new contact, account merges by phone | 1 POST |
//! | new contact, lookup mode | GET by phone + POST = 2 |
//! | unmapped contact that exists by phone | merge: POST (MERGE) + PATCH; lookup: GET + PATCH = 2 |
//! | mapped contact deleted in CallTools | the PATCH's 404 + the unmapped path |

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::calltools::client::{CallToolsApi, Created};
use crate::config::DuplicateMode;
use crate::remote::RemoteError;

/// Bucket and tag ids to add or remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    pub add_buckets: BTreeSet<i64>,
    pub remove_buckets: BTreeSet<i64>,
    pub add_tags: BTreeSet<i64>,
    pub remove_tags: BTreeSet<i64>,
}

impl MembershipChange {
    pub fn is_empty(&self) -> bool {
        self.add_buckets.is_empty() && self.remove_buckets.is_empty() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }

    pub(crate) fn write_into(&self, body: &mut Map<String, Value>, with_removals: bool) {
        let mut put = |key: &str, ids: &BTreeSet<i64>| {
            if !ids.is_empty() {
                body.insert(key.into(), Value::from(ids.iter().copied().collect::<Vec<_>>()));
            }
        };
        put("add_buckets", &self.add_buckets);
        put("add_tags", &self.add_tags);
        if with_removals {
            put("remove_buckets", &self.remove_buckets);
            put("remove_tags", &self.remove_tags);
        }
    }
}

/// One contact's write: its non-empty fields, phone and membership change.
#[derive(Debug, Clone)]
pub struct ContactWrite {
    pub known_id: Option<i64>,
    pub phone: String,
    /// Only non-empty values: with "Overwrite (match by phone)" a blank would clobber data.
    pub fields: Map<String, Value>,
    pub change: MembershipChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub calltools_id: i64,
    pub calls: u32,
    pub merged: bool,
}

impl ContactWrite {
    fn full_body(&self) -> Map<String, Value> {
        let mut body = self.fields.clone();
        self.change.write_into(&mut body, true);
        body
    }

    fn create_body(&self) -> Map<String, Value> {
        let mut body = self.fields.clone();
        self.change.write_into(&mut body, false);
        body
    }

    fn membership_body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        self.change.write_into(&mut body, true);
        body
    }
}

pub async fn upsert(api: &dyn CallToolsApi, mode: DuplicateMode, write: &ContactWrite) -> Result<Applied, RemoteError> {
    let mut calls = 0;
    if let Some(id) = write.known_id {
        calls += 1;
        if api.update_contact(id, &write.full_body()).await? {
            return Ok(Applied { calltools_id: id, calls, merged: false });
        }
        // Deleted in CallTools since we mapped it: fall through and place it again.
    }
    if mode == DuplicateMode::Lookup {
        calls += 1;
        let found = api.find_by_phone(&write.phone).await?;
        if let Some(existing) = found.iter().find(|c| c.has_phone(&write.phone)) {
            calls += 1;
            if api.update_contact(existing.id, &write.full_body()).await? {
                return Ok(Applied { calltools_id: existing.id, calls, merged: true });
            }
        }
    }
    calls += 1;
    match api.create_contact(&write.create_body()).await? {
        Created::New(id) => Ok(Applied { calltools_id: id, calls, merged: false }),
        Created::Merged(id) => {
            // The merge overwrote the fields we sent; whether it also applied add_buckets is not
            // documented, so membership is set explicitly.
            if !write.change.is_empty() {
                calls += 1;
                if !api.update_contact(id, &write.membership_body()).await? {
                    return Err(RemoteError::Transient {
                        service: "CallTools",
                        reason: format!("merged contact {id} vanished before its buckets were set"),
                        status: Some(404),
                        retry_after: None,
                    });
                }
            }
            Ok(Applied { calltools_id: id, calls, merged: true })
        }
    }
}
