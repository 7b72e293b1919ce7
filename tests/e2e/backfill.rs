//! The backfill on the local stack: it finds exactly the contacts whose webhooks GHL never sent,
//! a second run finds nothing and costs CallTools nothing, and a webhook newer than a scan's
//! snapshot wins over the scan's job.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use leadsync::aws::dynamo::backfill::DynamoCheckpoints;
use leadsync::aws::sqs::SqsQueue;
use leadsync::backfill::memory::MemoryCheckpoints;
use leadsync::backfill::{Backfill, BackfillSettings, Checkpoints, Ending, Request, Status};
use leadsync::consumer::{Outcome, SkipReason};
use leadsync::memory::MemoryQueue;
use leadsync::ports::queue::JobQueue;
use leadsync_cli::commands::backfill::render_runs;
use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_repairs_exactly_the_missed_webhooks_and_then_finds_nothing() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN 4 tagged contacts whose webhooks GHL "forgot", and 6 that arrived
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    let mut missed = Vec::new();
    for i in 0..4 {
        missed.push(
            t.create_tagged_contact(
                &format!("Missed{i}"),
                &format!("+1415201000{i}"),
                "cold lead",
            )
            .await?,
        );
    }
    t.set_delivery(json!({})).await?;
    for i in 0..6 {
        t.create_tagged_contact(
            &format!("Heard{i}"),
            &format!("+1415202000{i}"),
            "cold lead",
        )
        .await?;
        in_bucket(&t, &format!("+1415202000{i}"), COLD_LEADS).await?;
    }
    settled(&t, Duration::from_secs(30)).await?;
    for id in &missed {
        assert!(t.contact_state(id).await?.is_none(), "never heard of {id}");
    }

    // WHEN the backfill runs, invoked as `leadsync backfill run` invokes it (the Lambda Invoke
    // API, here the local stack's) THEN it enqueues exactly the missed four, and they get synced
    let backfill = t.backfill_function()?;
    let Ending::Finished(run) = backfill.run_to_end(&Request::default(), |_| {}).await? else {
        anyhow::bail!("the run did not finish");
    };
    assert_eq!(run.status, Status::Done);
    assert_eq!(
        (run.seen, run.enqueued, run.unchanged),
        (10, 4, 6),
        "{run:?}"
    );
    for i in 0..4 {
        in_bucket(&t, &format!("+1415201000{i}"), COLD_LEADS).await?;
    }
    settled(&t, Duration::from_secs(30)).await?;

    // AND a second run enqueues nothing and costs CallTools nothing
    let calls_before = t.calltools_calls().await?.len();
    let Ending::Finished(again) = backfill.run_to_end(&Request::default(), |_| {}).await? else {
        anyhow::bail!("the second run did not finish");
    };
    assert_eq!(
        (again.enqueued, again.unchanged),
        (0, again.seen),
        "{again:?}"
    );
    drained(&t, Duration::from_secs(30)).await?;
    assert_eq!(t.calltools_calls().await?.len(), calls_before);

    // AND `backfill status` lists both runs, newest first, with what each found
    let checkpoints = DynamoCheckpoints::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let history = checkpoints.history("ghl", SANDBOX_LOCATION_ID, 10).await?;
    assert_eq!(history, vec![again, run]);
    let table = render_runs(None, &history);
    assert_eq!(
        table.lines().filter(|l| l.contains(" done ")).count(),
        2,
        "{table}"
    );
    assert!(
        table.contains("read changes since"),
        "the second run was incremental: {table}"
    );

    // AND a request the function cannot honour is its error, as Lambda reports one
    let bad = backfill
        .invoke(&Request {
            source: Some("hubspot".into()),
            ..Request::default()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("Unhandled") && bad.contains("unknown source"),
        "{bad}"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_newer_than_the_backfill_snapshot_wins() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN a tagged contact whose webhook GHL lost, and a backfill scan that saw it as it was
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    let id = t
        .create_tagged_contact("Before", "+14152040001", "cold lead")
        .await?;
    t.set_delivery(json!({})).await?;
    let cfg = &t.stack.config;
    let snapshot = Arc::new(MemoryQueue::default());
    let scan = Backfill::new(
        vec![Arc::new(t.ghl_scan(cfg.rules.clone()))],
        snapshot.clone(),
        Arc::new(MemoryCheckpoints::default()),
        BackfillSettings::default(),
    );
    let Ending::Finished(run) = scan
        .handle(
            &Request::default(),
            leadsync::domain::clock::now_ms() + 60_000,
        )
        .await?
    else {
        anyhow::bail!("the scan did not finish");
    };
    assert_eq!(run.enqueued, 1);

    // WHEN the contact changes, its webhook is applied, and only then the scan's job arrives
    tokio::time::sleep(Duration::from_millis(5)).await; // a later dateUpdated
    t.update_ghl_contact(&id, json!({"firstName": "After"}))
        .await?;
    let applied = in_bucket(&t, "+14152040001", COLD_LEADS).await?;
    assert_eq!(applied["first_name"], "After");
    let writes = t.calltools_writes().await?.len();
    let job = snapshot.jobs().remove(0);
    SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    )
    .enqueue(&job)
    .await?;

    // THEN the older snapshot is skipped as stale and CallTools keeps the newer data
    assert_eq!(
        t.final_outcome(job.id()).await?,
        Outcome::Skipped(SkipReason::Stale)
    );
    drained(&t, Duration::from_secs(30)).await?;
    assert_eq!(t.calltools_writes().await?.len(), writes);
    let now = t.calltools_with_phone("+14152040001").await?;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["first_name"], "After");
    t.stop().await;
    Ok(())
}
