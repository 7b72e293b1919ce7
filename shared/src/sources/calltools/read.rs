//! CallTools as the consumer reads it: the object a hook named, read again from the API (never
//! the hook's body), checked against the contact leadsync placed, and turned into what the GHL
//! sink carries back. One CallTools read per job, none when the saved state already settles it.
//!
//! Origin: a contact flagged `do_not_contact` while GHL already has DND for it (leadsync's own
//! write, from GHL) is not sent back; an agent's own flag is remembered on the CallTools entry
//! (`opted_out`), so the forward sync never clears it nor places the contact again.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::contact::{Contact, DoNotCall};
use crate::domain::job::SyncJob;
use crate::domain::outcome::{Outcome, SkipReason};
use crate::domain::rules::Membership;
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ports::remote::excerpt;
use crate::ports::store::{Carried, ContactState, SinkState};
use crate::sinks::calltools::client::CallToolsApi;
use crate::sources::calltools::hook::{HookModel, contact_do_not_contact, parse_call};
use crate::sources::calltools::job::CallToolsJob;
use crate::sources::{ContactSource, Read, ReadContext, not_mine};

/// CallTools' calls and contacts, read through its API.
pub struct CallToolsReader {
    api: Arc<dyn CallToolsApi>,
}

impl CallToolsReader {
    pub fn new(api: Arc<dyn CallToolsApi>) -> Self {
        Self { api }
    }
}

#[async_trait]
impl ContactSource for CallToolsReader {
    fn serves(&self) -> &'static [Source] {
        &[Source::CallTools]
    }

    fn settles_by_state(&self) -> bool {
        true
    }

    fn settled_by_state(&self, job: &SyncJob, state: &ContactState) -> Option<SkipReason> {
        settled_by_state(job.payload::<CallToolsJob>()?, state)
    }

    async fn read(&self, job: &SyncJob, state: ContactState, _ctx: &ReadContext<'_>) -> Read {
        let Some(j) = job.payload::<CallToolsJob>() else {
            return not_mine("calltools", job);
        };
        let answer = match j.model {
            HookModel::Call => self.api.get_call(j.object_id).await,
            HookModel::Contact => self.api.get_contact(j.object_id).await,
        };
        let object = match answer {
            Ok(Some(v)) => v,
            // Deleted in CallTools since: nothing to carry back.
            Ok(None) => return Read::Settled(Outcome::Skipped(SkipReason::Deleted), None),
            Err(e) => return Read::Settled(e.into(), None),
        };
        match j.model {
            HookModel::Call => call_read(j, state, &object),
            HookModel::Contact => contact_read(state, &object),
        }
    }
}

/// What the saved state settles with no read: a hook for another CallTools contact than the one
/// leadsync placed, a call with no disposition posted, a call already carried back, a contact
/// hook that changes nothing leadsync keeps.
fn settled_by_state(j: &CallToolsJob, state: &ContactState) -> Option<SkipReason> {
    let placed = state.sink(SinkId::CallTools);
    if placed.id != Some(j.calltools_contact_id) {
        return Some(SkipReason::NotPlaced);
    }
    match j.model {
        HookModel::Call if !j.flagged => Some(SkipReason::NoOutcome),
        // Carried, and any recording link it posts carried too.
        HookModel::Call
            if state
                .sink(SinkId::Ghl)
                .done
                .contains(&Carried::new(j.object_id, j.disposition_id))
                && (!j.recorded || state.sink(SinkId::Ghl).recorded.contains(&j.object_id)) =>
        {
            Some(SkipReason::DuplicateJob)
        }
        // Flagged, known and carried to GHL; or not flagged and nothing to lift.
        HookModel::Contact
            if j.flagged == placed.opted_out
                && (!j.flagged || state.sink(SinkId::Ghl).dnd_written) =>
        {
            Some(SkipReason::Unchanged)
        }
        _ => None,
    }
}

/// How long a job waits for CallTools to show a disposition its hook named.
const DISPOSITION_LAG: std::time::Duration = std::time::Duration::from_secs(30);

fn call_read(j: &CallToolsJob, state: ContactState, object: &Value) -> Read {
    let (contact_id, call) = match parse_call(object) {
        Ok(parsed) => parsed,
        Err(reason) => return unreadable(&reason, object),
    };
    if contact_id != j.calltools_contact_id {
        return Read::Settled(Outcome::Skipped(SkipReason::NotPlaced), None);
    }
    // Only a hook that named a disposition is read (`settled_by_state`). A read that does not
    // show it yet lags the hook: ending the job here would mark it done, and the backfill's job
    // for the same call would then be taken for a duplicate for good.
    if call.disposition.is_none() {
        return Read::Settled(
            Outcome::Retry {
                reason: "the hook named a disposition the call does not show yet".into(),
                after: Some(DISPOSITION_LAG),
            },
            None,
        );
    }
    // The hook posted a recording link the read does not show yet: carrying the call now
    // would leave the link out for good once the call is done.
    if j.recorded && call.recording_url.is_none() {
        return Read::Settled(
            Outcome::Retry {
                reason: "the hook posted a recording link the call does not show yet".into(),
                after: Some(DISPOSITION_LAG),
            },
            None,
        );
    }
    let dnc = call.disposition_is_dnc;
    let state = if dnc { opted_out(state, true) } else { state };
    Read::Found {
        contact: Contact {
            do_not_call: dnc.then_some(DoNotCall::Calls),
            call: Some(Box::new(call)),
            ..Contact::default()
        },
        wanted: Membership::default(),
        state,
        counts_created: None,
    }
}

fn contact_read(state: ContactState, object: &Value) -> Read {
    let flagged = contact_do_not_contact(object);
    let known = state.sink(SinkId::CallTools).opted_out;
    match (flagged, known) {
        // leadsync's own flag, written from GHL's DND: an echo, nothing to send. In doubt (GHL
        // DND holds but leadsync did not flag it, e.g. OnDnd=remove) it is an agent's opt-out.
        (true, false) if state.sink(SinkId::CallTools).dnd_written => {
            Read::Settled(Outcome::Skipped(SkipReason::Unchanged), None)
        }
        // An agent's opt-out, new, or known but not yet carried to GHL (its write failed).
        (true, false) | (true, true) if !state.sink(SinkId::Ghl).dnd_written || !known => {
            Read::Found {
                contact: Contact {
                    do_not_call: Some(DoNotCall::Calls),
                    ..Contact::default()
                },
                wanted: Membership::default(),
                state: opted_out(state, true),
                counts_created: None,
            }
        }
        // The agent lifted their own flag in CallTools. The DND leadsync wrote to GHL stays until
        // a person lifts it there: neither direction re-enables dialing on its own.
        (false, true) => Read::Settled(
            Outcome::Skipped(SkipReason::Unchanged),
            Some(opted_out(state, false)),
        ),
        _ => Read::Settled(Outcome::Skipped(SkipReason::Unchanged), None),
    }
}

fn opted_out(state: ContactState, value: bool) -> ContactState {
    let entry = SinkState {
        opted_out: value,
        ..state.sink(SinkId::CallTools).clone()
    };
    state.with_sink(SinkId::CallTools, entry)
}

/// A 200 whose object could not be read: CallTools changed shape, retrying will not help.
fn unreadable(reason: &str, object: &Value) -> Read {
    Read::Settled(
        Outcome::Park {
            reason: format!("unreadable CallTools answer: {reason}"),
            status: Some(200),
            excerpt: excerpt(&object.to_string()),
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::contact::ContactKey;
    use crate::domain::job::Origin;
    use crate::sources::calltools::hook::Hooked;

    fn job(model: HookModel, object_id: i64, flagged: bool) -> CallToolsJob {
        CallToolsJob::new(
            &Hooked {
                model,
                object_id,
                contact_id: 123,
                disposition_id: flagged.then_some(3),
                recorded: false,
                flagged,
            },
            ContactKey::ghl("loc", "c1"),
            Origin::Webhook,
            0,
            b"{}",
        )
    }

    fn placed(entry: SinkState) -> ContactState {
        ContactState::default().with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(123),
                ..entry
            },
        )
    }

    fn call(contact: i64, disposition: Value) -> Value {
        json!({"id": 5001, "contact": contact, "disposition": disposition,
               "start_time": "2026-12-06 07:30:00", "duration": 42})
    }

    #[test]
    fn the_state_settles_hooks_that_need_no_read() {
        let state = placed(SinkState::default());
        let other = ContactState::default();
        assert_eq!(
            settled_by_state(&job(HookModel::Call, 5001, true), &other),
            Some(SkipReason::NotPlaced)
        );
        assert_eq!(
            settled_by_state(&job(HookModel::Call, 5001, false), &state),
            Some(SkipReason::NoOutcome)
        );
        assert_eq!(
            settled_by_state(&job(HookModel::Call, 5001, true), &state),
            None
        );
        let carried = state.clone().with_sink(
            SinkId::Ghl,
            SinkState {
                done: [Carried::new(5001, Some(3))].into(),
                ..SinkState::default()
            },
        );
        assert_eq!(
            settled_by_state(&job(HookModel::Call, 5001, true), &carried),
            Some(SkipReason::DuplicateJob)
        );
        // The same call posted again with the recording link that came later is read, until
        // the link is carried too.
        let mut recorded = job(HookModel::Call, 5001, true);
        recorded.recorded = true;
        assert_eq!(settled_by_state(&recorded, &carried), None);
        let mut entry = carried.sink(SinkId::Ghl).clone();
        entry.recorded.insert(5001);
        let with_link = carried.clone().with_sink(SinkId::Ghl, entry);
        assert_eq!(
            settled_by_state(&recorded, &with_link),
            Some(SkipReason::DuplicateJob)
        );
        // The same call with another disposition (changed later) is read.
        let mut changed = job(HookModel::Call, 5001, true);
        changed.disposition_id = Some(4);
        assert_eq!(settled_by_state(&changed, &carried), None);
        assert_eq!(
            settled_by_state(&job(HookModel::Contact, 123, false), &state),
            Some(SkipReason::Unchanged),
            "an unflagged contact hook (most are leadsync's own writes) costs no read"
        );
        assert_eq!(
            settled_by_state(&job(HookModel::Contact, 123, true), &state),
            None
        );
    }

    #[test]
    fn a_read_call_for_another_contact_is_not_carried_and_one_without_its_disposition_waits() {
        let j = job(HookModel::Call, 5001, true);
        let state = placed(SinkState::default());
        let disposition = json!({"id": 3, "name": "Not Interested", "is_dnc": false});
        assert!(matches!(
            call_read(&j, state.clone(), &call(999, disposition.clone())),
            Read::Settled(Outcome::Skipped(SkipReason::NotPlaced), None)
        ));
        assert!(matches!(
            call_read(&j, state.clone(), &call(123, Value::Null)),
            Read::Settled(Outcome::Retry { .. }, None)
        ));
        let mut recorded = j.clone();
        recorded.recorded = true;
        assert!(
            matches!(
                call_read(&recorded, state.clone(), &call(123, disposition.clone())),
                Read::Settled(Outcome::Retry { .. }, None)
            ),
            "the hook's recording link not read back yet"
        );
        let Read::Found {
            contact,
            state: after,
            ..
        } = call_read(&j, state, &call(123, disposition))
        else {
            panic!("a disposed call is carried back");
        };
        assert_eq!(
            contact.call.unwrap().disposition.as_deref(),
            Some("Not Interested")
        );
        assert_eq!(contact.do_not_call, None);
        assert!(!after.sink(SinkId::CallTools).opted_out);
    }

    #[test]
    fn a_do_not_call_disposition_marks_the_contact_opted_out() {
        let j = job(HookModel::Call, 5001, true);
        let dnc = json!({"id": 4, "name": "Do Not Call", "is_dnc": true});
        let Read::Found { contact, state, .. } =
            call_read(&j, placed(SinkState::default()), &call(123, dnc))
        else {
            panic!("carried back");
        };
        assert_eq!(contact.do_not_call, Some(DoNotCall::Calls));
        assert!(state.sink(SinkId::CallTools).opted_out);
    }

    #[test]
    fn an_agents_flag_is_carried_leadsyncs_own_is_not_and_a_lifted_one_only_forgotten() {
        let flagged = json!({"id": 123, "do_not_contact": true});
        let Read::Found { contact, state, .. } =
            contact_read(placed(SinkState::default()), &flagged)
        else {
            panic!("the agent's flag is carried to GHL");
        };
        assert_eq!(contact.do_not_call, Some(DoNotCall::Calls));
        assert!(state.sink(SinkId::CallTools).opted_out);

        // leadsync flagged it from GHL's DND: its own echo.
        let from_ghl = ContactState {
            do_not_call: Some(DoNotCall::AllChannels),
            ..placed(SinkState {
                dnd_written: true,
                ..SinkState::default()
            })
        };
        assert!(matches!(
            contact_read(from_ghl, &flagged),
            Read::Settled(Outcome::Skipped(SkipReason::Unchanged), None)
        ));
        // GHL DND holds but leadsync did not flag CallTools (OnDnd=remove): the agent's own.
        let removed_only = ContactState {
            do_not_call: Some(DoNotCall::AllChannels),
            ..placed(SinkState::default())
        };
        let Read::Found { state, .. } = contact_read(removed_only, &flagged) else {
            panic!("in doubt, an agent's opt-out");
        };
        assert!(state.sink(SinkId::CallTools).opted_out);
        // Known, but its GHL write failed: carried again; once written, settled.
        let known = placed(SinkState {
            opted_out: true,
            ..SinkState::default()
        });
        assert!(matches!(
            contact_read(known.clone(), &flagged),
            Read::Found { .. }
        ));
        let carried = known.with_sink(
            SinkId::Ghl,
            SinkState {
                dnd_written: true,
                ..SinkState::default()
            },
        );
        assert!(matches!(
            contact_read(carried, &flagged),
            Read::Settled(Outcome::Skipped(SkipReason::Unchanged), None)
        ));

        let lifted = json!({"id": 123, "do_not_contact": false});
        let was = placed(SinkState {
            opted_out: true,
            ..SinkState::default()
        });
        let Read::Settled(Outcome::Skipped(SkipReason::Unchanged), Some(after)) =
            contact_read(was, &lifted)
        else {
            panic!("forgotten, nothing written");
        };
        assert!(!after.sink(SinkId::CallTools).opted_out);
    }
}
