//! The batch calls the backfill makes against moto: `SendMessageBatch` in tens and
//! `BatchGetItem` in hundreds, with nothing lost at the chunk edges.

use anyhow::Result;
use leadsync::aws::dynamo::DynamoStore;
use leadsync::aws::sqs::SqsQueue;
use leadsync::domain::contact::ContactKey;
use leadsync::domain::job::SyncJob;
use leadsync::ports::queue::JobQueue;
use leadsync::ports::store::{ContactState, Lease, StateStore};
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
    t.stop().await;
    Ok(())
}
