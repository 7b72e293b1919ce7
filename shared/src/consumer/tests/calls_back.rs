//! Call outcomes from CallTools carried back to GoHighLevel, both directions on one kit.

use serde_json::json;

use crate::consumer::{Outcome, SkipReason};
use crate::domain::contact::DoNotCall;
use crate::domain::rules::Rules;
use crate::domain::sink::SinkId;
use crate::sinks::ghl::outcomes::Outcomes;
use crate::testing::kit::ConsumerKit;

fn kit() -> ConsumerKit {
    let mut kit =
        ConsumerKit::new(Rules::default_rules()).with_contact("c1", ConsumerKit::lead("Ada"));
    kit.outcomes = Outcomes::parse(
        r#"{"Not Interested": {"add_tags": ["not-interested"], "remove_tags": ["cold lead"]}}"#,
        None,
        true,
    )
    .unwrap();
    kit
}

/// Places `c1` in CallTools through the forward sync; its CallTools id.
async fn placed(kit: &ConsumerKit, consumer: &crate::consumer::Consumer) -> i64 {
    let job = kit.ghl_job("ghl:w1", "c1", None);
    let r = kit.run(consumer, &[kit.message(&job)]).await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    kit.store
        .contact(&ConsumerKit::contact_key("c1"))
        .unwrap()
        .state
        .sink(SinkId::CallTools)
        .id
        .unwrap()
}

fn dial(kit: &ConsumerKit, call_id: i64, contact: i64, disposition: &str, dnc: bool, at: &str) {
    kit.calltools.dialed.lock().unwrap().insert(
        call_id,
        json!({"id": call_id, "contact": contact, "duration": 30, "start_time": at,
               "disposition": {"id": 3, "name": disposition, "is_dnc": dnc},
               "user": {"first_name": "Agent", "last_name": "Smith"}, "recording_url": null}),
    );
}

#[tokio::test]
async fn a_disposition_reaches_ghl_once_under_duplicate_hooks_and_never_bounces() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    let calltools_writes = kit.calltools.writes();
    dial(
        &kit,
        5001,
        ct,
        "Not Interested",
        false,
        "2026-12-06 07:30:00",
    );
    let job = kit.call_job(5001, ct, "c1", true);

    // Three deliveries of the same hook in one batch, and one more later.
    let msgs = [kit.message(&job), kit.message(&job), kit.message(&job)];
    let results = kit.run(&consumer, &msgs).await;
    let later = kit.run(&consumer, &[kit.message(&job)]).await;

    assert!(
        matches!(results[0].outcome, Outcome::Synced { calls: 3, .. }),
        "{results:?}"
    );
    assert!(
        results[1..]
            .iter()
            .chain(&later)
            .all(|r| r.outcome == Outcome::Skipped(SkipReason::DuplicateJob))
    );
    assert_eq!(
        kit.ghl_writes.writes(),
        [
            r#"tags+ c1 ["not-interested"]"#,
            r#"tags- c1 ["cold lead"]"#,
            "note c1 Call outcome: Not Interested",
        ]
    );
    let reads: Vec<_> = kit
        .calltools
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("GET call"))
        .collect();
    assert_eq!(
        reads,
        ["GET call 5001"],
        "one CallTools read for four hooks"
    );
    assert_eq!(
        kit.calltools.writes(),
        calltools_writes,
        "nothing went back to CallTools"
    );
}

#[tokio::test]
async fn a_note_whose_answer_was_lost_is_not_written_twice_by_the_retry_or_the_backfill() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    dial(
        &kit,
        5001,
        ct,
        "Not Interested",
        false,
        "2026-12-06 07:30:00",
    );
    kit.ghl_writes.lose_next_answer(
        "note",
        crate::ports::remote::RemoteError::Transient {
            service: "GoHighLevel",
            reason: "the connection closed before the answer".into(),
            status: None,
            retry_after: None,
        },
    );
    let hook = kit.call_job(5001, ct, "c1", true);
    let r = kit.run(&consumer, &[kit.message(&hook)]).await;
    assert!(matches!(r[0].outcome, Outcome::Retry { .. }), "{r:?}");
    // Another job for the same call (a duplicate hook, or the backfill's) comes before the
    // retry, as a fresh message.
    let r = kit
        .run(&consumer, &[kit.message(&disposed_job(5001, ct, 3, 77))])
        .await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    let notes = kit.ghl_writes.notes_of("c1");
    assert_eq!(notes.len(), 1, "{notes:?}");
    let last = notes[0].lines().last().unwrap_or_default();
    assert!(
        last.starts_with("CallTools call 5001, disposition 3 (leadsync ") && last.len() == 54,
        "{last}"
    );
    // The retry itself: the call is carried.
    let r = kit.run(&consumer, &[kit.message(&hook)]).await;
    assert_eq!(r[0].outcome, Outcome::Skipped(SkipReason::DuplicateJob));
    assert_eq!(kit.ghl_writes.notes_of("c1").len(), 1);
    assert_eq!(
        kit.ghl_writes
            .writes()
            .iter()
            .filter(|w| w.starts_with("notes? "))
            .count(),
        1,
        "looked for once"
    );
}

#[tokio::test]
async fn a_hook_for_a_contact_leadsync_did_not_place_is_not_acted_on() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    dial(
        &kit,
        5001,
        ct + 1,
        "Not Interested",
        false,
        "2026-12-06 07:30:00",
    );
    // The hook says the call is to our contact; the read says otherwise.
    let lied = kit.call_job(5001, ct, "c1", true);
    let other = kit.call_job(5002, ct + 1, "c1", true);
    let r = kit
        .run(&consumer, &[kit.message(&lied), kit.message(&other)])
        .await;
    assert!(
        r.iter()
            .all(|r| r.outcome == Outcome::Skipped(SkipReason::NotPlaced)),
        "{r:?}"
    );
    assert!(kit.ghl_writes.writes().is_empty());
}

#[tokio::test]
async fn an_older_call_arriving_late_adds_its_note_and_keeps_the_newer_outcome() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    dial(&kit, 5001, ct, "Call Back", false, "2026-12-06 07:00:00");
    dial(
        &kit,
        5002,
        ct,
        "Not Interested",
        false,
        "2026-12-06 08:00:00",
    );
    kit.run(
        &consumer,
        &[kit.message(&kit.call_job(5002, ct, "c1", true))],
    )
    .await;
    kit.run(
        &consumer,
        &[kit.message(&kit.call_job(5001, ct, "c1", true))],
    )
    .await;
    assert_eq!(
        kit.ghl_writes.writes(),
        [
            r#"tags+ c1 ["not-interested"]"#,
            r#"tags- c1 ["cold lead"]"#,
            "note c1 Call outcome: Not Interested",
            "note c1 Call outcome: Call Back",
        ]
    );
}

#[tokio::test]
async fn a_do_not_call_disposition_sets_ghl_dnd_and_the_contact_never_reenters_a_bucket() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    assert!(
        !kit.calltools.buckets_of(ct).is_empty(),
        "placed in the cold bucket"
    );
    dial(&kit, 5001, ct, "Do Not Call", true, "2026-12-06 07:30:00");
    let r = kit
        .run(
            &consumer,
            &[kit.message(&kit.call_job(5001, ct, "c1", true))],
        )
        .await;
    assert!(
        matches!(
            r[0].outcome,
            Outcome::Synced {
                do_not_call: Some(DoNotCall::Calls),
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        kit.ghl_writes.writes(),
        [
            "put c1 field=- dnd=true",
            "note c1 Call outcome: Do Not Call"
        ]
    );

    // GHL sends its webhook for the DND leadsync wrote: the contact leaves the bucket.
    let mut dnd = ConsumerKit::lead("Ada");
    dnd.do_not_call = Some(DoNotCall::Calls);
    dnd.version_ms = Some(2);
    kit.ghl.put_contact("c1", dnd);
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w2", "c1", None))],
    )
    .await;
    assert!(kit.calltools.buckets_of(ct).is_empty(), "out of the bucket");

    // A person lifts DND in GHL and tags the lead again: the agent's opt-out still holds.
    let mut lifted = ConsumerKit::lead("Ada");
    lifted.version_ms = Some(3);
    kit.ghl.put_contact("c1", lifted);
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w3", "c1", None))],
    )
    .await;
    assert!(
        kit.calltools.buckets_of(ct).is_empty(),
        "never placed again"
    );
    assert!(
        !kit.calltools
            .writes()
            .iter()
            .any(|w| w.contains(r#""do_not_contact":false"#)),
        "the flag is never cleared: {:?}",
        kit.calltools.writes()
    );
}

#[tokio::test]
async fn an_agents_flag_reaches_ghl_once() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    let contact_job = |n: u8| flagged_contact_job(ct, n);
    kit.calltools.contact_fields.lock().unwrap().insert(
        ct,
        json!({"do_not_contact": true}).as_object().unwrap().clone(),
    );
    let r = kit.run(&consumer, &[kit.message(&contact_job(1))]).await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    assert_eq!(kit.ghl_writes.writes(), ["put c1 field=- dnd=true"]);
    // The same flag posted again (any later change to the contact): known, no read.
    let r = kit.run(&consumer, &[kit.message(&contact_job(2))]).await;
    assert_eq!(r[0].outcome, Outcome::Skipped(SkipReason::Unchanged));
    assert_eq!(kit.ghl_writes.writes().len(), 1);
}

/// A `Contact` hook for CallTools contact `ct` (GHL `c1`) posted flagged `do_not_contact`.
fn flagged_contact_job(ct: i64, n: u8) -> crate::domain::job::SyncJob {
    use crate::domain::job::{Origin, SyncJob};
    use crate::sources::calltools::hook::{HookModel, Hooked};
    use crate::sources::calltools::job::CallToolsJob;
    let hooked = Hooked {
        model: HookModel::Contact,
        object_id: ct,
        contact_id: ct,
        disposition_id: None,
        flagged: true,
        recorded: false,
    };
    SyncJob::new(CallToolsJob::new(
        &hooked,
        ConsumerKit::contact_key("c1"),
        Origin::Webhook,
        0,
        &[n],
    ))
}

#[tokio::test]
async fn the_flag_leadsync_set_from_ghl_dnd_does_not_come_back_to_ghl() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    // DND in GHL: the forward sync flags the contact in CallTools.
    let mut dnd = ConsumerKit::lead("Ada");
    dnd.do_not_call = Some(DoNotCall::AllChannels);
    dnd.version_ms = Some(2);
    kit.ghl.put_contact("c1", dnd);
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w2", "c1", None))],
    )
    .await;
    assert!(
        kit.calltools
            .writes()
            .iter()
            .any(|w| w.contains(r#""do_not_contact":true"#)),
        "{:?}",
        kit.calltools.writes()
    );
    // CallTools posts its Contact hook for that write.
    kit.calltools.contact_fields.lock().unwrap().insert(
        ct,
        json!({"do_not_contact": true}).as_object().unwrap().clone(),
    );
    let r = kit
        .run(&consumer, &[kit.message(&flagged_contact_job(ct, 1))])
        .await;
    assert_eq!(r[0].outcome, Outcome::Skipped(SkipReason::Unchanged));
    assert!(kit.ghl_writes.writes().is_empty(), "no echo to GHL");
    let state = kit
        .store
        .contact(&ConsumerKit::contact_key("c1"))
        .unwrap()
        .state;
    assert!(
        !state.sink(SinkId::CallTools).opted_out,
        "leadsync's flag, not an agent's"
    );
}

/// The hook of call `call_id` as posted with disposition `disposition_id`.
/// The hook CallTools posts for a call with a disposition, received at `received_ms`.
fn disposed_job(
    call_id: i64,
    ct: i64,
    disposition_id: i64,
    received_ms: i64,
) -> crate::domain::job::SyncJob {
    use crate::domain::job::{Origin, SyncJob};
    use crate::sources::calltools::hook::{HookModel, Hooked};
    use crate::sources::calltools::job::CallToolsJob;
    let hooked = Hooked {
        model: HookModel::Call,
        object_id: call_id,
        contact_id: ct,
        disposition_id: Some(disposition_id),
        flagged: true,
        recorded: false,
    };
    SyncJob::new(CallToolsJob::new(
        &hooked,
        ConsumerKit::contact_key("c1"),
        Origin::Webhook,
        received_ms,
        b"{}",
    ))
}

#[tokio::test]
async fn a_correction_is_carried_a_late_hook_changes_nothing_a_change_back_is_carried() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    let disposed = |id: i64, name: &str| {
        kit.calltools.dialed.lock().unwrap().insert(
            5001,
            json!({"id": 5001, "contact": ct, "duration": 30, "start_time": "2026-12-06 07:30:00",
                   "disposition": {"id": id, "name": name, "is_dnc": false}}),
        );
    };
    // The agent chooses "Call Back" (id 3): a note only, the map gives it nothing else.
    disposed(3, "Call Back");
    let r = kit
        .run(&consumer, &[kit.message(&disposed_job(5001, ct, 3, 1))])
        .await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    // ...then corrects it to "Not Interested" (id 7): CallTools posts the call again.
    disposed(7, "Not Interested");
    let r = kit
        .run(&consumer, &[kit.message(&disposed_job(5001, ct, 7, 2))])
        .await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    // A late delivery of the first hook reads the call as it is now: already carried.
    let late = kit
        .run(&consumer, &[kit.message(&disposed_job(5001, ct, 3, 3))])
        .await;
    assert_eq!(late[0].outcome, Outcome::Skipped(SkipReason::DuplicateJob));
    // The agent changes it back to "Call Back": the call's outcome is Call Back again.
    disposed(3, "Call Back");
    let back = kit
        .run(&consumer, &[kit.message(&disposed_job(5001, ct, 3, 4))])
        .await;
    assert!(
        matches!(back[0].outcome, Outcome::Synced { .. }),
        "{back:?}"
    );
    assert_eq!(
        kit.ghl_writes.writes(),
        [
            "note c1 Call outcome: Call Back",
            r#"tags+ c1 ["not-interested"]"#,
            r#"tags- c1 ["cold lead"]"#,
            "note c1 Call outcome: Not Interested",
            "note c1 Call outcome: Call Back",
        ]
    );
}

#[tokio::test]
async fn an_agents_opt_out_holds_though_its_ghl_write_failed_and_is_carried_on_the_retry() {
    let kit = kit();
    let consumer = kit.consumer();
    let ct = placed(&kit, &consumer).await;
    kit.calltools.contact_fields.lock().unwrap().insert(
        ct,
        json!({"do_not_contact": true}).as_object().unwrap().clone(),
    );
    // GHL refuses the DND write (the token lacks contacts.write): the job is parked...
    kit.ghl_writes
        .fail_next(crate::ports::remote::RemoteError::Permanent {
            service: "GoHighLevel",
            reason: "403".into(),
            status: Some(403),
            excerpt: String::new(),
        });
    let r = kit
        .run(&consumer, &[kit.message(&flagged_contact_job(ct, 1))])
        .await;
    assert!(matches!(r[0].outcome, Outcome::Park { .. }), "{r:?}");
    let state = |kit: &ConsumerKit| {
        kit.store
            .contact(&ConsumerKit::contact_key("c1"))
            .unwrap()
            .state
    };
    assert!(state(&kit).sink(SinkId::CallTools).opted_out, "kept");
    // ...but the opt-out is kept: the next GHL change takes the contact out of its bucket.
    let writes_before = kit.calltools.writes().len();
    let mut renamed = ConsumerKit::lead("Ada B");
    renamed.version_ms = Some(2);
    kit.ghl.put_contact("c1", renamed);
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w2", "c1", None))],
    )
    .await;
    let later = &kit.calltools.writes()[writes_before..];
    assert!(
        state(&kit).sink(SinkId::CallTools).buckets.is_empty(),
        "out of its bucket: {later:?}"
    );
    assert!(
        !later.iter().any(|w| w.contains("add_contacts")),
        "never back in a bucket: {later:?}"
    );
    assert!(
        !later
            .iter()
            .any(|w| w.contains(r#""do_not_contact":false"#)),
        "the agent's flag is never cleared: {later:?}"
    );
    // The hook replayed once GHL accepts: DND is carried then.
    let r = kit
        .run(&consumer, &[kit.message(&flagged_contact_job(ct, 2))])
        .await;
    assert!(matches!(r[0].outcome, Outcome::Synced { .. }), "{r:?}");
    assert_eq!(kit.ghl_writes.writes(), ["put c1 field=- dnd=true"]);
}
