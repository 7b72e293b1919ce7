//! The batch calls the backfill makes against moto: `SendMessageBatch` in tens and
//! `BatchGetItem` in hundreds, with nothing lost at the chunk edges.

use std::time::{Duration, Instant};

use anyhow::Result;
use leadsync::aws::dynamo::DynamoStore;
use leadsync::aws::sqs::SqsQueue;
use leadsync::domain::contact::ContactKey;
use leadsync::domain::job::SyncJob;
use leadsync::ports::queue::JobQueue;
use leadsync::ports::store::{ContactState, Lease, StateStore, WebhookLedger};
use leadsync::sources::ghl::job::{GhlContactJob, GhlTrigger};
use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_tests::*;

fn job(i: usize) -> SyncJob {
    SyncJob::new(GhlContactJob {
        job_id: format!("bf:batch-{i}"),
        location_id: SANDBOX_LOCATION_ID.into(),
        contact_id: format!("batch-{i}"),
        trigger: GhlTrigger::Backfill,
        version_ms: Some(1),
        received_at_ms: 1,
        arrival: None,
        payload: String::new(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_jobs_go_out_in_three_batches_and_all_arrive() -> Result<()> {
    // The consumer is not started on this queue: a stack whose queue only collects.
    let t = stack().without_consumer().start().await?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    );
    let jobs: Vec<SyncJob> = (0..25).map(job).collect();
    queue.enqueue_batch(&jobs).await?;
    assert_eq!(t.queue_depth(&t.stack.resources.queue_url).await?, 25);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_of_many_contacts_come_back_in_one_map() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let keys: Vec<ContactKey> = (0..230)
        .map(|i| ContactKey::ghl(SANDBOX_LOCATION_ID, format!("batch-{i}")))
        .collect();
    // Every third contact has a saved state.
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let Lease::Held(_) = store.lease_contact(key, "test", i64::MAX).await? else {
            anyhow::bail!("lease not granted");
        };
        let state = ContactState {
            source_hash: Some(format!("h{i}")),
            ..ContactState::default()
        };
        store.save_contact(key, "test", &state).await?;
    }
    let found = store.contact_states(&keys).await?;
    assert_eq!(found.len(), 77);
    assert_eq!(
        found[&keys[228].storage_id()].source_hash.as_deref(),
        Some("h228")
    );
    assert!(!found.contains_key(&keys[229].storage_id()));
    // What a backfill page compares, read with a projection: the hash alone.
    let hashes = store.source_hashes(&keys).await?;
    assert_eq!(hashes.len(), 77);
    assert_eq!(hashes[&keys[228].storage_id()], "h228");
    assert!(!hashes.contains_key(&keys[229].storage_id()));
    t.stop().await;
    Ok(())
}

/// Ingress's count of a contact's webhooks lives on the state item the consumer saves: the lease
/// reads it back, and no save (which names every state attribute) takes it away or resets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_count_survives_every_state_save_and_the_lease_reads_it() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let key = ContactKey::ghl(SANDBOX_LOCATION_ID, "counted");
    assert_eq!(
        store.arrived(&key).await?,
        1,
        "a contact never seen starts at one"
    );
    assert_eq!(store.arrived(&key).await?, 2);
    let Lease::Held(leased) = store.lease_contact(&key, "job-1", i64::MAX).await? else {
        anyhow::bail!("lease not granted");
    };
    assert_eq!(leased.arrived_seq, Some(2));
    // Counted while the job holds the lease: its save must not carry the old count back.
    assert_eq!(store.arrived(&key).await?, 3);
    let read = ContactState {
        read_seq: leased.arrived_seq,
        source_hash: Some("h".into()),
        ..leased
    };
    store.save_contact(&key, "job-1", &read).await?;
    let saved = store.contact_state(&key).await?.expect("saved");
    assert_eq!((saved.arrived_seq, saved.read_seq), (Some(3), Some(2)));
    assert_eq!(store.arrived(&key).await?, 4);
    t.stop().await;
    Ok(())
}

/// The local event source mapping keeps the template's `MaximumBatchingWindowInSeconds`: a lone
/// job reaches the consumer only once the window has passed, as in AWS, where it is what puts
/// the two webhooks of one GHL change into one batch and one read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_job_reaches_the_consumer_after_the_batching_window() -> Result<()> {
    let t = stack().start().await?;
    let window = Duration::from_secs(t.stack.resources.batching_window_secs);
    assert!(!window.is_zero(), "template.yaml sets a batching window");
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    );
    let lone = job(900);
    let sent = Instant::now();
    queue.enqueue_batch(std::slice::from_ref(&lone)).await?;
    let job_id = lone.id().to_string();
    eventually(Duration::from_secs(30), "the lone job's result", || async {
        Ok(t.stack
            .results()
            .iter()
            .any(|r| r.job_id.as_deref() == Some(job_id.as_str()))
            .then_some(()))
    })
    .await?;
    let waited = sent.elapsed();
    assert!(
        waited >= window,
        "the consumer had the job after {waited:?}, inside the {window:?} window"
    );
    t.stop().await;
    Ok(())
}
