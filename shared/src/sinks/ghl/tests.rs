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
    let rules = Rules::default_rules();
    let ctx = SinkContext {
        rules: &rules,
        default_region: "US",
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
