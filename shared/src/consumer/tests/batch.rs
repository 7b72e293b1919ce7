//! What a batch does with each record: today's behaviour, one rule per test.

use std::time::Duration;

use crate::consumer::{Consumer, Outcome, SkipReason};
use crate::domain::clock::Clock;
use crate::domain::rules::Rules;
use crate::domain::sink::SinkId;
use crate::ports::remote::RemoteError;
use crate::sources::ghl::job::GhlTrigger;
use crate::testing::kit::ConsumerKit;
use crate::testing::store::JobMarker;

fn kit() -> ConsumerKit {
    ConsumerKit::new(Rules::default_rules()).with_contact("c1", ConsumerKit::lead("Ada"))
}

/// Contact c1's first webhook job, run and synced: where a test starts from a contact in CallTools.
async fn synced_first(kit: &ConsumerKit, consumer: &Consumer) {
    let first = kit
        .run(consumer, &[kit.message(&kit.ghl_job("ghl:w1", "c1", None))])
        .await;
    assert!(
        matches!(first[0].outcome, Outcome::Synced { .. }),
        "{first:?}"
    );
}

/// How often CallTools was asked for its buckets.
fn bucket_listings(kit: &ConsumerKit) -> usize {
    let calls = kit.calltools.calls();
    calls.iter().filter(|c| *c == "GET buckets").count()
}

fn calltools_503() -> RemoteError {
    RemoteError::from_status("CallTools", 503, None, "")
}

fn calltools_401() -> RemoteError {
    RemoteError::from_status("CallTools", 401, None, r#"{"detail":"Invalid token."}"#)
}

#[tokio::test]
async fn the_same_job_delivered_twice_is_written_once_then_skipped_as_a_duplicate() {
    let kit = kit();
    let consumer = kit.consumer();
    let job = kit.ghl_job("ghl:w1", "c1", None);
    let first = kit.run(&consumer, &[kit.message(&job)]).await;
    assert!(
        matches!(first[0].outcome, Outcome::Synced { .. }),
        "{first:?}"
    );
    let writes = kit.calltools.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");

    let second = kit.run(&consumer, &[kit.message(&job)]).await;

    assert_eq!(
        second[0].outcome,
        Outcome::Skipped(SkipReason::DuplicateJob)
    );
    assert!(!second[0].failed);
    assert_eq!(kit.calltools.writes(), writes, "no second write");
    assert_eq!(kit.ghl.reads().len(), 1, "no second read");
}

/// GHL's Marketplace and workflow webhooks of one change, milliseconds apart: the clocks cannot
/// tell the first read included the second's change, ingress's count can.
#[tokio::test]
async fn the_second_webhook_of_one_change_costs_no_read() {
    let kit = kit();
    let consumer = kit.consumer();
    let marketplace =
        kit.counted_ghl_job("ghl:w1", "c1", GhlTrigger::ContactTagUpdate, Some(1_000));
    let workflow = kit.counted_ghl_job("ghlwf:1", "c1", GhlTrigger::Workflow, None);

    let results = kit
        .run(
            &consumer,
            &[kit.message(&marketplace), kit.message(&workflow)],
        )
        .await;

    assert!(
        matches!(results[0].outcome, Outcome::Synced { .. }),
        "{results:?}"
    );
    assert_eq!(results[1].outcome, Outcome::Skipped(SkipReason::Covered));
    assert_eq!(kit.ghl.reads().len(), 1);
    assert_eq!(kit.calltools.writes().len(), 1);
}

/// The workflow's webhook first: its read covers the Marketplace webhook counted before it, and
/// that webhook's time is kept, so an older one arriving late is still stale.
#[tokio::test]
async fn a_covered_webhook_keeps_its_time_for_the_stale_check() {
    let kit = kit();
    let consumer = kit.consumer();
    let workflow = kit.counted_ghl_job("ghlwf:1", "c1", GhlTrigger::Workflow, None);
    let marketplace =
        kit.counted_ghl_job("ghl:w1", "c1", GhlTrigger::ContactTagUpdate, Some(5_000));

    let results = kit
        .run(
            &consumer,
            &[kit.message(&workflow), kit.message(&marketplace)],
        )
        .await;

    assert_eq!(
        results[1].outcome,
        Outcome::Skipped(SkipReason::Covered),
        "{results:?}"
    );
    let state = kit
        .store
        .contact(&ConsumerKit::contact_key("c1"))
        .unwrap()
        .state;
    assert_eq!(state.webhook_ms, Some(5_000));
    let late = kit.counted_ghl_job("ghl:w0", "c1", GhlTrigger::ContactUpdate, Some(4_000));
    let results = kit.run(&consumer, &[kit.message(&late)]).await;
    assert_eq!(results[0].outcome, Outcome::Skipped(SkipReason::Stale));
    assert_eq!(kit.ghl.reads().len(), 1);
}

#[tokio::test]
async fn a_webhook_counted_after_the_read_began_is_read_again() {
    let kit = kit();
    let consumer = kit.consumer();
    let first = kit.counted_ghl_job("ghl:w1", "c1", GhlTrigger::ContactTagUpdate, Some(1_000));
    kit.run(&consumer, &[kit.message(&first)]).await;
    // A later change: its webhook is numbered after the first read's count.
    let later = kit.counted_ghl_job("ghl:w2", "c1", GhlTrigger::ContactTagUpdate, Some(2_000));

    let results = kit.run(&consumer, &[kit.message(&later)]).await;

    assert!(
        results[0].outcome.is_final() && !results[0].failed,
        "{results:?}"
    );
    assert_ne!(results[0].outcome, Outcome::Skipped(SkipReason::Covered));
    assert_eq!(kit.ghl.reads().len(), 2);
}

#[tokio::test]
async fn a_webhook_ingress_could_not_count_is_read() {
    let kit = kit();
    let consumer = kit.consumer();
    let counted = kit.counted_ghl_job("ghl:w1", "c1", GhlTrigger::ContactTagUpdate, Some(1_000));
    let uncounted = kit.ghl_job("ghl:w2", "c1", None);

    let results = kit
        .run(&consumer, &[kit.message(&counted), kit.message(&uncounted)])
        .await;

    assert_ne!(
        results[1].outcome,
        Outcome::Skipped(SkipReason::Covered),
        "{results:?}"
    );
    assert_eq!(kit.ghl.reads().len(), 2);
}

#[tokio::test]
async fn two_jobs_for_one_contact_run_one_after_the_other_in_arrival_order() {
    let kit = kit();
    let consumer = kit.consumer();
    let older = kit.ghl_job("ghl:w1", "c1", Some(1_000));
    let newer = kit.ghl_job("ghl:w2", "c1", Some(2_000));

    let results = kit
        .run(&consumer, &[kit.message(&older), kit.message(&newer)])
        .await;

    let ids: Vec<_> = results.iter().map(|r| r.job_id.as_deref()).collect();
    assert_eq!(ids, [Some("ghl:w1"), Some("ghl:w2")]);
    assert!(
        results.iter().all(|r| !r.failed && r.outcome.is_final()),
        "neither was busy nor stale: {results:?}"
    );
    let key = ConsumerKit::contact_key("c1");
    assert_eq!(
        kit.store.log(),
        [
            "claim ghl:w1".to_string(),
            format!("lease {key} ghl:w1"),
            format!("save {key} ghl:w1"),
            "complete ghl:w1 synced".to_string(),
            "claim ghl:w2".to_string(),
            format!("lease {key} ghl:w2"),
            format!("save {key} ghl:w2"),
            "complete ghl:w2 skipped:unchanged".to_string(),
        ]
    );
}

#[tokio::test]
async fn a_contact_leased_by_another_job_is_deferred_as_a_new_message_spending_no_receive() {
    let kit = kit();
    let consumer = kit.consumer();
    let key = ConsumerKit::contact_key("c1");
    kit.store
        .hold_lease(&key, "ghl:other", kit.clock.now_ms() + 30_000);
    let job = kit.ghl_job("ghl:w1", "c1", None);

    let results = kit.run(&consumer, &[kit.message(&job)]).await;

    assert!(
        matches!(results[0].outcome, Outcome::Defer { .. }),
        "{results:?}"
    );
    assert!(!results[0].failed, "the old message is deleted");
    let deferred = kit.redelivery.deferrals();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].deferrals, 1);
    assert_eq!(deferred[0].deferred_since_ms, kit.clock.now_ms());
    assert!(kit.redelivery.retries().is_empty());
    assert_eq!(kit.store.job("ghl:w1"), None, "the job marker is released");
}

#[tokio::test]
async fn a_job_deferred_for_the_whole_defer_window_is_retried_in_place_as_a_batch_failure() {
    let kit = kit();
    let consumer = kit.consumer();
    let key = ConsumerKit::contact_key("c1");
    kit.store
        .hold_lease(&key, "ghl:other", kit.clock.now_ms() + 30_000);
    let job = kit.ghl_job("ghl:w1", "c1", None);
    kit.run(&consumer, &[kit.message(&job)]).await;
    let mut msg = kit.redelivery.last_deferred_message().unwrap();
    let first = kit.redelivery.calls().len();
    kit.clock.advance(kit.retry.defer_for);
    kit.store
        .hold_lease(&key, "ghl:other", kit.clock.now_ms() + 30_000);
    msg.receipt_handle = Some("rh-late".into());

    let results = kit.run(&consumer, &[msg]).await;

    assert!(
        matches!(results[0].outcome, Outcome::Defer { .. }),
        "{results:?}"
    );
    assert!(results[0].failed);
    let later = &kit.redelivery.calls()[first..];
    assert!(
        matches!(later, [crate::testing::queue::Redelivered::RetryLater { receipt_handle, .. }] if receipt_handle == "rh-late"),
        "{later:?}"
    );
}

#[tokio::test]
async fn an_unreadable_body_is_parked_at_once() {
    let kit = kit();
    let consumer = kit.consumer();

    let results = kit.run(&consumer, &[kit.raw_message("{not a job")]).await;

    assert!(
        matches!(&results[0].outcome, Outcome::Park { reason, .. } if reason.starts_with("unreadable job"))
    );
    assert!(!results[0].failed);
    let parked = kit.redelivery.parked();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].source, "unknown");
}

#[tokio::test]
async fn an_unreadable_body_that_cannot_be_parked_stays_on_the_queue_as_a_batch_failure() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.redelivery.fail_parks(true);

    let results = kit.run(&consumer, &[kit.raw_message("{not a job")]).await;

    assert!(matches!(results[0].outcome, Outcome::Park { .. }));
    assert!(results[0].failed);
    assert_eq!(kit.redelivery.parked().len(), 1, "the park was tried");
}

#[tokio::test]
async fn a_calltools_503_is_retried_with_a_delay_and_the_job_marker_released() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.calltools.fail_next_write(calltools_503());
    let job = kit.ghl_job("ghl:w1", "c1", None);

    let results = kit.run(&consumer, &[kit.message(&job)]).await;

    assert!(
        matches!(&results[0].outcome, Outcome::Retry { reason, .. } if reason.contains("503")),
        "{results:?}"
    );
    assert!(results[0].failed);
    assert_eq!(kit.redelivery.retries().len(), 1);
    assert_eq!(kit.store.job("ghl:w1"), None, "a retry must run again");
    let again = kit.run(&consumer, &[kit.message(&job)]).await;
    assert!(
        matches!(again[0].outcome, Outcome::Synced { .. }),
        "{again:?}"
    );
}

/// A create whose answer was lost saves the phone to look up, not the read: the job's own retry
/// (numbered before that read began) must read and apply again, not count as covered.
#[tokio::test]
async fn a_counted_job_whose_create_was_lost_is_read_again_on_its_retry() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.calltools.fail_next_write(calltools_503());
    let job = kit.counted_ghl_job("ghl:w1", "c1", GhlTrigger::ContactTagUpdate, Some(1_000));

    let first = kit.run(&consumer, &[kit.message(&job)]).await;
    assert!(
        matches!(first[0].outcome, Outcome::Retry { .. }),
        "{first:?}"
    );
    let again = kit.run(&consumer, &[kit.message(&job)]).await;

    assert!(
        matches!(again[0].outcome, Outcome::Synced { .. }),
        "{again:?}"
    );
    assert_eq!(kit.ghl.reads().len(), 2);
}

/// A create CallTools turned away (429: throttled before any work) created nothing: no phone
/// is kept to look up before the retry. One that may have happened (a 503) keeps it.
#[tokio::test]
async fn only_a_create_that_may_have_happened_is_marked_to_be_looked_up() {
    for (refusal, marked) in [
        (RemoteError::from_status("CallTools", 429, None, ""), false),
        (calltools_503(), true),
    ] {
        let kit = kit();
        let consumer = kit.consumer();
        kit.calltools.fail_next_write(refusal.clone());
        let job = kit.ghl_job("ghl:w1", "c1", None);
        kit.run(&consumer, &[kit.message(&job)]).await;
        let item = kit.store.contact(&ConsumerKit::contact_key("c1"));
        let phone = item.and_then(|i| {
            i.state
                .sink(SinkId::CallTools)
                .unconfirmed_create_phone
                .clone()
        });
        assert_eq!(phone.is_some(), marked, "{refusal}: {phone:?}");

        let again = kit.run(&consumer, &[kit.message(&job)]).await;
        assert!(
            matches!(again[0].outcome, Outcome::Synced { .. }),
            "{refusal}: {again:?}"
        );
    }
}

#[tokio::test]
async fn a_calltools_401_waits_as_a_deferral_and_is_parked_once_the_auth_wait_is_over() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.calltools.fail_every_call(calltools_401());
    let job = kit.ghl_job("ghl:w1", "c1", None);

    let first = kit.run(&consumer, &[kit.message(&job)]).await;

    assert!(
        matches!(first[0].outcome, Outcome::Defer { .. }),
        "{first:?}"
    );
    assert!(!first[0].failed);
    assert_eq!(kit.redelivery.deferrals().len(), 1);
    assert!(kit.redelivery.parked().is_empty());
    assert!(!matches!(
        kit.store.job("ghl:w1"),
        Some(JobMarker::Complete { .. })
    ));

    kit.clock.advance(kit.retry.auth_wait);
    let msg = kit.redelivery.last_deferred_message().unwrap();
    let later = kit.run(&consumer, &[msg]).await;

    assert!(
        matches!(&later[0].outcome, Outcome::Park { status: Some(401), reason, .. } if reason.contains("LEADSYNC_AUTH_WAIT_MAX_SECS")),
        "{later:?}"
    );
    assert!(!later[0].failed);
    assert_eq!(kit.redelivery.parked().len(), 1);
    assert_eq!(kit.redelivery.deferrals().len(), 1, "no further deferral");
}

#[tokio::test]
async fn a_source_read_is_stamped_with_the_kit_clock() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.clock.advance(Duration::from_secs(5));
    let job = kit.ghl_job("ghl:w1", "c1", None);
    kit.run(&consumer, &[kit.message(&job)]).await;
    let item = kit.store.contact(&ConsumerKit::contact_key("c1")).unwrap();
    assert_eq!(item.state.read_at_ms, Some(kit.clock.now_ms()));
    assert_eq!(item.state.updated_at_ms, Some(kit.clock.now_ms()));
}

#[tokio::test]
async fn a_job_of_a_source_no_reader_serves_is_parked_unclaimed_and_the_rest_of_the_batch_goes_on()
{
    use crate::domain::job::{Origin, SyncJob};
    use crate::sources::meta::Channel;
    use crate::sources::meta::event::{EventKind, MetaEvent};
    use crate::sources::meta::job::MetaJob;
    // The kit registers GoHighLevel only, as a deployment without a Page token does.
    let kit = kit();
    let consumer = kit.consumer();
    let messenger = SyncJob::new(MetaJob {
        job_id: "meta:read:1".into(),
        event: MetaEvent {
            channel: Channel::Messenger,
            account_id: "100".into(),
            user_id: "psid1".into(),
            timestamp_ms: kit.clock.now_ms(),
            standby: false,
            kind: EventKind::Read { watermark: 1 },
        },
        received_at_ms: kit.clock.now_ms(),
        origin: Origin::Webhook,
        payload: "{}".into(),
    });
    let ghl = kit.ghl_job("ghl:w1", "c1", None);

    let results = kit
        .run(&consumer, &[kit.message(&messenger), kit.message(&ghl)])
        .await;

    let parked = results
        .iter()
        .find(|r| r.job_id.as_deref() == Some("meta:read:1"))
        .unwrap();
    match &parked.outcome {
        Outcome::Park { reason, .. } => assert!(
            reason.contains("no messenger source is configured"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(kit.store.job("meta:read:1"), None, "never claimed");
    assert_eq!(kit.redelivery.parked().len(), 1, "parked in the DLQ");
    let synced = results
        .iter()
        .find(|r| r.job_id.as_deref() == Some("ghl:w1"))
        .unwrap();
    assert!(
        matches!(synced.outcome, Outcome::Synced { .. }),
        "{results:?}"
    );
}

#[tokio::test]
async fn an_audit_job_puts_back_a_contact_deleted_in_calltools_and_leaves_one_in_line_alone() {
    let kit = kit();
    let consumer = kit.consumer();
    synced_first(&kit, &consumer).await;
    // Nothing drifted: the audit job reads CallTools and writes nothing.
    let calm = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:1", "c1"))])
        .await;
    assert_eq!(calm[0].outcome, Outcome::Skipped(SkipReason::Unchanged));
    let writes = kit.calltools.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    // GIVEN someone deletes the contact in CallTools
    kit.calltools.delete(100);
    // WHEN the audit's job for it runs
    let results = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:2", "c1"))])
        .await;
    // THEN it is created again, in its bucket, and the state says so
    assert!(
        matches!(
            results[0].outcome,
            Outcome::Synced {
                calltools_id: 100,
                ..
            }
        ),
        "{results:?}"
    );
    let writes = kit.calltools.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes[1].starts_with("POST"), "{writes:?}");
    assert_eq!(kit.calltools.buckets_of(100), [11237].into());
    // A webhook job for the unchanged contact does not notice: only the audit looks.
    kit.calltools.delete(100);
    let webhook = kit
        .run(
            &consumer,
            &[kit.message(&kit.ghl_job("ghl:w2", "c1", None))],
        )
        .await;
    assert_eq!(webhook[0].outcome, Outcome::Skipped(SkipReason::Unchanged));
}

#[tokio::test]
async fn an_audit_job_puts_a_contact_taken_out_of_its_bucket_back_in() {
    use crate::sinks::calltools::client::CallToolsApi;
    let kit = kit();
    let consumer = kit.consumer();
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w1", "c1", None))],
    )
    .await;
    let mut out = serde_json::Map::new();
    out.insert("remove_contacts".into(), serde_json::json!([100]));
    kit.calltools.patch_bucket(11237, &out).await.unwrap();
    assert!(kit.calltools.buckets_of(100).is_empty());

    let results = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:1", "c1"))])
        .await;

    assert!(
        matches!(results[0].outcome, Outcome::Synced { .. }),
        "{results:?}"
    );
    assert_eq!(kit.calltools.buckets_of(100), [11237].into());
    let writes = kit.calltools.writes();
    assert!(
        writes.last().unwrap().starts_with("PATCH 100"),
        "a PATCH of the contact, no second create: {writes:?}"
    );
}

#[tokio::test]
async fn an_audit_job_for_a_contact_that_lost_its_tag_does_not_put_it_back() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w1", "c1", None))],
    )
    .await;
    // GIVEN the contact lost its tag in GHL (its webhook not yet applied) and was deleted in
    // CallTools
    kit.ghl.put_contact(
        "c1",
        crate::domain::contact::Contact {
            tags: Vec::new(),
            ..ConsumerKit::lead("Ada")
        },
    );
    kit.calltools.delete(100);

    let results = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:1", "c1"))])
        .await;

    assert_eq!(
        results[0].outcome,
        Outcome::Skipped(SkipReason::NotInAnyRule),
        "{results:?}"
    );
    assert_eq!(
        kit.calltools.writes().len(),
        1,
        "no create: the audit does not fight GHL"
    );
}

#[tokio::test]
async fn an_audit_job_for_a_contact_deleted_in_ghl_too_forgets_the_calltools_contact_once() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w1", "c1", None))],
    )
    .await;
    // GIVEN the contact is gone from GHL and from CallTools (its delete webhook lost)
    kit.ghl.remove_contact("c1");
    kit.calltools.delete(100);

    let results = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:1", "c1"))])
        .await;

    assert_eq!(
        results[0].outcome,
        Outcome::Skipped(SkipReason::Deleted),
        "{results:?}"
    );
    let state = kit
        .store
        .contact(&ConsumerKit::contact_key("c1"))
        .expect("the state is kept")
        .state;
    assert_eq!(
        state.sink(crate::domain::sink::SinkId::CallTools).id,
        None,
        "the CallTools contact is forgotten: the next audit finds nothing"
    );
    assert_eq!(kit.calltools.writes().len(), 1, "nothing written");
}

#[tokio::test]
async fn an_audit_job_learns_an_agents_opt_out_whose_hook_was_lost_and_never_clears_it() {
    let kit = kit();
    let consumer = kit.consumer();
    kit.run(
        &consumer,
        &[kit.message(&kit.ghl_job("ghl:w1", "c1", None))],
    )
    .await;
    // An agent marks the contact do-not-contact in CallTools; no hook reaches leadsync.
    kit.calltools.contact_fields.lock().unwrap().insert(
        100,
        serde_json::json!({"do_not_contact": true})
            .as_object()
            .unwrap()
            .clone(),
    );
    let results = kit
        .run(&consumer, &[kit.message(&kit.audit_job("audit:1", "c1"))])
        .await;
    assert!(
        matches!(results[0].outcome, Outcome::Synced { .. }),
        "{results:?}"
    );
    let state = kit
        .store
        .contact(&ConsumerKit::contact_key("c1"))
        .unwrap()
        .state;
    assert!(
        state.sink(crate::domain::sink::SinkId::CallTools).opted_out,
        "learned"
    );
    assert!(
        kit.calltools.buckets_of(100).is_empty(),
        "held out of its bucket, as under DND"
    );
    assert!(
        !kit.calltools
            .writes()
            .iter()
            .any(|w| w.contains(r#""do_not_contact":false"#)),
        "never cleared: {:?}",
        kit.calltools.writes()
    );
}

/// A cold start's init lists CallTools' buckets (the one lookup every first job makes), so the
/// first job goes straight to its write; a CallTools that fails during init costs nothing but
/// the lookup the first job then makes itself.
#[tokio::test]
async fn init_looks_up_what_the_first_job_would_and_a_failure_there_is_looked_up_again() {
    let kit = kit();
    let consumer = kit.consumer();
    consumer.prepare(Duration::from_secs(1)).await;
    assert_eq!(kit.calltools.calls(), ["GET buckets"]);
    synced_first(&kit, &consumer).await;
    assert_eq!(
        bucket_listings(&kit),
        1,
        "the first job used the listing made during init: {:?}",
        kit.calltools.calls()
    );

    let kit = self::kit();
    let consumer = kit.consumer();
    kit.calltools.fail_every_call(calltools_503());
    consumer.prepare(Duration::from_secs(1)).await;
    kit.calltools.recover();
    synced_first(&kit, &consumer).await;
    assert_eq!(bucket_listings(&kit), 2, "listed again by the first job");
}
