//! The CallTools upsert (research/ghl_calltools.md §7.4), spending as few calls as the account
//! allows, and counting a write only when its effect is seen (see [`placement`]):
//!
//! | situation | calls (account honours inline buckets / ignores them) |
//! |---|---|
//! | mapped contact, changed | 1 PATCH / + 1 bucket PATCH per bucket changed |
//! | new contact, account merges by phone | 1 POST / + 1 bucket PATCH per bucket |
//! | new contact, lookup mode | GET by phone + POST = 2 / + 1 per bucket |
//! | unmapped contact that exists by phone | merge: POST (MERGE) + PATCH; lookup: GET + PATCH = 2 / + 1 per bucket (the MERGE's PATCH only for tags) |
//! | mapped contact deleted in CallTools | the PATCH's 404 + the unmapped path, with the whole membership |
//!
//! [`placement`]: crate::sinks::calltools::placement

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::app::config::DuplicateMode;
use crate::ports::remote::RemoteError;
use crate::sinks::calltools::ResolvedMembership;
use crate::sinks::calltools::client::{CallToolsApi, Created};
use crate::sinks::calltools::placement::{
    Placement, bucket_answer_contradicts, bucket_body, learned_from, tags_unconfirmed,
};

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

    /// Everything in `target`, added: what a contact created from nothing must receive.
    pub fn adding(target: &ResolvedMembership) -> Self {
        MembershipChange {
            add_buckets: target.buckets.clone(),
            add_tags: target.tags.clone(),
            ..Default::default()
        }
    }

    /// The adds only: a create has nothing to remove from.
    fn adds_only(&self) -> Self {
        MembershipChange {
            add_buckets: self.add_buckets.clone(),
            add_tags: self.add_tags.clone(),
            ..Default::default()
        }
    }

    pub(crate) fn write_into(&self, body: &mut Map<String, Value>) {
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
        put("remove_buckets", &self.remove_buckets);
        put("remove_tags", &self.remove_tags);
    }
}

/// One contact's write: its non-empty fields, phone and membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWrite {
    pub known_id: Option<i64>,
    pub phone: String,
    /// Only non-empty values: with "Overwrite (match by phone)" a blank would clobber data.
    pub fields: Map<String, Value>,
    /// What changes since the last write to the mapped contact.
    pub change: MembershipChange,
    /// The whole intended membership: what a contact created again must carry.
    pub target: ResolvedMembership,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub calltools_id: i64,
    pub calls: u32,
    pub merged: bool,
    /// The account's placement method, when this write proved it.
    pub learned: Option<Placement>,
}

/// A contact written, and what is left to confirm.
struct Written {
    id: i64,
    /// The contact as answered; `None` for a MERGE answer, which shows only an id.
    answer: Option<Value>,
    /// The membership the write carried.
    sent: MembershipChange,
    /// Whether the write was a create, after which a PATCH may still set what it did not.
    created: bool,
    merged: bool,
}

fn body(fields: &Map<String, Value>, change: &MembershipChange) -> Map<String, Value> {
    let mut body = fields.clone();
    change.write_into(&mut body);
    body
}

pub async fn upsert(
    api: &dyn CallToolsApi,
    mode: DuplicateMode,
    known: Option<Placement>,
    write: &ContactWrite,
) -> Result<Applied, RemoteError> {
    let inline = Placement::try_inline(known);
    let mut calls = 0;
    let mut change = write.change.clone();
    if let Some(id) = write.known_id {
        calls += 1;
        let sent = change.with_buckets_if(inline);
        if let Some(answer) = api.update_contact(id, &body(&write.fields, &sent)).await? {
            let written = Written {
                id,
                answer: Some(answer),
                sent,
                created: false,
                merged: false,
            };
            return settle(api, known, &change, written, calls).await;
        }
        // Deleted in CallTools since we mapped it: it is placed again from nothing, so it gets
        // the whole membership, not the change since the last write.
        change = MembershipChange::adding(&write.target);
    }
    if mode == DuplicateMode::Lookup {
        calls += 1;
        let found = api.find_by_phone(&write.phone).await?;
        if let Some(existing) = found.iter().find(|c| c.has_phone(&write.phone)) {
            calls += 1;
            let sent = change.with_buckets_if(inline);
            if let Some(answer) = api
                .update_contact(existing.id, &body(&write.fields, &sent))
                .await?
            {
                let written = Written {
                    id: existing.id,
                    answer: Some(answer),
                    sent,
                    created: false,
                    merged: true,
                };
                return settle(api, known, &change, written, calls).await;
            }
        }
    }
    calls += 1;
    let change = change.adds_only();
    let sent = change.with_buckets_if(inline);
    let written = match api.create_contact(&body(&write.fields, &sent)).await? {
        Created::New { id, answer } => Written {
            id,
            answer: Some(answer),
            sent,
            created: true,
            merged: false,
        },
        // The merge overwrote the fields we sent; whether it also applied the membership is
        // not documented, and its answer cannot show it.
        Created::Merged(id) => Written {
            id,
            answer: None,
            sent,
            created: true,
            merged: true,
        },
    };
    settle(api, known, &change, written, calls).await
}

/// Confirms `change` on the written contact: what the answer shows is done; tags it does not
/// show get one PATCH after a create and fail the job otherwise; buckets it does not show are
/// set with the proven bucket call.
async fn settle(
    api: &dyn CallToolsApi,
    known: Option<Placement>,
    change: &MembershipChange,
    written: Written,
    mut calls: u32,
) -> Result<Applied, RemoteError> {
    let id = written.id;
    let fresh = written.created && !written.merged;
    let mut learned = learned_from(&written.sent, written.answer.as_ref(), fresh);
    let mut unseen = change.unseen_in(written.answer.as_ref());
    if written.created {
        let inline = Placement::try_inline(learned.or(known));
        let again = unseen.with_buckets_if(inline);
        if !again.is_empty() {
            calls += 1;
            let answer = api
                .update_contact(id, &body(&Map::new(), &again))
                .await?
                .ok_or_else(|| vanished(id))?;
            learned = learned_from(&again, Some(&answer), fresh).or(learned);
            let still = again.unseen_in(Some(&answer));
            unseen.add_tags = still.add_tags;
            unseen.remove_tags = still.remove_tags;
            if again.has_buckets() {
                unseen.add_buckets = still.add_buckets;
                unseen.remove_buckets = still.remove_buckets;
            }
        }
    }
    if unseen.has_tags() {
        return Err(tags_unconfirmed(id, &unseen));
    }
    let placements = unseen
        .add_buckets
        .iter()
        .map(|b| (*b, true))
        .chain(unseen.remove_buckets.iter().map(|b| (*b, false)));
    for (bucket, add) in placements {
        calls += 1;
        let answer = api
            .patch_bucket(bucket, &bucket_body(id, add))
            .await?
            .ok_or_else(|| no_bucket(bucket))?;
        if bucket_answer_contradicts(&answer, id, add) {
            return Err(bucket_contradicted(id, bucket, add));
        }
    }
    Ok(Applied {
        calltools_id: id,
        calls,
        merged: written.merged,
        learned: learned.filter(|m| Some(*m) != known),
    })
}

fn vanished(id: i64) -> RemoteError {
    RemoteError::Transient {
        service: "CallTools",
        reason: format!("contact {id} vanished before its membership was set"),
        status: Some(404),
        retry_after: None,
    }
}

fn no_bucket(bucket: i64) -> RemoteError {
    RemoteError::Permanent {
        service: "CallTools",
        reason: format!(
            "bucket {bucket} does not exist in CallTools (PATCH /api/buckets/{bucket}/ answered 404); create it or fix LEADSYNC_RULES"
        ),
        status: Some(404),
        excerpt: String::new(),
    }
}

fn bucket_contradicted(id: i64, bucket: i64, add: bool) -> RemoteError {
    let what = if add { "add to" } else { "remove from" };
    RemoteError::Permanent {
        service: "CallTools",
        reason: format!(
            "CallTools answered 2xx to {what} bucket {bucket} for contact {id}, but the bucket it answered with says otherwise"
        ),
        status: None,
        excerpt: String::new(),
    }
}

/// Takes a mapped contact out of buckets/tags, confirmed like any write. `Ok(None)` when the
/// contact is gone from CallTools: nothing is left to remove.
pub async fn remove_membership(
    api: &dyn CallToolsApi,
    known: Option<Placement>,
    id: i64,
    fields: &Map<String, Value>,
    change: &MembershipChange,
) -> Result<Option<Applied>, RemoteError> {
    let sent = change.with_buckets_if(Placement::try_inline(known));
    // Only bucket removals, in an account that needs the bucket call: no contact PATCH to make.
    let (answer, calls) = if sent.is_empty() && fields.is_empty() {
        (None, 0)
    } else {
        match api.update_contact(id, &body(fields, &sent)).await? {
            Some(answer) => (Some(answer), 1),
            None => return Ok(None),
        }
    };
    let written = Written {
        id,
        answer,
        sent,
        created: false,
        merged: false,
    };
    settle(api, known, change, written, calls).await.map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sinks::calltools::client::ListedContact;
    use crate::testing::calltools::FakeCallTools;

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
            target: ResolvedMembership {
                buckets: [11237].into(),
                ..Default::default()
            },
        }
    }

    fn listed(id: i64, phone: &str) -> ListedContact {
        serde_json::from_value(json!({"id": id, "_phone_numbers": [phone]})).unwrap()
    }

    #[tokio::test]
    async fn a_new_contact_costs_one_create_when_its_answer_shows_the_bucket() {
        let api = FakeCallTools::default();
        let applied = upsert(&api, DuplicateMode::Merge, None, &write(None))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 100,
                calls: 1,
                merged: false,
                learned: Some(Placement::Inline),
            }
        );
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert!(
            calls[0].starts_with("POST") && calls[0].contains(r#""add_buckets":[11237]"#),
            "{calls:?}"
        );
        let again = upsert(
            &api,
            DuplicateMode::Merge,
            Some(Placement::Inline),
            &write(None),
        )
        .await
        .unwrap();
        assert_eq!(again.learned, None, "nothing new to learn");
    }

    #[tokio::test]
    async fn an_account_that_ignores_inline_buckets_gets_the_bucket_call_and_is_learned() {
        let api = FakeCallTools::ignoring_inline_buckets();
        let applied = upsert(&api, DuplicateMode::Merge, None, &write(None))
            .await
            .unwrap();
        assert_eq!(applied.calls, 2);
        assert_eq!(applied.learned, Some(Placement::BucketPatch));
        assert_eq!(
            api.calls()[1],
            r#"PATCH bucket 11237 {"add_contacts":[100]}"#
        );
        assert_eq!(api.buckets_of(100), [11237].into(), "really in the bucket");
    }

    #[tokio::test]
    async fn once_the_bucket_call_is_known_no_inline_attempt_is_made() {
        let api = FakeCallTools::ignoring_inline_buckets();
        let applied = upsert(
            &api,
            DuplicateMode::Merge,
            Some(Placement::BucketPatch),
            &write(None),
        )
        .await
        .unwrap();
        assert_eq!((applied.calls, applied.learned), (2, None));
        let calls = api.calls();
        assert!(!calls[0].contains("add_buckets"), "{calls:?}");
        assert_eq!(api.buckets_of(100), [11237].into());
    }

    #[tokio::test]
    async fn a_new_contact_in_lookup_mode_is_looked_up_then_created() {
        // The lookup answers with someone else: a filter CallTools ignored returns everyone.
        let api = FakeCallTools {
            existing_by_phone: vec![listed(7, "+19999999999")],
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Lookup, None, &write(None))
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
        let applied = upsert(
            &api,
            DuplicateMode::Lookup,
            Some(Placement::Inline),
            &write(None),
        )
        .await
        .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 8,
                calls: 2,
                merged: true,
                learned: None,
            }
        );
        assert!(api.calls()[1].starts_with("PATCH 8 "), "{:?}", api.calls());
    }

    #[tokio::test]
    async fn a_merge_answer_is_followed_by_setting_the_membership() {
        let api = FakeCallTools {
            merge_into: Some(55),
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Merge, None, &write(None))
            .await
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 55,
                calls: 2,
                merged: true,
                learned: None,
            },
            "the merged contact may have been in the bucket before: confirmed, not learned"
        );
        assert_eq!(
            api.calls()[1],
            r#"PATCH 55 {"add_buckets":[11237]}"#,
            "only the membership, no blanks"
        );
    }

    #[tokio::test]
    async fn a_merge_in_a_bucket_call_account_costs_no_contact_patch() {
        let api = FakeCallTools {
            merge_into: Some(55),
            ignores_inline_buckets: true,
            ..Default::default()
        };
        let applied = upsert(
            &api,
            DuplicateMode::Merge,
            Some(Placement::BucketPatch),
            &write(None),
        )
        .await
        .unwrap();
        assert_eq!(applied.calls, 2);
        assert_eq!(
            api.calls()[1],
            r#"PATCH bucket 11237 {"add_contacts":[55]}"#
        );
        assert_eq!(api.buckets_of(55), [11237].into());
    }

    #[tokio::test]
    async fn a_mapped_contact_costs_one_patch() {
        let api = FakeCallTools::default();
        let applied = upsert(
            &api,
            DuplicateMode::Lookup,
            Some(Placement::Inline),
            &write(Some(42)),
        )
        .await
        .unwrap();
        assert_eq!(
            applied,
            Applied {
                calltools_id: 42,
                calls: 1,
                merged: false,
                learned: None,
            }
        );
    }

    #[tokio::test]
    async fn a_mapped_contact_deleted_in_calltools_is_created_again_with_its_whole_membership() {
        // GIVEN a contact last written in bucket 11237 that now also belongs in 11238
        let mut w = write(Some(42));
        w.change = MembershipChange {
            add_buckets: [11238].into(),
            ..Default::default()
        };
        w.target.buckets = [11237, 11238].into();
        let api = FakeCallTools {
            gone: vec![42],
            ..Default::default()
        };
        // WHEN its PATCH finds it deleted in CallTools
        let applied = upsert(&api, DuplicateMode::Merge, None, &w).await.unwrap();
        // THEN the new contact carries both buckets, not only the one added since
        assert_eq!((applied.calltools_id, applied.calls), (100, 2));
        assert!(
            api.calls()[1].contains(r#""add_buckets":[11237,11238]"#),
            "{:?}",
            api.calls()
        );
        assert_eq!(api.buckets_of(100), [11237, 11238].into());
    }

    #[tokio::test]
    async fn removals_go_in_a_patch_but_never_in_a_create() {
        let mut w = write(Some(42));
        w.change.remove_buckets = [99].into();
        let api = FakeCallTools::default();
        upsert(&api, DuplicateMode::Merge, None, &w).await.unwrap();
        assert!(api.calls()[0].contains(r#""remove_buckets":[99]"#));
        w.known_id = None;
        let api = FakeCallTools::default();
        upsert(&api, DuplicateMode::Merge, None, &w).await.unwrap();
        assert!(
            !api.calls()[0].contains("remove_buckets"),
            "{:?}",
            api.calls()
        );
    }

    #[tokio::test]
    async fn a_removal_the_answer_does_not_show_is_made_with_the_bucket_call() {
        let api = FakeCallTools::ignoring_inline_buckets();
        api.members
            .lock()
            .unwrap()
            .insert(42, ([99].into(), [].into()));
        let mut w = write(Some(42));
        w.change = MembershipChange {
            remove_buckets: [99].into(),
            ..Default::default()
        };
        let applied = upsert(&api, DuplicateMode::Merge, None, &w).await.unwrap();
        assert_eq!(applied.calls, 2);
        assert_eq!(
            api.calls()[1],
            r#"PATCH bucket 99 {"remove_contacts":[42]}"#
        );
        assert!(api.buckets_of(42).is_empty());
    }

    #[tokio::test]
    async fn tags_the_answer_does_not_show_fail_the_write_instead_of_counting_it_synced() {
        let api = FakeCallTools {
            ignores_tags: true,
            ..Default::default()
        };
        let mut w = write(Some(42));
        w.change.add_tags = [268_601].into();
        let err = upsert(&api, DuplicateMode::Merge, None, &w)
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("268601"), "{err}");
    }

    #[tokio::test]
    async fn tags_a_create_does_not_show_are_set_with_one_patch_and_confirmed() {
        // A MERGE answer shows nothing: the tags go in the PATCH after it, with the buckets.
        let api = FakeCallTools {
            merge_into: Some(55),
            ..Default::default()
        };
        let mut w = write(None);
        w.change.add_tags = [268_601].into();
        let applied = upsert(&api, DuplicateMode::Merge, None, &w).await.unwrap();
        assert_eq!(applied.calls, 2);
        assert_eq!(
            api.calls()[1],
            r#"PATCH 55 {"add_buckets":[11237],"add_tags":[268601]}"#
        );
    }

    #[tokio::test]
    async fn taking_a_contact_out_of_a_bucket_call_account_costs_only_the_bucket_call() {
        let api = FakeCallTools::ignoring_inline_buckets();
        let change = MembershipChange {
            remove_buckets: [11237].into(),
            ..Default::default()
        };
        let applied =
            remove_membership(&api, Some(Placement::BucketPatch), 42, &Map::new(), &change)
                .await
                .unwrap()
                .expect("the contact exists");
        assert_eq!(applied.calls, 1);
        assert_eq!(
            api.calls(),
            [r#"PATCH bucket 11237 {"remove_contacts":[42]}"#]
        );
    }

    #[tokio::test]
    async fn taking_a_contact_gone_from_calltools_out_of_its_buckets_is_nothing_to_do() {
        let api = FakeCallTools {
            gone: vec![42],
            ..Default::default()
        };
        let change = MembershipChange {
            remove_buckets: [11237].into(),
            ..Default::default()
        };
        assert_eq!(
            remove_membership(&api, None, 42, &Map::new(), &change)
                .await
                .unwrap(),
            None
        );
    }
}
