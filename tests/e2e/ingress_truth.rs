//! Ingress and job ids tell the truth: a change that repeats an earlier one is applied, a
//! delivery ingress could not queue is queued when GHL retries it, and a rules change is applied
//! by the backfill instead of being dropped as a job already done.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::sqs::SqsQueue;
use leadsync::backfill::memory::MemoryCheckpoints;
use leadsync::backfill::{Backfill, BackfillSettings, Ending, Request};
use leadsync::consumer::{Outcome, SkipReason};
use leadsync::domain::rules::{OnTagRemoved, Rules};
use leadsync::memory::MemoryQueue;
use leadsync::ports::queue::JobQueue;
use leadsync_local::SANDBOX_WORKFLOW_SECRET;
use leadsync_tests::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

/// The contact with this phone, once it is out of the bucket.
async fn out_of_bucket(t: &TestStack, phone: &str, bucket: i64) -> Result<()> {
    eventually(LIMIT, "the contact out of its bucket", || async {
        Ok(t.calltools_with_phone(phone).await?.into_iter().find(|c| {
            c["buckets"]
                .as_array()
                .is_some_and(|b| b.iter().all(|x| x.as_i64() != Some(bucket)))
        }))
    })
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_added_removed_and_added_again_through_the_workflow_ends_in_the_bucket() -> Result<()>
{
    let t = stack().start().await?;
    let phone = "+14152090001";
    // GIVEN a contact tagged (the workflow fired), then untagged
    let id = t.create_tagged_contact("Wanda", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    t.untag(&id, "cold lead").await?;
    out_of_bucket(&t, phone, COLD_LEADS).await?;
    webhooks_delivered(&t, LIMIT).await?;

    // WHEN the tag is added again and only the workflow's webhook reaches leadsync (the
    // Marketplace one is lost): GHL sends the very bytes of the first workflow webhook
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    t.tag(&id, "cold lead").await?;
    webhooks_delivered(&t, LIMIT).await?;
    t.set_delivery(json!({})).await?;
    let workflow_bodies: Vec<String> = t
        .deliveries()
        .await?
        .into_iter()
        .filter(|d| d["kind"] == "Workflow")
        .filter_map(|d| d["body"].as_str().map(str::to_owned))
        .collect();
    let [first, again] = workflow_bodies.as_slice() else {
        anyhow::bail!("two workflow webhooks expected: {workflow_bodies:?}");
    };
    assert_eq!(first, again, "the workflow sends the same bytes both times");
    let (status, answer) = t
        .post(
            &t.stack.workflow_url(),
            &[("authorization", format!("Bearer {SANDBOX_WORKFLOW_SECRET}"))],
            again.as_bytes(),
        )
        .await?;
    assert_eq!(status, 202, "{answer}");

    // THEN the contact is back in the bucket
    in_bucket(&t, phone, COLD_LEADS).await?;
    t.stop().await;
    Ok(())
}

/// The Marketplace deliveries of one kind, in the order GHL made them.
async fn deliveries_of(t: &TestStack, kind: &str) -> Result<Vec<Value>> {
    Ok(t.deliveries()
        .await?
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_ingress_could_not_queue_is_queued_and_synced_when_ghl_retries_it() -> Result<()>
{
    // Marketplace webhooks only: the workflow's twin would race it to the cut link.
    let t = stack()
        .setting("GHL_WORKFLOW_SECRET", "not-the-sandbox-secret")
        .start()
        .await?;
    let phone = "+14152090002";
    // GIVEN ingress loses its link to AWS as it sends a job to the queue: the webhook id was
    // recorded, the enqueue fails, and nothing can be written after the failure
    t.stack.ingress_link.cut_at("AmazonSQS.SendMessage");
    t.create_tagged_contact("Quinn", phone, "cold lead").await?;
    // WHEN GHL's first delivery is answered 429
    let refused = eventually(LIMIT, "a delivery answered 429", || async {
        Ok(deliveries_of(&t, "ContactCreate")
            .await?
            .into_iter()
            .find(|d| d["status"] == 429))
    })
    .await?;
    let webhook_id = refused["webhookId"]
        .as_str()
        .context("a webhookId")?
        .to_owned();
    // AND the link is back before GHL retries
    t.stack.ingress_link.restore();

    // THEN GHL's retry of the same webhookId is queued (202), not answered as a duplicate
    let retried = eventually(LIMIT, "the retry answered", || async {
        Ok(deliveries_of(&t, "ContactCreate")
            .await?
            .into_iter()
            .find(|d| d["webhookId"] == webhook_id.as_str() && d["status"] != 429))
    })
    .await?;
    assert_eq!(retried["status"], 202, "{retried}");
    assert!(retried["attempt"].as_u64() > Some(1), "{retried}");
    // AND the contact is synced
    in_bucket(&t, phone, COLD_LEADS).await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_change_makes_the_backfill_apply_a_contact_it_applied_before() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN a tagged contact whose webhooks GHL lost, applied by a backfill run
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    t.create_tagged_contact("Rory", "+14152090003", "cold lead")
        .await?;
    webhooks_delivered(&t, LIMIT).await?;
    t.set_delivery(json!({})).await?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    );
    let scan = |rules: Rules| {
        let found = Arc::new(MemoryQueue::default());
        let backfill = Backfill::new(
            vec![Arc::new(t.ghl_scan(rules))],
            found.clone(),
            Arc::new(MemoryCheckpoints::default()),
            BackfillSettings::default(),
        );
        async move {
            let Ending::Finished(run) = backfill
                .handle(
                    &Request::default(),
                    leadsync::domain::clock::now_ms() + 60_000,
                )
                .await?
            else {
                anyhow::bail!("the scan did not finish");
            };
            assert_eq!(run.enqueued, 1, "{run:?}");
            Ok(found.jobs().remove(0))
        }
    };
    let before = scan(t.stack.config.rules.clone()).await?;
    queue.enqueue(&before).await?;
    assert!(matches!(
        t.final_outcome(before.id()).await?,
        Outcome::Synced { .. }
    ));

    // WHEN the rules change (a second rule) and the backfill finds the contact again, unchanged
    // in GHL: its source hash no longer matches
    let changed = Rules::from_json(
        r#"[{"tag":"cold lead","bucket_id":11237},{"tag":"hot","bucket_id":7}]"#,
        OnTagRemoved::RemoveFromBucket,
    )
    .map_err(anyhow::Error::msg)?;
    let after = scan(changed).await?;
    let finals_before = final_results(&t, after.id()).len();
    queue.enqueue(&after).await?;

    // THEN the consumer works on the job instead of dropping it as one already done
    let outcomes = eventually(LIMIT, "the backfill's second job answered", || async {
        let finals = final_results(&t, after.id());
        Ok((finals.len() > finals_before).then_some(finals))
    })
    .await?;
    assert_ne!(
        outcomes.last(),
        Some(&Outcome::Skipped(SkipReason::DuplicateJob)),
        "{outcomes:?}"
    );
    t.stop().await;
    Ok(())
}

/// The consumer's final outcomes for a job id, in the order it reached them.
fn final_results(t: &TestStack, job_id: &str) -> Vec<Outcome> {
    t.stack
        .results()
        .into_iter()
        .filter(|r| r.job_id.as_deref() == Some(job_id))
        .map(|r| r.outcome)
        .filter(|o| !matches!(o, Outcome::Retry { .. } | Outcome::Defer { .. }))
        .collect()
}
