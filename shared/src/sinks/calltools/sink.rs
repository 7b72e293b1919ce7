//! The CallTools [`Sink`]: settle a lost create, plan, resolve ids only when the plan asks,
//! then make the one write (or the removals) and say what they came to.

use async_trait::async_trait;

use crate::domain::contact::{Contact, ContactKey};
use crate::domain::outcome::Outcome;
use crate::domain::rules::{BucketRef, Membership, Rules};
use crate::domain::sink::SinkId;
use crate::ports::store::{ContactState, SinkState};
use crate::sinks::calltools::CallToolsSink;
use crate::sinks::calltools::audit::{Drift, drift};
use crate::sinks::calltools::plan::{PlanInput, Step, plan, plan_gone, written};
use crate::sinks::calltools::target::Policy;
use crate::sinks::calltools::unconfirmed::marked;
use crate::sinks::{Sink, SinkContext};

#[async_trait]
impl Sink for CallToolsSink {
    fn id(&self) -> SinkId {
        SinkId::CallTools
    }

    /// The bucket listing a rule's bucket name needs (one call, kept for the cold start, which
    /// also reads the breaker's state) and the account's placement method from the store.
    async fn prepare(&self, rules: &Rules) {
        let named = rules.rules().find_map(|r| match &r.bucket {
            Some(BucketRef::Name(name)) => Some(name.clone()),
            _ => None,
        });
        // Side by side: init lasts as long as the slower of the two, not their sum.
        let buckets = async {
            if let Some(name) = named
                && let Err(e) = self.bucket_id(&name).await
            {
                tracing::warn!(error = %e, "CallTools buckets not looked up during init; the first job looks again");
            }
        };
        futures::join!(buckets, self.known_placement());
    }

    async fn sync(
        &self,
        _key: &ContactKey,
        contact: &Contact,
        wanted: &Membership,
        state: ContactState,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        let state = match self.settle_unconfirmed_create(state, ctx.rules).await {
            Ok(s) => s,
            Err(e) => return (e.into(), None),
        };
        let input = PlanInput {
            contact,
            wanted,
            state: &state,
            policy: Policy {
                on_tag_removed: ctx.rules.on_tag_removed,
                on_dnd: ctx.rules.on_dnd,
            },
            default_region: ctx.default_region,
            fields: self.field_names(),
        };
        let mut step = plan(&input, None);
        if step == Step::NeedIds {
            let resolved = match self.resolve(wanted).await {
                Ok(r) => r,
                Err(e) => return (e.into(), None),
            };
            step = plan(&input, Some(&resolved));
        }
        self.carry_out(step, contact).await
    }

    async fn observe(&self, mut state: ContactState) -> Result<ContactState, Outcome> {
        let entry = state.sink(SinkId::CallTools).clone();
        let Some(id) = entry.id else {
            return Ok(state);
        };
        let observed = self
            .guarded(self.api.get_contact(id))
            .await
            .map_err(Outcome::from)?;
        let Some(found) = drift(&entry, observed.as_ref()) else {
            return Ok(state);
        };
        // Counted where it was found (`sink_drift`, by the audit scan), not again here.
        let now = match found {
            // Gone: the next write finds or creates it again, as for a contact never written.
            Drift::Deleted => SinkState::default(),
            // Its hash covered the lost buckets: without it the plan writes them again.
            Drift::OutOfBuckets(lost) => SinkState {
                hash: None,
                buckets: entry.buckets.difference(&lost).copied().collect(),
                ..entry
            },
            // An agent's opt-out: the plan then holds the contact out as under DND, and never
            // clears the flag.
            Drift::OptedOut => SinkState {
                opted_out: true,
                hash: None,
                ..entry
            },
        };
        state.sinks.insert(SinkId::CallTools, now);
        Ok(state)
    }

    async fn gone(
        &self,
        _key: &ContactKey,
        leased: ContactState,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        // The contact cannot be read any more: a lost create is looked up by its saved phone.
        let state = match self
            .settle_unconfirmed_create(leased.clone(), ctx.rules)
            .await
        {
            Ok(s) => s,
            Err(e) => return (e.into(), None),
        };
        let step = plan_gone(&state, &leased, ctx.rules.on_tag_removed);
        self.carry_out(step, &Contact::default()).await
    }
}

impl CallToolsSink {
    /// Makes the write or the removals a plan decided, and says what they came to.
    async fn carry_out(&self, step: Step, contact: &Contact) -> (Outcome, Option<ContactState>) {
        match step {
            Step::Skip { reason, save } => (Outcome::Skipped(reason), save),
            Step::NeedIds => unreachable!("the plan is made again with the ids it asked for"),
            Step::Write { write, hash, base } => match self.upsert(&write).await {
                Ok(applied) => {
                    let id = applied.calltools_id;
                    (
                        synced(id, applied.calls, contact),
                        Some(written(base, contact, write, hash, id)),
                    )
                }
                // A create that may have happened without its answer: look the phone up first
                // next time. A 429 was turned away before CallTools did anything.
                Err(e) if write.known_id.is_none() && e.may_have_happened() => {
                    (e.into(), Some(marked(base, &write.phone)))
                }
                Err(e) => (e.into(), None),
            },
            Step::Withdraw {
                id,
                fields,
                change,
                after,
            } => match self.remove_membership(id, &fields, &change).await {
                Ok(calls) => (synced(id, calls, contact), Some(after)),
                Err(e) => (e.into(), None),
            },
        }
    }
}

/// A write or removal CallTools answered: counted, and what the job came to.
fn synced(id: i64, calls: u32, contact: &Contact) -> Outcome {
    metrics::counter!("sink_calls", "sink" => SinkId::CallTools.as_str())
        .increment(u64::from(calls));
    Outcome::Synced {
        calltools_id: id,
        calls,
        do_not_call: contact.do_not_call,
    }
}
