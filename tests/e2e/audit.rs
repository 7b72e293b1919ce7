//! `leadsync audit`: contacts leadsync placed and then deleted in CallTools, or taken out of
//! their bucket there, are found and put back through the pipeline; a contact leadsync itself
//! took out (it lost its tag) is neither found nor put back, even once deleted in CallTools.
//! Where the account honours the contact listing's bucket filter the audit lists the bucket
//! instead of reading each contact back; where it only claims to, the audit notices.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::app::config::BucketFilter;
use leadsync::aws::dynamo::DynamoStore;
use leadsync::aws::sqs::SqsQueue;
use leadsync::ports::queue::JobQueue;
use leadsync::sinks::calltools::client::CallToolsApi;
use leadsync_cli::commands::audit::{audit, render, repair_jobs};
use leadsync_tests::*;
use serde_json::{Map, json};

const COLD_LEADS: i64 = 11237;

async fn calltools_id(t: &TestStack, phone: &str) -> Result<i64> {
    let found = t.calltools_with_phone(phone).await?;
    found
        .first()
        .and_then(|c| c["id"].as_i64())
        .with_context(|| format!("a CallTools contact with {phone}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_deleted_or_unbucketed_in_calltools_is_found_and_one_that_lost_its_tag_is_not()
-> Result<()> {
    let t = stack().start().await?;
    let (deleted, unbucketed, untagged) = ("+14152110001", "+14152110002", "+14152110003");
    // GIVEN three leads synced into the bucket, and one that then lost its tag in GHL
    t.create_tagged_contact("Del", deleted, "cold lead").await?;
    t.create_tagged_contact("Unb", unbucketed, "cold lead")
        .await?;
    let ghl_untagged = t
        .create_tagged_contact("Unt", untagged, "cold lead")
        .await?;
    settled(&t, Duration::from_secs(30)).await?;
    t.untag(&ghl_untagged, "cold lead").await?;
    settled(&t, Duration::from_secs(30)).await?;
    assert_eq!(
        t.calltools_with_phone(untagged).await?[0]["buckets"],
        json!([]),
        "leadsync took it out"
    );
    // WHEN someone deletes one in CallTools and takes another out of the bucket there
    let client = t.calltools_client()?;
    let deleted_id = calltools_id(&t, deleted).await?;
    assert!(client.delete_contact(deleted_id).await?);
    let unbucketed_id = calltools_id(&t, unbucketed).await?;
    let mut out = Map::new();
    out.insert("remove_contacts".into(), json!([unbucketed_id]));
    client.patch_bucket(COLD_LEADS, &out).await?;
    // THEN the audit finds those two, and not the one leadsync itself took out
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let report = audit(&store, &client, BucketFilter::Ignored, None).await?;
    let text = render(&report);
    assert_eq!(report.checked, 3, "{text}");
    assert_eq!(report.errors, 0, "{text}");
    let found: Vec<(i64, &str, Vec<i64>)> = report
        .drifted
        .iter()
        .map(|d| (d.calltools_id, d.kind, d.buckets.clone()))
        .collect();
    let mut want = vec![
        (deleted_id, "deleted", vec![]),
        (unbucketed_id, "out_of_bucket", vec![COLD_LEADS]),
    ];
    want.sort();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    assert_eq!(found_sorted, want, "{text}");
    assert!(
        text.contains("2 drifted (1 deleted, 1 out of a bucket)"),
        "{text}"
    );
    // A sample stops early.
    assert_eq!(
        audit(&store, &client, BucketFilter::Ignored, Some(1))
            .await?
            .checked,
        1
    );

    // WHEN the untagged one is deleted in CallTools too, and the drift is put back
    let untagged_id = calltools_id(&t, untagged).await?;
    assert!(client.delete_contact(untagged_id).await?);
    let mut report = audit(&store, &client, BucketFilter::Ignored, None).await?;
    assert_eq!(report.drifted.len(), 3, "{}", render(&report));
    let jobs = repair_jobs(&mut report, leadsync::domain::clock::now_ms());
    assert_eq!(jobs.len(), 3);
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    );
    queue.enqueue_batch(&jobs).await?;
    for job in &jobs {
        t.final_outcome(job.id()).await?;
    }
    // THEN the two are dialable from the bucket again, and the untagged one stays gone
    in_bucket(&t, deleted, COLD_LEADS).await?;
    in_bucket(&t, unbucketed, COLD_LEADS).await?;
    assert!(
        t.calltools_with_phone(untagged).await?.is_empty(),
        "the audit does not fight GHL: the untagged lead is not re-created"
    );
    let after = audit(&store, &client, BucketFilter::Ignored, None).await?;
    assert!(after.drifted.is_empty(), "{}", render(&after));
    t.stop().await;
    Ok(())
}

/// One audit run of the backfill function, as its schedule starts it (`{"source":"calltools"}`).
async fn audit_run(t: &TestStack) -> Result<leadsync::backfill::Run> {
    let request = leadsync::backfill::Request {
        source: Some("calltools".into()),
        ..Default::default()
    };
    match t.backfill_function()?.invoke(&request).await? {
        leadsync::backfill::Ending::Finished(run) => Ok(run),
        other => anyhow::bail!("the audit run did not finish: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_audit_puts_a_deleted_contact_back_and_in_report_mode_only_counts()
-> Result<()> {
    for (mode, repairs) in [("repair", true), ("report", false)] {
        let t = stack().setting("LEADSYNC_AUDIT", mode).start().await?;
        let phone = "+14152110011";
        t.create_tagged_contact("Aud", phone, "cold lead").await?;
        settled(&t, Duration::from_secs(30)).await?;
        let client = t.calltools_client()?;
        // An audit of an account as leadsync left it finds nothing.
        let calm = audit_run(&t).await?;
        assert_eq!((calm.seen, calm.enqueued), (1, 0), "{mode}: {calm:?}");
        // GIVEN the contact is deleted in CallTools
        assert!(
            client
                .delete_contact(calltools_id(&t, phone).await?)
                .await?
        );
        // WHEN the scheduled audit runs
        let run = audit_run(&t).await?;
        assert_eq!(run.source, "calltools");
        assert_eq!(run.seen, 1, "{mode}: {run:?}");
        if repairs {
            // THEN its job puts the contact back in the bucket
            assert_eq!(run.enqueued, 1, "{run:?}");
            settled(&t, Duration::from_secs(30)).await?;
            in_bucket(&t, phone, COLD_LEADS).await?;
        } else {
            // THEN it is only counted: nothing is sent, nothing written
            assert_eq!(run.enqueued, 0, "{run:?}");
            settled(&t, Duration::from_secs(30)).await?;
            assert!(t.calltools_with_phone(phone).await?.is_empty(), "{mode}");
        }
        t.stack.metrics.settled().await;
        let drift: f64 = t
            .stats_target()
            .metrics
            .read(
                leadsync::domain::clock::now_ms() - 600_000,
                leadsync::domain::clock::now_ms() + 60_000,
            )
            .await?
            .iter()
            .filter(|r| r.name == "sink_drift" && r.dim("sink") == "calltools")
            .filter_map(|r| r.total())
            .sum();
        assert_eq!(
            drift, 1.0,
            "{mode}: sink_drift counts the deleted contact once"
        );
        t.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_over_placed_contacts_reads_each_once_across_pages() -> Result<()> {
    use leadsync::domain::contact::ContactKey;
    use leadsync::domain::sink::SinkId;
    use leadsync::ports::store::{ContactState, SinkState, StateScan};
    let t = stack().without_consumer().start().await?;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    // GIVEN 120 placed contacts and 5 never placed
    let states: Vec<(ContactKey, ContactState)> = (0..125)
        .map(|i| {
            let placed = SinkState {
                id: Some(50_000 + i),
                buckets: [COLD_LEADS].into(),
                ..SinkState::default()
            };
            let state = if i < 120 {
                ContactState::default().with_sink(SinkId::CallTools, placed)
            } else {
                ContactState::default()
            };
            (ContactKey::ghl("loc", format!("c{i:03}")), state)
        })
        .collect();
    store.import_states(&states).await?;
    // WHEN they are walked 50 stored items a page
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = store.states_page(cursor.as_ref(), 50).await?;
        pages += 1;
        seen.extend(
            page.states
                .into_iter()
                .map(|(k, s)| (k.id, s.sink(SinkId::CallTools).id)),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "the walk goes forward");
    }
    // THEN each placed one is read once, with its id, and the others not at all
    seen.sort();
    let want: Vec<(String, Option<i64>)> = (0..120)
        .map(|i| (format!("c{i:03}"), Some(50_000 + i)))
        .collect();
    assert_eq!(seen, want);
    assert!(pages >= 3, "{pages} pages");
    t.stop().await;
    Ok(())
}

/// The CallTools calls made since `from` (an index into the sandbox's call log): listing pages
/// filtered by bucket (`GET /api/contacts/?buckets=…`), and the ids of contacts read back
/// (`GET /api/contacts/{id}/`).
async fn calltools_calls(t: &TestStack, from: usize) -> Result<(usize, Vec<i64>)> {
    let calls = t.sandbox_client().calls("calltools").await?;
    let (mut listings, mut reads) = (0, Vec::new());
    for c in calls.iter().skip(from).filter(|c| c["method"] == "GET") {
        let path = c["path"].as_str().unwrap_or_default();
        match path.strip_prefix("/api/contacts/") {
            Some("") if c["query"].as_str().is_some_and(|q| q.contains("buckets=")) => {
                listings += 1
            }
            Some(id) if !id.is_empty() => {
                reads.push(id.trim_end_matches('/').parse()?);
            }
            _ => {}
        }
    }
    reads.sort();
    Ok((listings, reads))
}

async fn log_len(t: &TestStack) -> Result<usize> {
    Ok(t.sandbox_client().calls("calltools").await?.len())
}

/// `n` leads synced into the cold bucket; their phones.
async fn synced(t: &TestStack, n: usize) -> Result<Vec<String>> {
    let phones: Vec<String> = (0..n).map(|i| format!("+1415211{:04}", 100 + i)).collect();
    for (i, phone) in phones.iter().enumerate() {
        t.create_tagged_contact(&format!("Lead{i}"), phone, "cold lead")
            .await?;
    }
    settled(t, Duration::from_secs(60)).await?;
    Ok(phones)
}

/// Someone deletes the first lead in CallTools and takes the second out of the bucket; their
/// CallTools ids, sorted.
async fn drift_two(t: &TestStack, phones: &[String]) -> Result<Vec<i64>> {
    let client = t.calltools_client()?;
    let (deleted, unbucketed) = (
        calltools_id(t, &phones[0]).await?,
        calltools_id(t, &phones[1]).await?,
    );
    assert!(client.delete_contact(deleted).await?);
    let mut out = Map::new();
    out.insert("remove_contacts".into(), json!([unbucketed]));
    client.patch_bucket(COLD_LEADS, &out).await?;
    let mut ids = vec![deleted, unbucketed];
    ids.sort();
    Ok(ids)
}

/// `leadsync audit`'s drift, by CallTools id.
fn drifted_ids(report: &leadsync_cli::commands::audit::AuditReport) -> Vec<i64> {
    let mut ids: Vec<i64> = report.drifted.iter().map(|d| d.calltools_id).collect();
    ids.sort();
    ids
}

/// Sends the report's repair jobs and waits for each to be applied.
async fn repair(
    t: &TestStack,
    report: &mut leadsync_cli::commands::audit::AuditReport,
) -> Result<()> {
    let jobs = repair_jobs(report, leadsync::domain::clock::now_ms());
    SqsQueue::new(
        aws_sdk_sqs::Client::new(&t.stack.aws),
        &t.stack.resources.queue_url,
        None,
    )
    .enqueue_batch(&jobs)
    .await?;
    for job in &jobs {
        t.final_outcome(job.id()).await?;
    }
    Ok(())
}

fn state_store(t: &TestStack) -> DynamoStore {
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bucket_filter_honoured_the_audit_lists_the_bucket_and_reads_back_only_the_drift()
-> Result<()> {
    // GIVEN an account that honours ?buckets= and leadsync configured to use it (the scheduled
    // run only reports, so no repair's calls mix into what it costs)
    let t = stack()
        .setting("CALLTOOLS_BUCKET_FILTER", "honoured")
        .setting("LEADSYNC_AUDIT", "report")
        .start()
        .await?;
    t.set_calltools_modes(json!({"contact_bucket_filter": "honoured"}))
        .await?;
    // AND 10 leads in the bucket, one then deleted in CallTools and one taken out of it
    let phones = synced(&t, 10).await?;
    let drifted = drift_two(&t, &phones).await?;
    // WHEN the scheduled audit runs
    let from = log_len(&t).await?;
    let run = audit_run(&t).await?;
    // THEN it compared all 10 with one listing call and read back only the two drifted
    assert_eq!(run.seen, 10, "{run:?}");
    assert!(run.warnings.is_empty(), "{run:?}");
    assert_eq!(calltools_calls(&t, from).await?, (1, drifted.clone()));
    // WHEN `leadsync audit` runs the same way
    let (store, client) = (state_store(&t), t.calltools_client()?);
    let from = log_len(&t).await?;
    let mut listed = audit(&store, &client, BucketFilter::Honoured, None).await?;
    // THEN it finds the two at the same cost, and puts them back in the bucket
    let text = render(&listed);
    assert_eq!(drifted_ids(&listed), drifted, "{text}");
    assert_eq!(
        (listed.checked, listed.listing_calls, listed.reads),
        (10, 1, 2),
        "{text}"
    );
    assert_eq!(calltools_calls(&t, from).await?, (1, drifted.clone()));
    repair(&t, &mut listed).await?;
    in_bucket(&t, &phones[0], COLD_LEADS).await?;
    in_bucket(&t, &phones[1], COLD_LEADS).await?;
    // AND afterwards one listing call vouches for all 10, where reading each back costs 10
    let after = audit(&store, &client, BucketFilter::Honoured, None).await?;
    let text = render(&after);
    assert_eq!(
        (after.listing_calls, after.reads, after.drifted.len()),
        (1, 0, 0),
        "{text}"
    );
    let read = audit(&store, &client, BucketFilter::Ignored, None).await?;
    let text = render(&read);
    assert_eq!(
        (read.listing_calls, read.reads, read.drifted.len()),
        (0, 10, 0),
        "{text}"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_filter_configured_honoured_but_ignored_by_the_account_falls_back_to_reads()
-> Result<()> {
    // GIVEN leadsync configured to list by bucket, on an account that ignores the filter (the
    // sandbox's default: the listing answers every contact)
    let t = stack()
        .setting("CALLTOOLS_BUCKET_FILTER", "honoured")
        .setting("LEADSYNC_AUDIT", "report")
        .start()
        .await?;
    // AND a contact someone keeps in CallTools outside any bucket, beside 4 synced leads of
    // which one is deleted and one taken out of the bucket
    let client = t.calltools_client()?;
    let mut other = Map::new();
    other.insert("first_name".into(), json!("Other"));
    other.insert("mobile_phone_number".into(), json!("+14152119999"));
    client.create_contact(&other).await?;
    let phones = synced(&t, 4).await?;
    let drifted = drift_two(&t, &phones).await?;
    let placed: Vec<i64> = {
        let mut ids = drifted.clone();
        for phone in &phones[2..] {
            ids.push(calltools_id(&t, phone).await?);
        }
        ids.sort();
        ids
    };
    // WHEN the scheduled audit runs
    let from = log_len(&t).await?;
    let run = audit_run(&t).await?;
    // THEN one listing page shows contacts outside the bucket: it reads every placed contact
    // back instead (a listing trusted blindly would have vouched for the unbucketed one), and
    // says why
    assert_eq!(run.seen, 4, "{run:?}");
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("ignored the contact listing's bucket filter")),
        "{run:?}"
    );
    assert_eq!(calltools_calls(&t, from).await?, (1, placed));
    // WHEN `leadsync audit` runs the same way
    let store = state_store(&t);
    let mut report = audit(&store, &client, BucketFilter::Honoured, None).await?;
    // THEN it finds exactly the two drifted and says it fell back
    let text = render(&report);
    assert_eq!(drifted_ids(&report), drifted, "{text}");
    assert_eq!((report.listing_calls, report.reads), (1, 4), "{text}");
    assert!(
        text.contains("ignored the contact listing's bucket filter"),
        "{text}"
    );
    // AND once they are put back, nothing that is fine is touched again
    repair(&t, &mut report).await?;
    in_bucket(&t, &phones[0], COLD_LEADS).await?;
    in_bucket(&t, &phones[1], COLD_LEADS).await?;
    let after = audit(&store, &client, BucketFilter::Honoured, None).await?;
    assert!(after.drifted.is_empty(), "{}", render(&after));
    t.stop().await;
    Ok(())
}
