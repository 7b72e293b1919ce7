//! The event log and `leadsync trace`: every job a contact had is accounted for, with its
//! outcome and reason, found from the contact id alone.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::dynamo::events::DynamoEventLog;
use leadsync::aws::sqs::SqsQueue;
use leadsync::consumer::{Outcome, SkipReason};
use leadsync::domain::job::SyncJob;
use leadsync::ports::events::LoggedEvent;
use leadsync::ports::queue::JobQueue;
use leadsync::sources::ghl::job::{GhlContactJob, GhlTrigger};
use leadsync_cli::commands::trace::{Trace, render, trace};
use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_tests::*;

fn job<'a>(t: &'a Trace, job_id: &str) -> Option<&'a LoggedEvent> {
    t.events.iter().find(|e| e.job_id == job_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_shows_the_synced_job_and_each_skipped_one_with_its_reason() -> Result<()> {
    let t = stack().start().await?;
    let log = DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    // GIVEN a contact tagged "cold lead" and synced
    let id = t
        .create_tagged_contact("Hedy", "+14155550140", "cold lead")
        .await?;
    let contact = in_bucket(&t, "+14155550140", COLD_LEADS).await?;
    drained(&t, Duration::from_secs(30)).await?;
    let applied = t
        .contact_state(&id)
        .await?
        .and_then(|s| s.version_ms)
        .context("a version was applied")?;

    // WHEN an update from before the applied version arrives late,
    let stale = marketplace_body("ContactUpdate", &id, applied - 60_000, "trace-stale-1");
    assert_eq!(t.post_signed(&stale).await?.0, 202);
    assert_eq!(
        t.final_outcome("ghl:trace-stale-1").await?,
        Outcome::Skipped(SkipReason::Stale)
    );
    // the same change arrives again under another webhook id,
    let again = marketplace_body("ContactUpdate", &id, applied, "trace-again-1");
    assert_eq!(t.post_signed(&again).await?.0, 202);
    assert_eq!(
        t.final_outcome("ghl:trace-again-1").await?,
        Outcome::Skipped(SkipReason::Unchanged)
    );
    // and SQS delivers the stale job a second time (at-least-once)
    let logged = trace(&log, "ghl", &id, 20).await?;
    let first = job(&logged, "ghl:trace-stale-1").context("the stale job is logged")?;
    let redelivery = SyncJob::new(GhlContactJob {
        job_id: first.job_id.clone(),
        location_id: SANDBOX_LOCATION_ID.into(),
        contact_id: id.clone(),
        trigger: GhlTrigger::ContactUpdate,
        version_ms: Some(applied - 60_000),
        received_at_ms: first.received_at_ms,
        arrival: None,
        payload: String::from_utf8(stale)?,
    });
    SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    )
    .enqueue(&redelivery)
    .await?;

    // THEN the trace, from the contact id alone, shows the state and every job
    let found = eventually(
        Duration::from_secs(30),
        "the redelivery in the event log",
        || async {
            let found = trace(&log, "ghl", &id, 20).await?;
            let counted = job(&found, "ghl:trace-stale-1").is_some_and(|e| e.attempts == 2);
            Ok(counted.then_some(found))
        },
    )
    .await?;
    let text = render(&found);
    assert_eq!(found.states.len(), 1, "{text}");
    let state = &found.states[0];
    assert_eq!(state.account, SANDBOX_LOCATION_ID);
    assert_eq!(state.calltools_id, contact["id"].as_i64(), "{text}");
    assert_eq!(state.version_ms, Some(applied));
    assert!(state.buckets.contains(&COLD_LEADS), "{text}");

    let synced = found
        .events
        .iter()
        .find(|e| e.outcome == "synced")
        .context(text.clone())?;
    assert_eq!(synced.calltools_id, contact["id"].as_i64(), "{text}");
    assert!(synced.attempts >= 1, "{text}");
    let stale = job(&found, "ghl:trace-stale-1").context(text.clone())?;
    assert_eq!(
        (stale.outcome.as_str(), stale.reason.as_deref()),
        ("skipped", Some("stale")),
        "a duplicate delivery never overwrites what the job came to: {text}"
    );
    // The saved state alone settles the redelivery (stale again): one more attempt, same
    // outcome, no job claim needed to tell it was a redelivery.
    assert_eq!(stale.attempts, 2, "{text}");
    let again = job(&found, "ghl:trace-again-1").context(text.clone())?;
    assert_eq!(again.reason.as_deref(), Some("unchanged"), "{text}");
    assert!(again.attempts >= 1, "{text}");
    assert!(
        found
            .events
            .windows(2)
            .all(|w| w[0].received_at_ms >= w[1].received_at_ms),
        "newest first: {text}"
    );
    assert!(
        text.contains("stale") && text.contains("unchanged"),
        "{text}"
    );
    t.stop().await;
    Ok(())
}
