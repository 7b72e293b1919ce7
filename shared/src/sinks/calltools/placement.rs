//! How a contact's bucket membership is written in a CallTools account, and how leadsync sees
//! that it was (research/ghl_calltools.md §5.4, §5.5 and the corrections of 2026-12-04).
//!
//! `add_buckets`/`remove_buckets` on the contact are known only from CallTools' schema; the call
//! proven in production is `PATCH /api/buckets/{id}/ {"add_contacts":[id]}`, and a sibling call
//! for tags was seen to answer 2xx and do nothing. So an inline write counts only when the
//! contact in the answer shows it, and each account's working method is remembered.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_lc_rs::digest;
use serde_json::{Map, Value};

use crate::ports::remote::RemoteError;
use crate::ports::store::StoreError;
use crate::sinks::calltools::upsert::MembershipChange;

/// The way an account's contacts are put into (and taken out of) buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `add_buckets`/`remove_buckets` on the contact's create/PATCH are honoured and the answer
    /// shows them: membership costs no call of its own.
    Inline,
    /// The contact answers 2xx but does not show the membership: one
    /// `PATCH /api/buckets/{id}/` per bucket changed.
    BucketPatch,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Inline => "inline",
            Placement::BucketPatch => "bucket_patch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inline" => Some(Placement::Inline),
            "bucket_patch" => Some(Placement::BucketPatch),
            _ => None,
        }
    }

    /// Whether a write should carry the bucket change inline. An account not known yet is
    /// tried inline: the create/PATCH is made anyway, and its answer teaches the method.
    pub fn try_inline(known: Option<Placement>) -> bool {
        known != Some(Placement::BucketPatch)
    }
}

/// The placement method learned per CallTools account, kept across cold starts.
#[async_trait]
pub trait PlacementStore: Send + Sync {
    async fn placement(&self, account: &str) -> Result<Option<Placement>, StoreError>;
    async fn save_placement(&self, account: &str, method: Placement) -> Result<(), StoreError>;
}

/// Names a CallTools account without its secret: the silo host and a short digest of the API
/// key (a key belongs to one account, and one silo hosts many accounts).
pub fn account_id(base_url: &str, api_key: &str) -> String {
    let host = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .trim_end_matches('/');
    let d = digest::digest(&digest::SHA256, api_key.as_bytes());
    format!("{host}#{}", hex::encode(&d.as_ref()[..6]))
}

/// The ids a contact answer shows under `key` (`buckets` or `tags`), or `None` when the answer
/// does not show that membership at all. Ids may come as numbers, digit strings or `{id}`.
pub fn shown(answer: &Value, key: &str) -> Option<BTreeSet<i64>> {
    let items = answer.get(key)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|v| {
                let v = v.get("id").unwrap_or(v);
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .collect(),
    )
}

/// What of `adds`/`removes` the shown membership does not reflect.
fn unseen(
    shown: Option<&BTreeSet<i64>>,
    adds: &BTreeSet<i64>,
    removes: &BTreeSet<i64>,
) -> (BTreeSet<i64>, BTreeSet<i64>) {
    match shown {
        None => (adds.clone(), removes.clone()),
        Some(ids) => (adds - ids, removes & ids),
    }
}

impl MembershipChange {
    /// The part of this change that a contact answer does not show as done; all of it when
    /// there is no contact answer (a MERGE answer shows only an id).
    pub fn unseen_in(&self, answer: Option<&Value>) -> MembershipChange {
        let buckets = answer.and_then(|a| shown(a, "buckets"));
        let tags = answer.and_then(|a| shown(a, "tags"));
        let (add_buckets, remove_buckets) =
            unseen(buckets.as_ref(), &self.add_buckets, &self.remove_buckets);
        let (add_tags, remove_tags) = unseen(tags.as_ref(), &self.add_tags, &self.remove_tags);
        MembershipChange {
            add_buckets,
            remove_buckets,
            add_tags,
            remove_tags,
        }
    }

    pub fn has_buckets(&self) -> bool {
        !self.add_buckets.is_empty() || !self.remove_buckets.is_empty()
    }

    pub fn has_tags(&self) -> bool {
        !self.add_tags.is_empty() || !self.remove_tags.is_empty()
    }

    /// This change with its bucket part left out (or kept, when `with_buckets`).
    pub fn with_buckets_if(&self, with_buckets: bool) -> MembershipChange {
        if with_buckets {
            return self.clone();
        }
        MembershipChange {
            add_buckets: BTreeSet::new(),
            remove_buckets: BTreeSet::new(),
            ..self.clone()
        }
    }
}

/// The method an inline attempt proved, if the write carried buckets and got a contact back.
/// An answer without them proves the inline write was ignored; an answer with them proves it
/// was honoured only for a contact the write itself created (`fresh`): an existing contact may
/// have been in the bucket already, and an ignoring account shows its real buckets.
pub fn learned_from(
    sent: &MembershipChange,
    answer: Option<&Value>,
    fresh: bool,
) -> Option<Placement> {
    if !sent.has_buckets() {
        return None;
    }
    let answer = answer?;
    if sent.unseen_in(Some(answer)).has_buckets() {
        Some(Placement::BucketPatch)
    } else {
        fresh.then_some(Placement::Inline)
    }
}

/// One `PATCH /api/buckets/{id}/` body: add or remove this contact.
pub fn bucket_body(contact_id: i64, add: bool) -> Map<String, Value> {
    let key = if add {
        "add_contacts"
    } else {
        "remove_contacts"
    };
    let mut body = Map::new();
    body.insert(key.into(), Value::from(vec![contact_id]));
    body
}

/// The proven bucket call's 2xx is its confirmation, unless the bucket it answers with lists
/// its contacts and says otherwise.
pub fn bucket_answer_contradicts(answer: &Value, contact_id: i64, add: bool) -> bool {
    shown(answer, "contacts").is_some_and(|ids| ids.contains(&contact_id) != add)
}

/// Tags have no proven alternative to the contact write, so tags the answer does not show end
/// the job: parked with the ids, never counted as synced.
pub fn tags_unconfirmed(contact_id: i64, unseen: &MembershipChange) -> RemoteError {
    RemoteError::Permanent {
        service: "CallTools",
        reason: format!(
            "contact {contact_id}: CallTools answered 2xx but its answer does not show the tag \
             change (add {:?}, remove {:?}); the tags cannot be confirmed",
            unseen.add_tags, unseen.remove_tags
        ),
        status: None,
        excerpt: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(add: &[i64], remove: &[i64]) -> MembershipChange {
        MembershipChange {
            add_buckets: add.iter().copied().collect(),
            remove_buckets: remove.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_answer_showing_the_buckets_confirms_the_inline_write() {
        let sent = change(&[11237], &[99]);
        let answer = json!({"id": 5, "buckets": [11237, 4], "tags": []});
        assert!(!sent.unseen_in(Some(&answer)).has_buckets());
        assert_eq!(
            learned_from(&sent, Some(&answer), true),
            Some(Placement::Inline)
        );
    }

    #[test]
    fn an_existing_contact_already_in_the_bucket_proves_nothing_about_the_method() {
        let sent = change(&[11237], &[]);
        let answer = json!({"id": 5, "buckets": [11237]});
        assert!(!sent.unseen_in(Some(&answer)).has_buckets(), "confirmed");
        assert_eq!(
            learned_from(&sent, Some(&answer), false),
            None,
            "not learned"
        );
        assert_eq!(
            learned_from(&sent, Some(&json!({"buckets": []})), false),
            Some(Placement::BucketPatch),
            "an ignored write is seen on any contact"
        );
    }

    #[test]
    fn an_answer_without_the_ids_or_without_buckets_does_not() {
        let sent = change(&[11237], &[]);
        for answer in [
            json!({"id": 5, "buckets": []}),
            json!({"id": 5}),
            json!({"id": 5, "buckets": null}),
        ] {
            assert_eq!(sent.unseen_in(Some(&answer)), sent, "{answer}");
            assert_eq!(
                learned_from(&sent, Some(&answer), true),
                Some(Placement::BucketPatch),
                "{answer}"
            );
        }
        let removal = change(&[], &[99]);
        assert_eq!(
            removal.unseen_in(Some(&json!({"buckets": [99]}))),
            removal,
            "still in the bucket it was to leave"
        );
    }

    #[test]
    fn a_merge_answer_shows_nothing_and_teaches_nothing() {
        let sent = change(&[11237], &[]);
        assert_eq!(sent.unseen_in(None), sent);
        assert_eq!(learned_from(&sent, None, true), None);
        assert_eq!(
            learned_from(&change(&[], &[]), Some(&json!({"buckets": []})), true),
            None,
            "no buckets sent, nothing learned"
        );
    }

    #[test]
    fn ids_are_read_as_numbers_strings_or_objects() {
        let sent = change(&[1, 2, 3], &[]);
        let answer = json!({"buckets": [1, "2", {"id": 3, "name": "x"}]});
        assert!(!sent.unseen_in(Some(&answer)).has_buckets());
    }

    #[test]
    fn tags_are_confirmed_from_the_answer_too() {
        let sent = MembershipChange {
            add_tags: [7].into(),
            ..Default::default()
        };
        assert!(!sent.unseen_in(Some(&json!({"tags": [7]}))).has_tags());
        assert!(sent.unseen_in(Some(&json!({"tags": []}))).has_tags());
        assert!(sent.unseen_in(Some(&json!({"id": 1}))).has_tags());
    }

    #[test]
    fn an_unknown_account_is_tried_inline_and_a_known_one_as_learned() {
        assert!(Placement::try_inline(None));
        assert!(Placement::try_inline(Some(Placement::Inline)));
        assert!(!Placement::try_inline(Some(Placement::BucketPatch)));
    }

    #[test]
    fn a_bucket_answer_contradicts_only_when_it_lists_contacts() {
        assert!(!bucket_answer_contradicts(
            &json!({"id": 1, "name": "Cold Leads", "contact_count": 3}),
            5,
            true
        ));
        assert!(bucket_answer_contradicts(
            &json!({"contacts": [4]}),
            5,
            true
        ));
        assert!(!bucket_answer_contradicts(
            &json!({"contacts": [4, 5]}),
            5,
            true
        ));
        assert!(bucket_answer_contradicts(
            &json!({"contacts": [5]}),
            5,
            false
        ));
    }

    #[test]
    fn the_account_id_names_the_silo_and_not_the_key() {
        let id = account_id("https://east-1.calltools.io/", "secret-key");
        assert!(id.starts_with("east-1.calltools.io#"), "{id}");
        assert!(!id.contains("secret"));
        assert_ne!(id, account_id("https://east-1.calltools.io", "other-key"));
        assert_eq!(
            Placement::parse(Placement::Inline.as_str()),
            Some(Placement::Inline)
        );
        assert_eq!(
            Placement::parse(Placement::BucketPatch.as_str()),
            Some(Placement::BucketPatch)
        );
    }
}
