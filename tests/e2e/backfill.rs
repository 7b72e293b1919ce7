//! The backfill on the local stack: it finds exactly the contacts whose webhooks GHL never sent,
//! and a second run finds nothing and costs CallTools nothing.

use std::time::Duration;

use anyhow::Result;
use leadsync::backfill::{Ending, Request, Status};
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
    drained(&t, Duration::from_secs(30)).await?;
    for id in &missed {
        assert!(t.contact_state(id).await?.is_none(), "never heard of {id}");
    }

    // WHEN the backfill runs THEN it enqueues exactly the missed four, and they get synced
    let backfill = leadsync::app::build_backfill(&t.stack.config, &t.stack.aws)?;
    let deadline = leadsync::clock::now_ms() + 120_000;
    let Ending::Finished(run) = backfill.handle(&Request::default(), deadline).await? else {
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
    drained(&t, Duration::from_secs(30)).await?;

    // AND a second run enqueues nothing and costs CallTools nothing
    let calls_before = t.calltools_calls().await?.len();
    let Ending::Finished(again) = backfill.handle(&Request::default(), deadline).await? else {
        anyhow::bail!("the second run did not finish");
    };
    assert_eq!(
        (again.enqueued, again.unchanged),
        (0, again.seen),
        "{again:?}"
    );
    drained(&t, Duration::from_secs(30)).await?;
    assert_eq!(t.calltools_calls().await?.len(), calls_before);
    t.stop().await;
    Ok(())
}
