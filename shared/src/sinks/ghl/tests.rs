use std::sync::Arc;

use super::*;
use crate::domain::call::CallOutcome;
use crate::domain::rules::Rules;
use crate::ports::store::{Carried, SinkState};
use crate::testing::ghl::FakeGhlWrites;

fn sink(api: Arc<FakeGhlWrites>) -> GhlSink {
    let outcomes = Outcomes::parse(
        r#"{"Not Interested": {"add_tags": ["not-interested"]}}"#,
        Some("fld".into()),
        true,
    )
    .unwrap();
    GhlSink::new(api, outcomes)
}

fn called(id: i64) -> Contact {
    Contact {
        call: Some(Box::new(CallOutcome {
            call_id: id,
            disposition: Some("Not Interested".into()),
            disposition_id: Some(1),
            disposition_is_dnc: false,
            agent: None,
            duration_secs: 5,
            started_at_ms: 1_000,
            recording_url: None,
        })),
        ..Contact::default()
    }
}

async fn sync(
    s: &GhlSink,
    contact: &Contact,
    state: ContactState,
) -> (Outcome, Option<ContactState>) {
    attempt(s, contact, state, false).await
}

async fn attempt(
    s: &GhlSink,
    contact: &Contact,
    state: ContactState,
    retried: bool,
) -> (Outcome, Option<ContactState>) {
    let rules = Rules::default_rules();
    let ctx = SinkContext {
        rules: &rules,
        default_region: "US",
        retried,
        job_id: "calltools:call:5001:1:0:test",
    };
    s.sync(
        &ContactKey::ghl("loc", "c1"),
        contact,
        &Membership::default(),
        state,
        &ctx,
    )
    .await
}

#[tokio::test]
async fn the_writes_go_to_the_contact_idempotent_ones_first_and_the_note_last() {
    let api = Arc::new(FakeGhlWrites::default());
    let (outcome, saved) = sync(&sink(api.clone()), &called(5001), ContactState::default()).await;
    assert_eq!(
        api.writes(),
        [
            r#"tags+ c1 ["not-interested"]"#,
            "put c1 field=Not Interested dnd=false",
            "note c1 Call outcome: Not Interested",
        ]
    );
    assert!(
        matches!(
            outcome,
            Outcome::Synced {
                calls: 3,
                do_not_call: None,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(
        saved
            .unwrap()
            .sink(SinkId::Ghl)
            .done
            .contains(&Carried::new(5001, Some(1)))
    );
}

#[tokio::test]
async fn a_failed_write_keeps_what_the_read_learned_and_the_retry_does_it_all_again() {
    let api = Arc::new(FakeGhlWrites::default());
    api.fail_next(RemoteError::Transient {
        service: "GoHighLevel",
        reason: "503".into(),
        status: Some(503),
        retry_after: None,
    });
    // The read found an agent's opt-out: it is kept though GHL failed.
    let learned = ContactState::default().with_sink(
        SinkId::CallTools,
        SinkState {
            opted_out: true,
            ..SinkState::default()
        },
    );
    let (outcome, saved) = sync(&sink(api.clone()), &called(5001), learned.clone()).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    assert_eq!(
        saved,
        Some(learned),
        "the GHL entry unchanged: nothing carried"
    );
    assert!(api.writes().is_empty());
}

#[tokio::test]
async fn a_contact_deleted_in_ghl_ends_the_outcome_and_remembers_the_call() {
    let api = Arc::new(FakeGhlWrites::default());
    api.fail_next(RemoteError::Permanent {
        service: "GoHighLevel",
        reason: "not found".into(),
        status: Some(404),
        excerpt: String::new(),
    });
    let (outcome, saved) = sync(&sink(api.clone()), &called(5001), ContactState::default()).await;
    assert_eq!(outcome, Outcome::Skipped(SkipReason::Deleted));
    assert!(
        saved
            .unwrap()
            .sink(SinkId::Ghl)
            .done
            .contains(&Carried::new(5001, Some(1)))
    );
}

fn lost() -> RemoteError {
    RemoteError::Transient {
        service: "GoHighLevel",
        reason: "the connection closed before the answer".into(),
        status: None,
        retry_after: None,
    }
}

#[tokio::test]
async fn a_note_whose_answer_was_lost_is_found_and_not_written_again() {
    let api = Arc::new(FakeGhlWrites::default());
    let s = sink(api.clone());
    api.lose_next_answer("note", lost());
    let (outcome, saved) = sync(&s, &called(5001), ContactState::default()).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    let saved = saved.unwrap();
    let unconfirmed = &saved.sink(SinkId::Ghl).unconfirmed_notes;
    assert_eq!(unconfirmed.len(), 1, "the note may be in GHL");
    assert!(
        api.notes_of("c1")[0].ends_with(unconfirmed.first().unwrap().as_str()),
        "its last line is kept"
    );
    assert!(saved.sink(SinkId::Ghl).done.is_empty(), "not carried yet");
    // The next job for the call (its retry, or the backfill's) looks before writing.
    let (outcome, saved) = sync(&s, &called(5001), saved).await;
    assert!(matches!(outcome, Outcome::Synced { .. }), "{outcome:?}");
    assert_eq!(api.notes_of("c1").len(), 1, "one note");
    let writes = api.writes();
    assert_eq!(
        writes.iter().filter(|w| w.starts_with("notes? ")).count(),
        1
    );
    let saved = saved.unwrap();
    assert!(saved.sink(SinkId::Ghl).unconfirmed_notes.is_empty());
    assert!(
        saved
            .sink(SinkId::Ghl)
            .done
            .contains(&Carried::new(5001, Some(1)))
    );
}

#[tokio::test]
async fn a_redelivered_job_whose_save_failed_finds_its_note() {
    let api = Arc::new(FakeGhlWrites::default());
    let s = sink(api.clone());
    // Everything written and answered, but the state was never saved.
    let (outcome, _lost_save) = sync(&s, &called(5001), ContactState::default()).await;
    assert!(matches!(outcome, Outcome::Synced { .. }), "{outcome:?}");
    let (outcome, _) = attempt(&s, &called(5001), ContactState::default(), true).await;
    assert!(matches!(outcome, Outcome::Synced { .. }), "{outcome:?}");
    assert_eq!(api.notes_of("c1").len(), 1, "one note");
    // A note that is not there is written on the retry.
    let (_, _) = attempt(&s, &called(5002), ContactState::default(), true).await;
    assert_eq!(api.notes_of("c1").len(), 2);
}

#[tokio::test]
async fn a_note_refused_outright_is_not_looked_for_next_time_and_one_that_timed_out_is() {
    let api = Arc::new(FakeGhlWrites::default());
    let s = sink(api.clone());
    let status = |status| RemoteError::from_status("GoHighLevel", status, None, "");
    for (refusal, maybe_written) in [
        (status(429), false),
        (status(422), false),
        (status(503), true),
        (lost(), true),
    ] {
        api.refuse_next("note", refusal.clone());
        let (_, saved) = sync(&s, &called(5001), ContactState::default()).await;
        assert_eq!(
            !saved
                .unwrap()
                .sink(SinkId::Ghl)
                .unconfirmed_notes
                .is_empty(),
            maybe_written,
            "{refusal}"
        );
    }
    assert!(api.notes_of("c1").is_empty());
}

#[tokio::test]
async fn a_call_refused_for_good_is_remembered_as_parked_until_it_is_carried() {
    let api = Arc::new(FakeGhlWrites::default());
    // GHL's 403 (the token lacks contacts.write), as the client reads it: credentials refused,
    // which waits, bounded, then parks.
    api.fail_next(RemoteError::from_status("GoHighLevel", 403, None, ""));
    let s = sink(api.clone());
    let (outcome, saved) = sync(&s, &called(5001), ContactState::default()).await;
    assert!(
        matches!(outcome, Outcome::CredentialsRejected { .. }),
        "{outcome:?}"
    );
    let saved = saved.unwrap();
    assert_eq!(
        saved.sink(SinkId::Ghl).parked,
        [Carried::new(5001, Some(1))].into()
    );
    // A 400 GHL refuses the write with: parked at once.
    api.fail_next(RemoteError::from_status("GoHighLevel", 400, None, "{}"));
    let (outcome, refused) = sync(&s, &called(5002), ContactState::default()).await;
    assert!(matches!(outcome, Outcome::Park { .. }), "{outcome:?}");
    assert!(
        refused
            .unwrap()
            .sink(SinkId::Ghl)
            .parked
            .contains(&Carried::new(5002, Some(1)))
    );
    // The replay, once the token is fixed.
    let (outcome, saved) = sync(&s, &called(5001), saved).await;
    assert!(matches!(outcome, Outcome::Synced { .. }), "{outcome:?}");
    let entry = saved.unwrap().sink(SinkId::Ghl).clone();
    assert!(entry.parked.is_empty());
    assert!(entry.done.contains(&Carried::new(5001, Some(1))));
}
