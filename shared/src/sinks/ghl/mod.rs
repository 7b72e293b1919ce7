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
use crate::ports::store::ContactState;
use crate::sinks::ghl::outcomes::Outcomes;
use crate::sinks::ghl::plan::{Step, Writes, plan};
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
    /// repeats tags, field and DND harmlessly, and the note is sent once they are all done.
    async fn carry_out(&self, contact_id: &str, w: &Writes) -> Result<(), RemoteError> {
        if !w.add_tags.is_empty() {
            self.api.add_tags(contact_id, &w.add_tags).await?;
        }
        if !w.remove_tags.is_empty() {
            self.api.remove_tags(contact_id, &w.remove_tags).await?;
        }
        if w.field.is_some() || w.dnd {
            let update = ContactUpdate {
                field: w.field.clone(),
                dnd: w.dnd,
            };
            self.api.update_contact(contact_id, &update).await?;
        }
        if let Some(note) = &w.note {
            self.api.add_note(contact_id, note).await?;
        }
        Ok(())
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
        _ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>) {
        let (writes, after) = match plan(contact, &state, &self.outcomes) {
            Step::Skip { reason, save } => return (Outcome::Skipped(reason), save),
            Step::Write { writes, after } => (writes, after),
        };
        let calltools_id = state.sink(SinkId::CallTools).id.unwrap_or_default();
        match self.carry_out(&key.id, &writes).await {
            Ok(()) => {
                let calls = writes.calls();
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
            Err(e) if e.status() == Some(404) => {
                (Outcome::Skipped(SkipReason::Deleted), Some(after))
            }
            // What the read learned is kept (an agent's opt-out holds the contact out of the
            // dialer whatever GHL answered); the GHL entry is not, so the retry writes again.
            Err(e) => (e.into(), Some(state)),
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
