//! GoHighLevel as a sink: what a call in CallTools came to, carried back to the GHL contact
//! leadsync placed there — tags, a note, the last-outcome field, DND for calls — as the
//! deployment maps dispositions (`outcomes`). The plan is pure (`plan`); the writes go through
//! the GHL client the reads use (`writes`).

pub mod outcomes;
pub mod plan;
pub mod writes;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::contact::{Contact, ContactKey};
use crate::domain::outcome::{Outcome, SkipReason};
use crate::domain::rules::Membership;
use crate::domain::sink::SinkId;
use crate::ports::remote::RemoteError;
use crate::ports::store::Carried;
use crate::ports::store::ContactState;
use crate::sinks::ghl::outcomes::Outcomes;
use crate::sinks::ghl::plan::{Attempt, Step, Writes, kept_with, plan, remember};
use crate::sinks::ghl::writes::{ContactUpdate, GhlWrites};
use crate::sinks::{Sink, SinkContext};

pub struct GhlSink {
    api: Arc<dyn GhlWrites>,
    outcomes: Outcomes,
}

impl GhlSink {
    pub fn new(api: Arc<dyn GhlWrites>, outcomes: Outcomes) -> Self {
        Self { api, outcomes }
    }

    /// The writes, the idempotent ones first and the note last: a retry after a failure
    /// repeats tags, field and DND harmlessly, and the note is sent once they are all done. A
    /// note an earlier attempt may have written is looked for first. Answers the API calls made;
    /// the error says whether the note may have been written.
    async fn carry_out(&self, contact_id: &str, w: &Writes) -> Result<u32, (RemoteError, bool)> {
        let before_note = |e| (e, false);
        let mut calls = 0;
        if !w.add_tags.is_empty() {
            calls += 1;
            self.api
                .add_tags(contact_id, &w.add_tags)
                .await
                .map_err(before_note)?;
        }
        if !w.remove_tags.is_empty() {
            calls += 1;
            self.api
                .remove_tags(contact_id, &w.remove_tags)
                .await
                .map_err(before_note)?;
        }
        if w.field.is_some() || w.dnd {
            let update = ContactUpdate {
                field: w.field.clone(),
                dnd: w.dnd,
            };
            calls += 1;
            self.api
                .update_contact(contact_id, &update)
                .await
                .map_err(before_note)?;
        }
        if let Some(note) = &w.note {
            if !note.look_for.is_empty() {
                calls += 1;
                if self
                    .api
                    .has_note(contact_id, &note.look_for)
                    .await
                    .map_err(before_note)?
                {
                    metrics::counter!("ghl_note_found_written").increment(1);
                    return Ok(calls);
                }
            }
            calls += 1;
            self.api
                .add_note(contact_id, &note.body)
                .await
                .map_err(|e| {
                    let maybe = e.may_have_happened();
                    (e, maybe)
                })?;
        }
        Ok(calls)
    }
}

#[async_trait]
impl Sink for GhlSink {
    fn id(&self) -> SinkId {
        SinkId::Ghl
    }

    async fn sync(
        &self,
        key: &ContactKey,
        contact: &Contact,
        _wanted: &Membership,
        state: ContactState,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        let attempt = Attempt {
            job_id: ctx.job_id,
            retried: ctx.retried,
        };
        let (writes, after) = match plan(contact, &state, &self.outcomes, attempt) {
            Step::Skip { reason, save } => return (Outcome::Skipped(reason), save),
            Step::Write { writes, after } => (*writes, after),
        };
        let calltools_id = state.sink(SinkId::CallTools).id.unwrap_or_default();
        match self.carry_out(&key.id, &writes).await {
            Ok(calls) => {
                metrics::counter!("sink_calls", "sink" => SinkId::Ghl.as_str())
                    .increment(u64::from(calls));
                (
                    Outcome::Synced {
                        calltools_id,
                        calls,
                        do_not_call: writes
                            .dnd
                            .then_some(crate::domain::contact::DoNotCall::Calls),
                    },
                    Some(after),
                )
            }
            // Deleted in GHL since it was placed: the outcome has nowhere to go. The call is
            // remembered as carried, so its duplicates end here too.
            Err((e, _)) if e.status() == Some(404) => {
                (Outcome::Skipped(SkipReason::Deleted), Some(after))
            }
            // What the read learned is kept (an agent's opt-out holds the contact out of the
            // dialer whatever GHL answered); the GHL entry is not, so the retry writes again. A
            // note sent without a confirmed answer is remembered, so no attempt sends it twice.
            // A call refused for good (or for want of credentials, which waits, bounded, then
            // parks) is remembered as parked, so the backfill leaves it to the replay instead of
            // sending it again every run.
            Err((e, note_sent)) => {
                let outcome: Outcome = e.into();
                let mut entry = state.sink(SinkId::Ghl).clone();
                if let Some(note) = writes
                    .note
                    .as_ref()
                    .filter(|n| note_sent && n.remember_unconfirmed)
                {
                    entry.unconfirmed_notes =
                        kept_with(entry.unconfirmed_notes, note.marker.clone());
                }
                let refused = matches!(
                    outcome,
                    Outcome::Park { .. } | Outcome::CredentialsRejected { .. }
                );
                if let (true, Some(call)) = (refused, &contact.call) {
                    let carried = Carried::new(call.call_id, call.disposition_id);
                    entry.parked = remember(&entry.parked, carried);
                }
                (outcome, Some(state.with_sink(SinkId::Ghl, entry)))
            }
        }
    }

    /// A call outcome has nothing to withdraw: the contact is only written to, never placed.
    async fn gone(
        &self,
        _key: &ContactKey,
        _leased: ContactState,
        _ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        (Outcome::Skipped(SkipReason::Deleted), None)
    }
}

#[cfg(test)]
mod tests;
