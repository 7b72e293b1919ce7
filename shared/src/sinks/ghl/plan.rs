//! What GoHighLevel should be given for one carried-back read: pure, so every case is a test.
//!
//! - A call is carried once per disposition (the pair is kept in the GHL entry's `done`): a
//!   note, and, when it is
//!   the newest call carried, its disposition's tags and the last-outcome field. An older call
//!   arriving late adds its note and leaves the newer outcome in place.
//! - Do-not-call (a do-not-call disposition, a disposition mapped to `dnd`, an agent's own flag)
//!   sets GHL DND for calls, whatever leadsync last saw of GHL's DND (a person may have lifted
//!   it since). leadsync never lifts DND in GHL.

use std::collections::BTreeSet;

use crate::domain::call::CallOutcome;
use crate::domain::contact::Contact;
use crate::domain::outcome::SkipReason;
use crate::domain::sink::SinkId;
use crate::ports::store::{Carried, ContactState, DONE_KEPT};
use crate::sinks::ghl::outcomes::Outcomes;
use crate::sources::calltools::hook::format_datetime;

/// The GHL writes one read comes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    pub note: Option<String>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// `(custom field id, value)`: the last outcome.
    pub field: Option<(String, String)>,
    /// DND for calls.
    pub dnd: bool,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The API calls they take: a note, an add, a removal, and one contact update carrying the
    /// field and DND together.
    pub fn calls(&self) -> u32 {
        u32::from(self.note.is_some())
            + u32::from(!self.add_tags.is_empty())
            + u32::from(!self.remove_tags.is_empty())
            + u32::from(self.field.is_some() || self.dnd)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Skip {
        reason: SkipReason,
        save: Option<ContactState>,
    },
    /// `after` is the state once every write is answered.
    Write { writes: Writes, after: ContactState },
}

pub fn plan(contact: &Contact, state: &ContactState, outcomes: &Outcomes) -> Step {
    let entry = state.sink(SinkId::Ghl).clone();
    let mut after = entry.clone();
    let mut writes = Writes::default();
    let mut reason = SkipReason::Unchanged;
    let mut dnd = contact.do_not_call.is_some();
    if let Some(call) = &contact.call {
        let carried = Carried::new(call.call_id, call.disposition_id);
        if entry.done.contains(&carried) {
            reason = SkipReason::DuplicateJob;
        } else {
            let effects = call
                .disposition
                .as_deref()
                .and_then(|d| outcomes.effects(d));
            dnd |= effects.is_some_and(|e| e.dnd);
            if outcomes.notes {
                writes.note = Some(note(call));
            }
            let newest = entry.version_ms.is_none_or(|v| call.started_at_ms >= v);
            if newest {
                if let Some(e) = effects {
                    writes.add_tags = e.add_tags.clone();
                    writes.remove_tags = e.remove_tags.clone();
                }
                if let (Some(field), Some(disposition)) = (&outcomes.field_id, &call.disposition) {
                    writes.field = Some((field.clone(), disposition.clone()));
                }
                after.version_ms = Some(call.started_at_ms);
            }
            after.done = remember(&entry.done, carried);
        }
    }
    // Written even when the forward sync last saw GHL DND: a person may have lifted it since
    // (GHL does not always say so), and the update is idempotent. Once per call, or per flag.
    if dnd {
        writes.dnd = true;
        after.dnd_written = true;
    }
    let after_state = state.clone().with_sink(SinkId::Ghl, after.clone());
    if writes.is_empty() {
        let save = (after != entry).then_some(after_state);
        return Step::Skip { reason, save };
    }
    Step::Write {
        writes,
        after: after_state,
    }
}

/// `done` with `carried`, keeping the newest [`DONE_KEPT`] (CallTools' ids grow).
fn remember(done: &BTreeSet<Carried>, carried: Carried) -> BTreeSet<Carried> {
    let mut kept = done.clone();
    kept.insert(carried);
    while kept.len() > DONE_KEPT {
        kept.pop_first();
    }
    kept
}

/// The note a call leaves on the GHL contact.
pub fn note(call: &CallOutcome) -> String {
    let mut lines = vec![format!(
        "Call outcome: {}",
        call.disposition.as_deref().unwrap_or("(none)")
    )];
    if let Some(agent) = &call.agent {
        lines.push(format!("Agent: {agent}"));
    }
    lines.push(format!("Duration: {}", call.duration_text()));
    lines.push(format!("Time: {} UTC", format_datetime(call.started_at_ms)));
    if let Some(url) = &call.recording_url {
        lines.push(format!("Recording: {url}"));
    }
    lines.push(format!("CallTools call {} (leadsync)", call.call_id));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::DoNotCall;

    fn outcomes() -> Outcomes {
        Outcomes::parse(
            r#"{"Not Interested": {"add_tags": ["not-interested"], "remove_tags": ["cold lead"]},
                "Call Back": {"add_tags": ["call-back"]},
                "Wrong Number": {"dnd": true}}"#,
            Some("fld_last_outcome".into()),
            true,
        )
        .unwrap()
    }

    fn called(id: i64, disposition: &str, at: i64) -> Contact {
        Contact {
            call: Some(Box::new(CallOutcome {
                call_id: id,
                disposition: Some(disposition.into()),
                disposition_id: Some(disposition_id(disposition)),
                disposition_is_dnc: false,
                agent: Some("Agent Smith".into()),
                duration_secs: 42,
                started_at_ms: at,
                recording_url: Some("https://silo.example/rec/1.mp3".into()),
            })),
            ..Contact::default()
        }
    }

    /// The account's ids for the dispositions these tests name.
    fn disposition_id(name: &str) -> i64 {
        match name.to_lowercase().as_str() {
            "not interested" => 1,
            "call back" => 2,
            "do not call" => 4,
            "wrong number" => 5,
            _ => 9,
        }
    }

    fn carried(call: i64, disposition: &str) -> Carried {
        Carried::new(call, Some(disposition_id(disposition)))
    }

    fn write(step: Step) -> (Writes, ContactState) {
        match step {
            Step::Write { writes, after } => (writes, after),
            other => panic!("expected writes, got {other:?}"),
        }
    }

    #[test]
    fn a_disposition_gives_its_tags_the_field_and_a_note_once() {
        let state = ContactState::default();
        let (w, after) = write(plan(
            &called(5001, "not interested", 1_000),
            &state,
            &outcomes(),
        ));
        assert_eq!(w.add_tags, ["not-interested"]);
        assert_eq!(w.remove_tags, ["cold lead"]);
        assert_eq!(
            w.field,
            Some(("fld_last_outcome".into(), "not interested".into()))
        );
        assert!(!w.dnd);
        let note = w.note.clone().unwrap();
        for part in [
            "Call outcome: not interested",
            "Agent: Agent Smith",
            "Duration: 0:42",
            "Time: 1970-01-01 00:00:01 UTC",
            "Recording: https://silo.example/rec/1.mp3",
            "CallTools call 5001",
        ] {
            assert!(note.contains(part), "{part} in {note}");
        }
        assert_eq!(w.calls(), 4);
        // The same call again: nothing.
        assert_eq!(
            plan(&called(5001, "not interested", 1_000), &after, &outcomes()),
            Step::Skip {
                reason: SkipReason::DuplicateJob,
                save: None
            }
        );
    }

    #[test]
    fn an_older_call_arriving_late_adds_its_note_and_keeps_the_newer_outcome() {
        let (_, after) = write(plan(
            &called(5002, "Call Back", 2_000),
            &ContactState::default(),
            &outcomes(),
        ));
        let (w, after) = write(plan(
            &called(5001, "Not Interested", 1_000),
            &after,
            &outcomes(),
        ));
        assert!(w.note.is_some());
        assert!(w.add_tags.is_empty() && w.remove_tags.is_empty() && w.field.is_none());
        assert_eq!(after.sink(SinkId::Ghl).version_ms, Some(2_000));
        assert_eq!(
            after.sink(SinkId::Ghl).done,
            BTreeSet::from([carried(5001, "Not Interested"), carried(5002, "Call Back")])
        );
    }

    #[test]
    fn a_disposition_changed_later_is_carried_and_its_duplicate_is_not() {
        let (_, after) = write(plan(
            &called(5001, "Call Back", 1_000),
            &ContactState::default(),
            &outcomes(),
        ));
        // The agent corrects the call's disposition: the same call, another outcome.
        let corrected = called(5001, "Not Interested", 1_000);
        let (w, after) = write(plan(&corrected, &after, &outcomes()));
        assert!(w.note.is_some());
        assert_eq!(w.add_tags, ["not-interested"]);
        assert_eq!(
            w.field,
            Some(("fld_last_outcome".into(), "Not Interested".into()))
        );
        let Step::Skip { reason, save } = plan(&corrected, &after, &outcomes()) else {
            panic!("a duplicate writes nothing");
        };
        assert_eq!(reason, SkipReason::DuplicateJob);
        assert!(save.is_none());
    }

    #[test]
    fn do_not_call_sets_dnd_whatever_leadsync_last_saw_of_ghl() {
        let mut dnc = called(5001, "Do Not Call", 1_000);
        dnc.do_not_call = Some(DoNotCall::Calls);
        let (w, after) = write(plan(&dnc, &ContactState::default(), &outcomes()));
        assert!(w.dnd);
        assert!(after.sink(SinkId::Ghl).dnd_written);
        // Mapped to dnd in the configuration.
        let (w, _) = write(plan(
            &called(5001, "wrong number", 1_000),
            &ContactState::default(),
            &outcomes(),
        ));
        assert!(w.dnd);
        // GHL had DND when the forward sync last read it: a person may have lifted it since.
        let held = ContactState {
            do_not_call: Some(DoNotCall::AllChannels),
            ..ContactState::default()
        };
        let (w, _) = write(plan(&dnc, &held, &outcomes()));
        assert!(w.dnd);
        // An agent's flag alone (no call).
        let flagged = Contact {
            do_not_call: Some(DoNotCall::Calls),
            ..Contact::default()
        };
        let (w, _) = write(plan(&flagged, &ContactState::default(), &outcomes()));
        assert_eq!(
            w,
            Writes {
                dnd: true,
                ..Writes::default()
            }
        );
        assert_eq!(w.calls(), 1);
    }

    #[test]
    fn an_unmapped_disposition_leaves_a_note_and_the_field_and_notes_can_be_off() {
        let (w, _) = write(plan(
            &called(5001, "Sale", 1_000),
            &ContactState::default(),
            &outcomes(),
        ));
        assert!(w.add_tags.is_empty());
        assert_eq!(w.calls(), 2, "a note and the field");
        let quiet = Outcomes::parse("{}", None, false).unwrap();
        let Step::Skip { reason, save } = plan(
            &called(5001, "Sale", 1_000),
            &ContactState::default(),
            &quiet,
        ) else {
            panic!("nothing to write");
        };
        assert_eq!(reason, SkipReason::Unchanged);
        assert_eq!(
            save.unwrap().sink(SinkId::Ghl).done,
            BTreeSet::from([carried(5001, "Sale")]),
            "still carried once"
        );
    }

    #[test]
    fn only_the_newest_calls_are_remembered() {
        let many: BTreeSet<Carried> = (1..=DONE_KEPT as i64)
            .map(|id| Carried::new(id, Some(1)))
            .collect();
        let kept = remember(&many, Carried::new(10_000, None));
        assert_eq!(kept.len(), DONE_KEPT);
        assert!(!kept.contains(&Carried::new(1, Some(1))));
        assert!(kept.contains(&Carried::new(10_000, None)));
    }

    #[test]
    fn a_carried_call_reads_back_as_it_was_stored() {
        for c in [Carried::new(5001, Some(3)), Carried::new(5002, None)] {
            assert_eq!(Carried::parse(&c.as_text()), Some(c));
        }
        assert_eq!(Carried::new(5001, Some(3)).as_text(), "5001:3");
        assert_eq!(Carried::parse("5001"), None);
        assert_eq!(Carried::parse("x:3"), None);
    }
}
