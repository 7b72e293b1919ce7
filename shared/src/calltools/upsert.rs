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
        self.add_buckets.is_empty()
            && self.remove_buckets.is_empty()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }

    pub(crate) fn write_into(&self, body: &mut Map<String, Value>, with_removals: bool) {
        let mut put = |key: &str, ids: &BTreeSet<i64>| {
            if !ids.is_empty() {
                body.insert(
                    key.into(),
                    Value::from(ids.iter().copied().collect::<Vec<_>>()),
                );
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

pub async fn upsert(
    api: &dyn CallToolsApi,
    mode: DuplicateMode,
    write: &ContactWrite,
) -> Result<Applied, RemoteError> {
    let mut calls = 0;
    if let Some(id) = write.known_id {
        calls += 1;
        if api.update_contact(id, &write.full_body()).await? {
            return Ok(Applied {
                calltools_id: id,
                calls,
                merged: false,
            });
        }
        // Deleted in CallTools since we mapped it: fall through and place it again.
    }
    if mode == DuplicateMode::Lookup {
        calls += 1;
        let found = api.find_by_phone(&write.phone).await?;
        if let Some(existing) = found.iter().find(|c| c.has_phone(&write.phone)) {
            calls += 1;
            if api.update_contact(existing.id, &write.full_body()).await? {
                return Ok(Applied {
                    calltools_id: existing.id,
                    calls,
                    merged: true,
                });
            }
        }
    }
    calls += 1;
    match api.create_contact(&write.create_body()).await? {
        Created::New(id) => Ok(Applied {
            calltools_id: id,
            calls,
            merged: false,
        }),
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
            Ok(Applied {
                calltools_id: id,
                calls,
                merged: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::calltools::client::{ListedContact, NamedItem};

    /// A CallTools that answers from a script and records every call.
    #[derive(Default)]
    struct FakeCallTools {
        calls: Mutex<Vec<String>>,
        create: Option<Created>,
        existing_by_phone: Vec<ListedContact>,
        gone: Vec<i64>,
    }

    impl FakeCallTools {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
        fn record(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    #[async_trait]
    impl CallToolsApi for FakeCallTools {
        async fn create_contact(&self, body: &Map<String, Value>) -> Result<Created, RemoteError> {
            self.record(format!("POST {}", Value::Object(body.clone())));
            Ok(self.create.unwrap_or(Created::New(100)))
        }
        async fn update_contact(
            &self,
            id: i64,
            body: &Map<String, Value>,
        ) -> Result<bool, RemoteError> {
            self.record(format!("PATCH {id} {}", Value::Object(body.clone())));
            Ok(!self.gone.contains(&id))
        }
        async fn find_by_phone(&self, e164: &str) -> Result<Vec<ListedContact>, RemoteError> {
            self.record(format!("GET phone={e164}"));
            Ok(self.existing_by_phone.clone())
        }
        async fn list_buckets(&self) -> Result<Vec<NamedItem>, RemoteError> {
            unreachable!("not used by the upsert")
        }
        async fn find_tag(&self, _: &str) -> Result<Option<i64>, RemoteError> {
            unreachable!("not used by the upsert")
        }
        async fn create_tag(&self, _: &str) -> Result<i64, RemoteError> {
            unreachable!("not used by the upsert")
        }
    }

    fn write(known_id: Option<i64>) -> ContactWrite {
        let mut fields = Map::new();
        fields.insert("first_name".into(), json!("Ada"));
        fields.insert("mobile_phone_number".into(), json!("+14155550132"));
        ContactWrite {
            known_id,
            phone: "+14155550132".into(),
            fields,
            change: MembershipChange {
                add_buckets: [11237].into(),
                ..Default::default()
            },
        }
    }

    fn listed(id: i64, phone: &str) -> ListedContact {
        serde_json::from_value(json!({"id": id, "_phone_numbers": [phone]})).unwrap()
    }

    #[tokio::test]
    async fn a_new_contact_costs_one_create_with_the_bucket_inline_when_the_account_merges() {
        let api = FakeCallTools::default();
        let applied = upsert(&api, DuplicateMode::Merge, &write(None))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 100,
                calls: 1,
                merged: false
            }
        );
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert!(
            calls[0].starts_with("POST") && calls[0].contains(r#""add_buckets":[11237]"#),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn a_new_contact_in_lookup_mode_is_looked_up_then_created() {
        // The lookup answers with someone else: a filter CallTools ignored returns everyone.
        let api = FakeCallTools {
            existing_by_phone: vec![listed(7, "+19999999999")],
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Lookup, &write(None))
            .await
            .unwrap();
        assert_eq!(applied.calls, 2);
        assert_eq!(
            applied.calltools_id, 100,
            "the unrelated contact was not taken for ours"
        );
        assert!(api.calls()[1].starts_with("POST"));
    }

    #[tokio::test]
    async fn an_existing_phone_in_lookup_mode_is_patched_not_created() {
        let api = FakeCallTools {
            existing_by_phone: vec![listed(7, "+19999999999"), listed(8, "+14155550132")],
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Lookup, &write(None))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 8,
                calls: 2,
                merged: true
            }
        );
        assert!(api.calls()[1].starts_with("PATCH 8 "), "{:?}", api.calls());
    }

    #[tokio::test]
    async fn a_merge_answer_is_followed_by_setting_the_membership() {
        let api = FakeCallTools {
            create: Some(Created::Merged(55)),
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Merge, &write(None))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 55,
                calls: 2,
                merged: true
            }
        );
        let calls = api.calls();
        assert_eq!(
            calls[1], r#"PATCH 55 {"add_buckets":[11237]}"#,
            "only the membership, no blanks"
        );
    }

    #[tokio::test]
    async fn a_mapped_contact_costs_one_patch() {
        let api = FakeCallTools::default();
        let applied = upsert(&api, DuplicateMode::Lookup, &write(Some(42)))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 42,
                calls: 1,
                merged: false
            }
        );
    }

    #[tokio::test]
    async fn a_mapped_contact_deleted_in_calltools_is_placed_again() {
        let api = FakeCallTools {
            gone: vec![42],
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Merge, &write(Some(42)))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 100,
                calls: 2,
                merged: false
            }
        );
    }

    #[tokio::test]
    async fn removals_go_in_a_patch_but_never_in_a_create() {
        let mut w = write(Some(42));
        w.change.remove_buckets = [99].into();
        let api = FakeCallTools::default();
        upsert(&api, DuplicateMode::Merge, &w).await.unwrap();
        assert!(api.calls()[0].contains(r#""remove_buckets":[99]"#));
        w.known_id = None;
        let api = FakeCallTools::default();
        upsert(&api, DuplicateMode::Merge, &w).await.unwrap();
        assert!(
            !api.calls()[0].contains("remove_buckets"),
            "{:?}",
            api.calls()
        );
    }
}
