//! What to do in CallTools for one contact, decided with no I/O: stale, not in any rule, no
//! dialable phone, do-not-call, unchanged since the last write — each a skip with the state to
//! remember — or the one write (or the removals only) to make. The consumer supplies the inputs
//! and carries the decision out; bucket and tag names are resolved to ids only when a decision
//! needs them ([`Step::NeedIds`]), so a skip costs no API call.

use std::collections::BTreeSet;

use aws_lc_rs::digest;
use serde_json::{Map, Value, json};

use crate::domain::contact::{Contact, PhoneError, normalize_phone};
use crate::domain::outcome::SkipReason;
use crate::domain::rules::{Membership, OnTagRemoved};
use crate::domain::sink::SinkId;
use crate::ports::store::{ContactState, SinkState};
use crate::sinks::calltools::target::{Policy, Target, target};
use crate::sinks::calltools::upsert::{ContactWrite, MembershipChange};
use crate::sinks::calltools::{ResolvedMembership, plausible_email};

const CALLTOOLS: SinkId = SinkId::CallTools;

/// The CallTools fields a contact's phone and email go to (account settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    pub phone: String,
    pub email: String,
}

/// The contact's CallTools fields: non-empty values only.
pub fn contact_fields(names: &FieldNames, contact: &Contact, e164: &str) -> Map<String, Value> {
    let mut f = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            f.insert(key.to_string(), Value::from(v));
        }
    };
    put("first_name", contact.first_name.as_deref());
    put("last_name", contact.last_name.as_deref());
    put(&names.phone, Some(e164));
    put(
        &names.email,
        contact.email.as_deref().filter(|e| plausible_email(e)),
    );
    f
}

/// Everything one decision reads.
pub struct PlanInput<'a> {
    /// The contact as the source has it now.
    pub contact: &'a Contact,
    /// What the rules give it, by name.
    pub wanted: &'a Membership,
    /// What was last applied, its lost create already settled.
    pub state: &'a ContactState,
    pub policy: Policy,
    /// For phones written without a country code.
    pub default_region: &'a str,
    pub fields: &'a FieldNames,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to send. `save` is the state to remember (what was seen), if anything changed.
    Skip {
        reason: SkipReason,
        save: Option<ContactState>,
    },
    /// The decision needs the rules' buckets and tags as ids: resolve them, then plan again.
    NeedIds,
    /// Create or update the contact with one write; [`written`] is the state once it is applied.
    Write {
        write: ContactWrite,
        hash: String,
        /// The state the write starts from (the one a lost create is marked on).
        base: ContactState,
    },
    /// A mapped contact without a dialable phone: removals and the `do_not_contact` flag only,
    /// never an addition or a field. `after` is the state once they are applied.
    Withdraw {
        id: i64,
        fields: Map<String, Value>,
        change: MembershipChange,
        after: ContactState,
    },
}

/// Whether the contact read is older than what was last applied (only a strictly older version).
pub fn is_stale(contact: &Contact, state: &ContactState) -> bool {
    contact.is_older_than(state.version_ms)
}

/// Decides for a contact that exists in the source. `resolved` is `None` until a
/// [`Step::NeedIds`] was answered.
pub fn plan(input: &PlanInput<'_>, resolved: Option<&ResolvedMembership>) -> Step {
    let (contact, state) = (input.contact, input.state);
    if is_stale(contact, state) {
        return Step::Skip {
            reason: SkipReason::Stale,
            save: None,
        };
    }
    let ct = state.sink(CALLTOOLS);
    let seen = ContactState {
        version_ms: contact.version_ms.max(state.version_ms),
        ..state.clone()
    };
    if input.wanted.is_empty() && ct.id.is_none() {
        return Step::Skip {
            reason: SkipReason::NotInAnyRule,
            save: Some(seen),
        };
    }
    let phone = match normalize_phone(contact.phone.as_deref(), input.default_region) {
        Ok(p) => p,
        Err(e) => {
            let reason = match e {
                PhoneError::Missing => SkipReason::NoPhone,
                _ => SkipReason::InvalidPhone,
            };
            // Nothing is written for a contact without a dialable phone, but one already in
            // CallTools must still leave the dialer when DND or the rules say so.
            return match ct.id {
                Some(id) if contact.do_not_call.is_some() || input.wanted.is_empty() => {
                    withdraw(input, id, seen, reason, resolved)
                }
                _ => Step::Skip {
                    reason,
                    save: Some(seen),
                },
            };
        }
    };
    let Some(resolved) = resolved else {
        return Step::NeedIds;
    };
    let seen = ContactState {
        do_not_call: contact.do_not_call,
        ..seen
    };
    let planned = match target(contact.do_not_call, state, resolved.clone(), input.policy) {
        Target::NotCreated(dnc) => {
            return Step::Skip {
                reason: SkipReason::DoNotCall(dnc),
                save: Some(seen),
            };
        }
        Target::Write(planned) => planned,
    };
    let membership = planned.membership;
    let mut fields = contact_fields(input.fields, contact, &phone);
    let hash = write_hash(&fields, &membership, planned.do_not_contact == Some(true));
    if ct.id.is_some() && ct.hash.as_deref() == Some(hash.as_str()) {
        return Step::Skip {
            reason: SkipReason::Unchanged,
            save: Some(seen),
        };
    }
    // In the fields, so a create, a PATCH and a merge all carry it in their one call.
    if let Some(flag) = planned.do_not_contact {
        fields.insert("do_not_contact".into(), Value::Bool(flag));
    }
    let from = if ct.id.is_some() {
        ResolvedMembership {
            buckets: ct.buckets.clone(),
            tags: ct.tags.clone(),
        }
    } else {
        ResolvedMembership::default()
    };
    Step::Write {
        write: ContactWrite {
            known_id: ct.id,
            phone,
            fields,
            change: change_between(&from, &membership),
            target: membership,
        },
        hash,
        base: state.clone(),
    }
}

fn withdraw(
    input: &PlanInput<'_>,
    id: i64,
    seen: ContactState,
    reason: SkipReason,
    resolved: Option<&ResolvedMembership>,
) -> Step {
    let Some(resolved) = resolved else {
        return Step::NeedIds;
    };
    let contact = input.contact;
    let planned = match target(contact.do_not_call, &seen, resolved.clone(), input.policy) {
        Target::Write(planned) => planned,
        Target::NotCreated(dnc) => {
            return Step::Skip {
                reason: SkipReason::DoNotCall(dnc),
                save: None,
            };
        }
    };
    let ct = seen.sink(CALLTOOLS).clone();
    let current = ResolvedMembership {
        buckets: ct.buckets.clone(),
        tags: ct.tags.clone(),
    };
    let change = MembershipChange {
        add_buckets: BTreeSet::new(),
        add_tags: BTreeSet::new(),
        ..change_between(&current, &planned.membership)
    };
    let mut fields = Map::new();
    if planned.do_not_contact == Some(true) && seen.do_not_call.is_none() {
        fields.insert("do_not_contact".into(), Value::Bool(true));
    }
    let seen = ContactState {
        do_not_call: contact.do_not_call.or(seen.do_not_call),
        ..seen
    };
    if change.is_empty() && fields.is_empty() {
        return Step::Skip {
            reason,
            save: Some(seen),
        };
    }
    let left = SinkState {
        buckets: &ct.buckets - &change.remove_buckets,
        tags: &ct.tags - &change.remove_tags,
        // A phone that comes back is written in full.
        hash: None,
        dnd_written: flagged_by(&fields).unwrap_or(ct.dnd_written),
        ..ct
    };
    Step::Withdraw {
        id,
        fields,
        change,
        after: seen.with_sink(CALLTOOLS, left),
    }
}

/// Decides for a contact deleted in the source (`state` settled, `leased` as the lease found
/// it). Nothing is ever deleted in CallTools; with `remove_from_bucket` it leaves the rule
/// buckets, as if its tags had been removed. Its source hash is forgotten either way: a contact
/// GHL restores (or shows again) unchanged must look changed to the backfill, or nothing would
/// ever put it back.
pub fn plan_gone(
    state: &ContactState,
    leased: &ContactState,
    on_tag_removed: OnTagRemoved,
) -> Step {
    let forgotten = ContactState {
        source_hash: None,
        ..state.clone()
    };
    let learned = (&forgotten != leased).then(|| forgotten.clone());
    let ct = state.sink(CALLTOOLS).clone();
    let skip = Step::Skip {
        reason: SkipReason::Deleted,
        save: learned,
    };
    let Some(id) = ct.id else {
        return skip;
    };
    if on_tag_removed == OnTagRemoved::Keep || (ct.buckets.is_empty() && ct.tags.is_empty()) {
        return skip;
    }
    let change = MembershipChange {
        remove_buckets: ct.buckets.clone(),
        remove_tags: ct.tags.clone(),
        ..Default::default()
    };
    let left = SinkState {
        buckets: BTreeSet::new(),
        tags: BTreeSet::new(),
        hash: None,
        ..ct
    };
    Step::Withdraw {
        id,
        fields: Map::new(),
        change,
        after: forgotten.with_sink(CALLTOOLS, left),
    }
}

/// The state once `write` (planned from `base` for `contact`) is applied as CallTools contact `id`.
pub fn written(
    base: ContactState,
    contact: &Contact,
    write: ContactWrite,
    hash: String,
    id: i64,
) -> ContactState {
    let before = base.sink(CALLTOOLS).clone();
    let applied = SinkState {
        id: Some(id),
        hash: Some(hash),
        buckets: write.target.buckets,
        tags: write.target.tags,
        unconfirmed_create_phone: None,
        dnd_written: flagged_by(&write.fields).unwrap_or(before.dnd_written),
        ..before
    };
    ContactState {
        version_ms: contact.version_ms.max(base.version_ms),
        updated_at_ms: None,
        do_not_call: contact.do_not_call,
        ..base
    }
    .with_sink(CALLTOOLS, applied)
}

/// What a write's fields do to CallTools' `do_not_contact`: set it (leadsync's own flag, which
/// its Contact hook must not mistake for an agent's), clear it, or leave it.
fn flagged_by(fields: &Map<String, Value>) -> Option<bool> {
    fields.get("do_not_contact").and_then(Value::as_bool)
}

fn change_between(from: &ResolvedMembership, to: &ResolvedMembership) -> MembershipChange {
    MembershipChange {
        add_buckets: &to.buckets - &from.buckets,
        remove_buckets: &from.buckets - &to.buckets,
        add_tags: &to.tags - &from.tags,
        remove_tags: &from.tags - &to.tags,
    }
}

/// A digest of what a CallTools write would leave behind (fields + membership + whether it
/// flags `do_not_contact`). serde_json's maps are ordered, so equal writes hash equally.
pub(crate) fn write_hash(
    fields: &Map<String, Value>,
    target: &ResolvedMembership,
    flagged: bool,
) -> String {
    let mut canonical = json!({"fields": fields, "buckets": target.buckets, "tags": target.tags});
    // Only when set, so the hashes saved before DND was handled stay valid; lifting DND changes
    // the hash back, so it is written.
    if flagged {
        canonical["do_not_contact"] = Value::Bool(true);
    }
    let canonical = canonical.to_string();
    let d = digest::digest(&digest::SHA256, canonical.as_bytes());
    hex::encode(&d.as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::DoNotCall;
    use crate::domain::rules::{BucketRef, OnDnd};

    const COLD: i64 = 11237;
    const REMOVE: Policy = Policy {
        on_tag_removed: OnTagRemoved::RemoveFromBucket,
        on_dnd: OnDnd::FlagAndRemove,
    };

    fn names() -> FieldNames {
        FieldNames {
            phone: "phone_number".into(),
            email: "email".into(),
        }
    }

    fn ada(phone: Option<&str>) -> Contact {
        Contact {
            first_name: Some("Ada".into()),
            phone: phone.map(str::to_string),
            version_ms: Some(20),
            ..Contact::default()
        }
    }

    fn cold_lead() -> Membership {
        Membership {
            buckets: [BucketRef::Name("Cold Leads".into())].into(),
            ..Membership::default()
        }
    }

    fn cold_ids() -> ResolvedMembership {
        ResolvedMembership {
            buckets: [COLD].into(),
            ..ResolvedMembership::default()
        }
    }

    fn mapped(id: i64) -> ContactState {
        ContactState {
            version_ms: Some(10),
            ..ContactState::default()
        }
        .with_sink(
            CALLTOOLS,
            SinkState {
                id: Some(id),
                buckets: [COLD].into(),
                ..SinkState::default()
            },
        )
    }

    /// Plans with `state`, answering a request for ids as the sink would: the Cold Leads bucket
    /// for the cold lead rule, nothing for no rule.
    fn decide(contact: &Contact, wanted: &Membership, state: &ContactState) -> (Step, bool) {
        let fields = names();
        let input = PlanInput {
            contact,
            wanted,
            state,
            policy: REMOVE,
            default_region: "US",
            fields: &fields,
        };
        match plan(&input, None) {
            Step::NeedIds => {
                let ids = if wanted.is_empty() {
                    ResolvedMembership::default()
                } else {
                    cold_ids()
                };
                (plan(&input, Some(&ids)), true)
            }
            step => (step, false),
        }
    }

    fn skipped(step: Step) -> (SkipReason, Option<ContactState>) {
        match step {
            Step::Skip { reason, save } => (reason, save),
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn an_older_read_is_stale_and_remembers_nothing() {
        let contact = Contact {
            version_ms: Some(5),
            ..ada(Some("+14155550100"))
        };
        let (step, resolved) = decide(&contact, &cold_lead(), &mapped(7));
        assert_eq!(skipped(step), (SkipReason::Stale, None));
        assert!(!resolved, "no id lookup for a stale read");
        assert!(
            !is_stale(&ada(None), &mapped(7)),
            "a newer version is not stale"
        );
        assert!(
            !is_stale(&Contact::default(), &mapped(7)),
            "no version: not stale"
        );
    }

    #[test]
    fn a_contact_in_no_rule_and_not_in_calltools_is_skipped_without_any_call() {
        let (step, resolved) = decide(
            &ada(Some("+14155550100")),
            &Membership::default(),
            &ContactState::default(),
        );
        let (reason, save) = skipped(step);
        assert_eq!(reason, SkipReason::NotInAnyRule);
        assert_eq!(
            save.and_then(|s| s.version_ms),
            Some(20),
            "the version seen is kept"
        );
        assert!(!resolved);
    }

    #[test]
    fn a_missing_or_undialable_phone_writes_nothing_for_a_new_contact() {
        for (phone, expected) in [
            (None, SkipReason::NoPhone),
            (Some("12"), SkipReason::InvalidPhone),
        ] {
            let (step, resolved) = decide(&ada(phone), &cold_lead(), &ContactState::default());
            assert_eq!(skipped(step).0, expected);
            assert!(!resolved);
        }
    }

    #[test]
    fn a_mapped_contact_that_loses_its_phone_under_dnd_is_flagged_and_removed_only() {
        let contact = Contact {
            do_not_call: Some(DoNotCall::AllChannels),
            ..ada(None)
        };
        let (step, resolved) = decide(&contact, &cold_lead(), &mapped(7));
        assert!(resolved);
        let Step::Withdraw {
            id,
            fields,
            change,
            after,
        } = step
        else {
            panic!("expected a withdrawal, got {step:?}");
        };
        assert_eq!(id, 7);
        assert_eq!(fields.get("do_not_contact"), Some(&Value::Bool(true)));
        assert!(
            change.add_buckets.is_empty() && change.add_tags.is_empty(),
            "never an addition"
        );
        assert_eq!(change.remove_buckets, [COLD].into());
        assert!(after.sink(CALLTOOLS).buckets.is_empty());
        assert_eq!(
            after.sink(CALLTOOLS).hash,
            None,
            "a phone that comes back is written in full"
        );
        assert_eq!(after.do_not_call, Some(DoNotCall::AllChannels));
    }

    #[test]
    fn a_mapped_contact_without_a_phone_that_left_every_rule_leaves_its_bucket_unflagged() {
        let (step, resolved) = decide(&ada(None), &Membership::default(), &mapped(7));
        assert!(resolved);
        let Step::Withdraw { fields, change, .. } = step else {
            panic!("expected a withdrawal, got {step:?}");
        };
        assert!(fields.is_empty(), "no do_not_contact without DND");
        assert_eq!(change.remove_buckets, [COLD].into());
    }

    #[test]
    fn a_mapped_contact_that_loses_its_phone_but_is_still_wanted_is_left_as_it_is() {
        let (step, resolved) = decide(&ada(None), &cold_lead(), &mapped(7));
        assert_eq!(skipped(step).0, SkipReason::NoPhone);
        assert!(!resolved);
    }

    #[test]
    fn a_new_contact_under_dnd_is_not_created() {
        let contact = Contact {
            do_not_call: Some(DoNotCall::Calls),
            ..ada(Some("+14155550100"))
        };
        let (step, _) = decide(&contact, &cold_lead(), &ContactState::default());
        let (reason, save) = skipped(step);
        assert_eq!(reason, SkipReason::DoNotCall(DoNotCall::Calls));
        assert_eq!(save.and_then(|s| s.do_not_call), Some(DoNotCall::Calls));
    }

    #[test]
    fn a_new_contact_is_one_create_into_its_bucket_and_its_state_follows_the_answer() {
        let contact = ada(Some("(415) 555-0100"));
        let (step, resolved) = decide(&contact, &cold_lead(), &ContactState::default());
        assert!(resolved);
        let Step::Write { write, hash, base } = step else {
            panic!("expected a write, got {step:?}");
        };
        assert_eq!(write.known_id, None);
        assert_eq!(write.phone, "+14155550100");
        assert_eq!(write.fields["phone_number"], "+14155550100");
        assert_eq!(write.change.add_buckets, [COLD].into());
        let after = written(base, &contact, write, hash.clone(), 99);
        let ct = after.sink(CALLTOOLS);
        assert_eq!((ct.id, ct.hash.as_deref()), (Some(99), Some(hash.as_str())));
        assert_eq!(ct.buckets, [COLD].into());
        assert_eq!(after.version_ms, Some(20));
    }

    #[test]
    fn the_same_write_again_is_skipped_as_unchanged() {
        let contact = ada(Some("+14155550100"));
        let (Step::Write { write, hash, base }, _) =
            decide(&contact, &cold_lead(), &ContactState::default())
        else {
            panic!("a first write");
        };
        let after = written(base, &contact, write, hash, 99);
        let (step, _) = decide(&contact, &cold_lead(), &after);
        assert_eq!(skipped(step).0, SkipReason::Unchanged);
        let renamed = Contact {
            first_name: Some("Ada L.".into()),
            ..contact
        };
        let (step, _) = decide(&renamed, &cold_lead(), &after);
        assert!(matches!(
            step,
            Step::Write {
                write: ContactWrite {
                    known_id: Some(99),
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn a_contact_deleted_in_the_source_leaves_its_buckets_or_keeps_them_by_policy() {
        let leased = ContactState {
            source_hash: Some("h".into()),
            ..mapped(7)
        };
        let Step::Withdraw {
            id, change, after, ..
        } = plan_gone(&leased, &leased, OnTagRemoved::RemoveFromBucket)
        else {
            panic!("expected the rule buckets removed");
        };
        assert_eq!((id, change.remove_buckets), (7, [COLD].into()));
        assert_eq!(
            after.source_hash, None,
            "a restored contact must look changed"
        );
        assert_eq!(
            after.sink(CALLTOOLS).id,
            Some(7),
            "nothing is deleted in CallTools"
        );
        let (reason, save) = skipped(plan_gone(&leased, &leased, OnTagRemoved::Keep));
        assert_eq!(reason, SkipReason::Deleted);
        assert_eq!(save.and_then(|s| s.source_hash), None);
        let unmapped = ContactState::default();
        assert_eq!(
            skipped(plan_gone(
                &unmapped,
                &unmapped,
                OnTagRemoved::RemoveFromBucket
            )),
            (SkipReason::Deleted, None)
        );
    }

    #[test]
    fn the_write_hash_changes_with_the_do_not_contact_flag_so_lifting_dnd_writes_again() {
        let fields = Map::new();
        let none = ResolvedMembership::default();
        assert_ne!(
            write_hash(&fields, &none, true),
            write_hash(&fields, &none, false)
        );
    }
}
