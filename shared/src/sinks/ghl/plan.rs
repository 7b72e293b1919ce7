//! What GoHighLevel should be given for one carried-back read: pure, so every case is a test.
//!
//! - A call is carried once per disposition (the pair is kept in the GHL entry's `done`): a
//!   note, and, when it is
//!   the newest call carried, its disposition's tags and the last-outcome field. An older call
//!   arriving late adds its note and leaves the newer outcome in place.
//! - The note is the one write a repeat would duplicate. Its last line names the call, the
//!   disposition and the job that wrote it (a short tag of its id). An attempt that may follow
//!   one whose note went unconfirmed — its answer lost (the line is kept in the GHL entry's
//!   `unconfirmed_notes`), or a retry after the state failed to save — looks for that line among
//!   the contact's notes first. The tag keeps a disposition changed back (A, B, A) from taking
//!   the first A's note for its own.
//! - Do-not-call (a do-not-call disposition, a disposition mapped to `dnd`, an agent's own flag)
//!   sets GHL DND for calls, whatever leadsync last saw of GHL's DND (a person may have lifted
//!   it since). leadsync never lifts DND in GHL.

use std::collections::BTreeSet;

use aws_lc_rs::digest;

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
    pub note: Option<NoteWrite>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// `(custom field id, value)`: the last outcome.
    pub field: Option<(String, String)>,
    /// DND for calls.
    pub dnd: bool,
}

/// A note for one carried call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteWrite {
    pub body: String,
    /// The body's last line: how this note is recognised among the contact's notes.
    pub marker: String,
    /// Lines (or a recording link) that, found in one of the contact's notes, mean an earlier
    /// attempt wrote this note: looked for before writing. Empty: written at once.
    pub look_for: Vec<String>,
    /// Whether a note sent without a confirmed answer is kept in `unconfirmed_notes`.
    pub remember_unconfirmed: bool,
    pub carried: Carried,
}

/// The attempt a plan is for: the job (whose id tags the note) and whether an earlier attempt at
/// it may have written without its state being saved.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub job_id: &'a str,
    pub retried: bool,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The API calls they take at most: a note (and the look for it), an add, a removal, and one
    /// contact update carrying the field and DND together.
    pub fn calls(&self) -> u32 {
        self.note
            .as_ref()
            .map_or(0, |n| 1 + u32::from(!n.look_for.is_empty()))
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
    Write {
        writes: Box<Writes>,
        after: ContactState,
    },
}

pub fn plan(
    contact: &Contact,
    state: &ContactState,
    outcomes: &Outcomes,
    attempt: Attempt<'_>,
) -> Step {
    let entry = state.sink(SinkId::Ghl).clone();
    let mut after = entry.clone();
    let mut writes = Writes::default();
    let mut reason = SkipReason::Unchanged;
    let mut dnd = contact.do_not_call.is_some();
    if let Some(call) = &contact.call {
        let carried = Carried::new(call.call_id, call.disposition_id);
        let new_recording = call
            .recording_url
            .as_deref()
            .filter(|_| !entry.recorded.contains(&call.call_id));
        if entry.done.contains(&carried) {
            reason = SkipReason::DuplicateJob;
            // The link came after the outcome was carried: a note of its own. Looked for by the
            // link itself, so neither a retry nor the outcome's own note is repeated.
            if let Some(url) = new_recording {
                if outcomes.notes {
                    writes.note = Some(NoteWrite {
                        body: recording_note(call, url),
                        marker: format!("CallTools call {} recording (leadsync)", call.call_id),
                        look_for: vec![url.to_string()],
                        remember_unconfirmed: false,
                        carried,
                    });
                }
                reason = SkipReason::Unchanged;
                after.recorded = kept_with(entry.recorded.clone(), call.call_id);
            }
        } else {
            let effects = call
                .disposition
                .as_deref()
                .and_then(|d| outcomes.effects(d));
            dnd |= effects.is_some_and(|e| e.dnd);
            let prefix = marker_prefix(call);
            let own = format!("{prefix}{})", job_tag(attempt.job_id));
            if outcomes.notes {
                let mut look_for: Vec<String> = entry
                    .unconfirmed_notes
                    .iter()
                    .filter(|m| m.starts_with(&prefix))
                    .cloned()
                    .collect();
                if attempt.retried && !look_for.contains(&own) {
                    look_for.push(own.clone());
                }
                writes.note = Some(NoteWrite {
                    body: note(call, &own),
                    marker: own,
                    look_for,
                    remember_unconfirmed: true,
                    carried,
                });
            }
            after.unconfirmed_notes.retain(|m| !m.starts_with(&prefix));
            after.parked.remove(&carried);
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
            if new_recording.is_some() {
                after.recorded = kept_with(entry.recorded.clone(), call.call_id);
            }
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
        writes: Box::new(writes),
        after: after_state,
    }
}

/// `done` with `carried` in place of the call's earlier disposition, keeping the newest
/// [`DONE_KEPT`] (CallTools' ids grow). One disposition per call: the job reads the call as it is
/// now, so a disposition changed back (A, B, then A again) is carried again, and a late hook for
/// the one before reads the current one and finds it done.
pub fn remember(done: &BTreeSet<Carried>, carried: Carried) -> BTreeSet<Carried> {
    let others = done
        .iter()
        .filter(|c| c.id != carried.id)
        .copied()
        .collect();
    kept_with(others, carried)
}

/// `kept` with `item`, dropping the first (smallest) beyond [`DONE_KEPT`].
pub fn kept_with<T: Ord>(mut kept: BTreeSet<T>, item: T) -> BTreeSet<T> {
    kept.insert(item);
    while kept.len() > DONE_KEPT {
        kept.pop_first();
    }
    kept
}

/// The note for a recording link that came after the call's outcome was carried.
pub fn recording_note(call: &CallOutcome, url: &str) -> String {
    format!(
        "Call recording: {url}\nCall of {} UTC, outcome: {}\nCallTools call {} recording (leadsync)",
        format_datetime(call.started_at_ms),
        call.disposition.as_deref().unwrap_or("(none)"),
        call.call_id
    )
}

/// The note a call leaves on the GHL contact, `marker` its last line.
pub fn note(call: &CallOutcome, marker: &str) -> String {
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
    lines.push(marker.to_string());
    lines.join("\n")
}

/// The start of an outcome note's last line, up to the job's tag: the call and its disposition.
/// `CallTools call 5001, disposition 3 (leadsync 1a2b3c4d)` in full.
pub fn marker_prefix(call: &CallOutcome) -> String {
    match call.disposition_id {
        Some(d) => format!(
            "CallTools call {}, disposition {d} (leadsync ",
            call.call_id
        ),
        None => format!("CallTools call {} (leadsync ", call.call_id),
    }
}

/// Eight hex digits of SHA-256 of the job id: which job wrote a note.
fn job_tag(job_id: &str) -> String {
    let d = digest::digest(&digest::SHA256, job_id.as_bytes());
    hex::encode(&d.as_ref()[..4])
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

    const JOB: &str = "calltools:call:5001:1:0:test";

    /// A first attempt's plan.
    fn plan(contact: &Contact, state: &ContactState, outcomes: &Outcomes) -> Step {
        let attempt = Attempt {
            job_id: JOB,
            retried: false,
        };
        super::plan(contact, state, outcomes, attempt)
    }

    fn write(step: Step) -> (Writes, ContactState) {
        match step {
            Step::Write { writes, after } => (*writes, after),
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
        let note = w.note.clone().unwrap().body;
        for part in [
            "Call outcome: not interested",
            "Agent: Agent Smith",
            "Duration: 0:42",
            "Time: 1970-01-01 00:00:01 UTC",
            "Recording: https://silo.example/rec/1.mp3",
            "CallTools call 5001, disposition 1 (leadsync ",
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
    fn a_disposition_changed_back_is_carried_again() {
        let mut state = ContactState::default();
        for (disposition, carried_again) in [
            ("Call Back", true),
            ("Not Interested", true),
            ("Call Back", true),
            ("Call Back", false),
        ] {
            match plan(&called(5001, disposition, 1_000), &state, &outcomes()) {
                Step::Write { writes, after } => {
                    assert!(carried_again, "{disposition} written twice");
                    assert!(writes.note.is_some());
                    state = after;
                }
                Step::Skip { reason, .. } => {
                    assert!(!carried_again, "{disposition} not carried");
                    assert_eq!(reason, SkipReason::DuplicateJob);
                }
            }
        }
        assert_eq!(
            state.sink(SinkId::Ghl).done,
            BTreeSet::from([carried(5001, "Call Back")]),
            "one disposition per call"
        );
    }

    #[test]
    fn a_note_is_looked_for_first_after_an_unconfirmed_one_or_on_a_retry() {
        let call = called(5001, "Not Interested", 1_000);
        let first = write(plan(&call, &ContactState::default(), &outcomes())).0;
        let note = first.note.unwrap();
        assert!(note.look_for.is_empty(), "a first attempt writes at once");
        assert!(note.body.ends_with(&note.marker));
        assert_eq!(
            note.marker,
            format!(
                "CallTools call 5001, disposition 1 (leadsync {})",
                job_tag(JOB)
            )
        );
        // An earlier job's note went unconfirmed (its answer was lost); another call's too.
        let lost = "CallTools call 5001, disposition 1 (leadsync 0a1b2c3d)".to_string();
        let other_call = "CallTools call 5002, disposition 2 (leadsync 0a1b2c3d)".to_string();
        let unconfirmed = ContactState::default().with_sink(
            SinkId::Ghl,
            crate::ports::store::SinkState {
                unconfirmed_notes: [lost.clone(), other_call.clone()].into(),
                ..Default::default()
            },
        );
        let (w, after) = write(plan(&call, &unconfirmed, &outcomes()));
        assert_eq!(w.note.as_ref().unwrap().look_for, [lost]);
        assert_eq!(w.calls(), 5, "the look costs one read");
        assert_eq!(
            after.sink(SinkId::Ghl).unconfirmed_notes,
            [other_call].into(),
            "only this call's line is settled"
        );
        // Another call's unconfirmed note is not this one's.
        let (w, _) = write(plan(
            &called(5003, "Call Back", 2_000),
            &unconfirmed,
            &outcomes(),
        ));
        assert!(w.note.unwrap().look_for.is_empty());
        // A redelivered job looks for its own line whatever the state says: its save may
        // have failed.
        let retried = Attempt {
            job_id: JOB,
            retried: true,
        };
        let (w, _) = write(super::plan(
            &call,
            &ContactState::default(),
            &outcomes(),
            retried,
        ));
        let note = w.note.unwrap();
        assert_eq!(note.look_for, std::slice::from_ref(&note.marker));
    }

    #[test]
    fn a_disposition_changed_back_is_tagged_by_its_own_job_so_a_retry_does_not_take_the_first_note()
    {
        let call = called(5001, "Call Back", 1_000);
        let first = Attempt {
            job_id: "calltools:call:5001:2:1:aa",
            retried: false,
        };
        let again = Attempt {
            job_id: "calltools:call:5001:2:9:bb",
            retried: true,
        };
        let a = write(super::plan(
            &call,
            &ContactState::default(),
            &outcomes(),
            first,
        ))
        .0;
        let b = write(super::plan(
            &call,
            &ContactState::default(),
            &outcomes(),
            again,
        ))
        .0;
        let (a, b) = (a.note.unwrap(), b.note.unwrap());
        assert_ne!(a.marker, b.marker);
        assert_eq!(
            b.look_for,
            std::slice::from_ref(&b.marker),
            "not the first one's line"
        );
    }

    #[test]
    fn a_recording_link_that_comes_later_gets_a_note_of_its_own_once() {
        let mut call = called(5001, "Not Interested", 1_000);
        call.call.as_mut().unwrap().recording_url = None;
        let (w, after) = write(plan(&call, &ContactState::default(), &outcomes()));
        assert!(!w.note.unwrap().body.contains("Recording"));
        assert!(after.sink(SinkId::Ghl).recorded.is_empty());
        // CallTools posts the call again once the recording is stored.
        let url = "https://silo.example/rec/1.mp3";
        call.call.as_mut().unwrap().recording_url = Some(url.into());
        let (w, after) = write(plan(&call, &after, &outcomes()));
        assert_eq!(w.calls(), 2, "looked for, then written: no tags, no field");
        let note = w.note.unwrap();
        assert_eq!(
            note.look_for,
            [url],
            "found by the link, wherever it was written"
        );
        assert!(note.body.starts_with(&format!("Call recording: {url}")));
        assert!(
            !note.body.contains("disposition 1 (leadsync)"),
            "not the outcome's marker"
        );
        assert_eq!(after.sink(SinkId::Ghl).recorded, BTreeSet::from([5001]));
        // Posted again: nothing.
        assert!(matches!(
            plan(&call, &after, &outcomes()),
            Step::Skip {
                reason: SkipReason::DuplicateJob,
                save: None
            }
        ));
        // A link there when the outcome was carried is in its note: no note of its own.
        let (_, after) = write(plan(
            &called(5002, "Call Back", 2_000),
            &ContactState::default(),
            &outcomes(),
        ));
        assert_eq!(after.sink(SinkId::Ghl).recorded, BTreeSet::from([5002]));
        // Notes off: remembered, nothing written.
        let quiet = Outcomes::parse("{}", None, false).unwrap();
        let done = write(plan(
            &called(5003, "Sale", 3_000),
            &ContactState::default(),
            &outcomes(),
        ))
        .1;
        let mut unrecorded = done.clone();
        let mut entry = unrecorded.sink(SinkId::Ghl).clone();
        entry.recorded.clear();
        unrecorded = unrecorded.with_sink(SinkId::Ghl, entry);
        let Step::Skip { reason, save } = plan(&called(5003, "Sale", 3_000), &unrecorded, &quiet)
        else {
            panic!("nothing to write with notes off");
        };
        assert_eq!(reason, SkipReason::Unchanged);
        assert_eq!(
            save.unwrap().sink(SinkId::Ghl).recorded,
            BTreeSet::from([5003])
        );
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
