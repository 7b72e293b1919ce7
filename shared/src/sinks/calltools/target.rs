//! What CallTools should hold for one contact: the rules' membership, bent by the tag-removal
//! policy and overruled by the source's do-not-call. Compliance comes first: while the source
//! forbids calls, no rule, tag change or `keep` policy makes the contact dialable again.

use crate::domain::contact::DoNotCall;
use crate::domain::rules::{OnDnd, OnTagRemoved};
use crate::domain::sink::SinkId;
use crate::ports::store::ContactState;
use crate::sinks::calltools::ResolvedMembership;

/// How the configuration says to apply the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub on_tag_removed: OnTagRemoved,
    pub on_dnd: OnDnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Not in CallTools yet, and may not be called: it is not created there. If DND is lifted,
    /// the change (a webhook, or the backfill seeing the new source hash) creates it then.
    NotCreated(DoNotCall),
    Write(Planned),
}

/// What one write should leave in CallTools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub membership: ResolvedMembership,
    /// CallTools `do_not_contact` to send: `true` while DND holds, `false` once to clear the flag
    /// leadsync set when DND is lifted, `None` to leave the field as the account has it (an
    /// agent's own opt-out is never cleared by leadsync).
    pub do_not_contact: Option<bool>,
}

/// Decides the target for a contact whose source says `do_not_call`, given what was last applied
/// (`state`) and what the rules give its tags (`rules`).
pub fn target(
    do_not_call: Option<DoNotCall>,
    state: &ContactState,
    rules: ResolvedMembership,
    policy: Policy,
) -> Target {
    let sink = state.sink(SinkId::CallTools);
    let mapped = sink.id.is_some();
    if let (Some(dnc), false) = (do_not_call, mapped) {
        return Target::NotCreated(dnc);
    }
    // An agent's own opt-out in CallTools holds like the source's DND: the policy places the
    // contact as it would under DND, and leadsync never lifts it.
    let held = do_not_call.is_some() || sink.opted_out;
    let membership = if held && policy.on_dnd.removes() {
        ResolvedMembership::default()
    } else {
        match policy.on_tag_removed {
            OnTagRemoved::RemoveFromBucket => rules,
            OnTagRemoved::Keep => ResolvedMembership {
                buckets: &rules.buckets | &sink.buckets,
                tags: &rules.tags | &sink.tags,
            },
        }
    };
    let do_not_contact = match do_not_call {
        Some(_) => policy.on_dnd.flags().then_some(true),
        None => (state.do_not_call.is_some() && policy.on_dnd.flags() && !sink.opted_out)
            .then_some(false),
    };
    Target::Write(Planned {
        membership,
        do_not_contact,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ports::store::SinkState;

    const FLAG_AND_REMOVE: Policy = Policy {
        on_tag_removed: OnTagRemoved::RemoveFromBucket,
        on_dnd: OnDnd::FlagAndRemove,
    };

    fn cold_leads() -> ResolvedMembership {
        ResolvedMembership {
            buckets: BTreeSet::from([11237]),
            tags: BTreeSet::from([5]),
        }
    }

    /// Mapped to CallTools 42 and in the Cold Leads bucket.
    fn synced() -> ContactState {
        ContactState::default().with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(42),
                buckets: BTreeSet::from([11237]),
                tags: BTreeSet::from([5]),
                ..SinkState::default()
            },
        )
    }

    fn write(t: Target) -> Planned {
        match t {
            Target::Write(p) => p,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn dnd_on_every_channel_flags_the_contact_and_takes_it_out_of_every_bucket() {
        let p = write(target(
            Some(DoNotCall::AllChannels),
            &synced(),
            cold_leads(),
            FLAG_AND_REMOVE,
        ));
        assert_eq!(p.membership, ResolvedMembership::default());
        assert_eq!(p.do_not_contact, Some(true));
    }

    #[test]
    fn dnd_on_calls_alone_is_enough() {
        let p = write(target(
            Some(DoNotCall::Calls),
            &synced(),
            cold_leads(),
            FLAG_AND_REMOVE,
        ));
        assert_eq!(p.membership, ResolvedMembership::default());
        assert_eq!(p.do_not_contact, Some(true));
    }

    #[test]
    fn keep_does_not_keep_a_dnd_contact_in_its_buckets() {
        let keep = Policy {
            on_tag_removed: OnTagRemoved::Keep,
            ..FLAG_AND_REMOVE
        };
        let p = write(target(
            Some(DoNotCall::Calls),
            &synced(),
            ResolvedMembership::default(),
            keep,
        ));
        assert_eq!(
            p.membership,
            ResolvedMembership::default(),
            "compliance beats keep"
        );
        let p = write(target(None, &synced(), ResolvedMembership::default(), keep));
        assert_eq!(p.membership, cold_leads(), "without DND, keep keeps");
    }

    #[test]
    fn a_dnd_contact_never_synced_is_not_created() {
        assert_eq!(
            target(
                Some(DoNotCall::AllChannels),
                &ContactState::default(),
                cold_leads(),
                FLAG_AND_REMOVE
            ),
            Target::NotCreated(DoNotCall::AllChannels)
        );
        let flag_only = Policy {
            on_dnd: OnDnd::Flag,
            ..FLAG_AND_REMOVE
        };
        assert_eq!(
            target(
                Some(DoNotCall::Calls),
                &ContactState::default(),
                cold_leads(),
                flag_only
            ),
            Target::NotCreated(DoNotCall::Calls),
            "whatever the policy"
        );
    }

    #[test]
    fn lifting_dnd_clears_the_flag_once_and_puts_the_contact_back() {
        let flagged = ContactState {
            do_not_call: Some(DoNotCall::AllChannels),
            ..synced()
        }
        .with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(42),
                ..SinkState::default()
            },
        );
        let p = write(target(None, &flagged, cold_leads(), FLAG_AND_REMOVE));
        assert_eq!(p.membership, cold_leads());
        assert_eq!(p.do_not_contact, Some(false));
        // Once cleared, the field is left alone again.
        let p = write(target(None, &synced(), cold_leads(), FLAG_AND_REMOVE));
        assert_eq!(
            p.do_not_contact, None,
            "an agent's own opt-out is never cleared"
        );
    }

    #[test]
    fn an_agents_opt_out_in_calltools_keeps_the_contact_out_even_after_dnd_is_lifted() {
        // The agent marked the contact do-not-contact; leadsync carried it to GHL as DND, and a
        // person later lifted that DND in GHL.
        let opted_out = ContactState {
            do_not_call: Some(DoNotCall::Calls),
            ..synced()
        }
        .with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(42),
                buckets: cold_leads().buckets,
                opted_out: true,
                ..SinkState::default()
            },
        );
        let p = write(target(None, &opted_out, cold_leads(), FLAG_AND_REMOVE));
        assert_eq!(p.membership, ResolvedMembership::default(), "not placed");
        assert_eq!(p.do_not_contact, None, "the agent's flag is not cleared");
        let p = write(target(
            Some(DoNotCall::Calls),
            &opted_out,
            cold_leads(),
            FLAG_AND_REMOVE,
        ));
        assert_eq!(p.membership, ResolvedMembership::default());
    }

    #[test]
    fn flag_only_leaves_the_membership_to_the_rules() {
        let flag_only = Policy {
            on_dnd: OnDnd::Flag,
            ..FLAG_AND_REMOVE
        };
        let p = write(target(
            Some(DoNotCall::AllChannels),
            &synced(),
            cold_leads(),
            flag_only,
        ));
        assert_eq!(p.membership, cold_leads());
        assert_eq!(p.do_not_contact, Some(true));
    }

    #[test]
    fn remove_only_never_writes_the_flag() {
        let remove_only = Policy {
            on_dnd: OnDnd::Remove,
            ..FLAG_AND_REMOVE
        };
        let p = write(target(
            Some(DoNotCall::AllChannels),
            &synced(),
            cold_leads(),
            remove_only,
        ));
        assert_eq!(p.membership, ResolvedMembership::default());
        assert_eq!(p.do_not_contact, None);
        let lifted = ContactState {
            do_not_call: Some(DoNotCall::AllChannels),
            ..synced()
        };
        let p = write(target(None, &lifted, cold_leads(), remove_only));
        assert_eq!((p.membership, p.do_not_contact), (cold_leads(), None));
    }
}
