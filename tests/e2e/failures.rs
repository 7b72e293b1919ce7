//! CallTools failing: transient failures retry until they succeed; permanent ones are parked
//! in the dead-letter queue at once, with their reason.

use std::time::Duration;

use anyhow::Result;
use leadsync::consumer::{Outcome, RecordResult};
use leadsync::domain::sink::SinkId;
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calltools_503_then_200_is_synced_on_retry() -> Result<()> {
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .start()
        .await?;
    // The first two CallTools answers are outages with an HTML page.
    t.set_faults(json!({"script": [{"status": 503}, {"status": 503}]}))
        .await?;
    let id = t
        .create_tagged_contact("Katherine", "+14155550137", "cold lead")
        .await?;
    in_bucket(&t, "+14155550137", COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    let results: Vec<_> = t.stack.results().into_iter().map(|r| r.outcome).collect();
    assert!(
        results.iter().any(|o| matches!(o, Outcome::Retry { .. })),
        "{results:?}"
    );
    assert!(
        results.iter().any(|o| matches!(o, Outcome::Synced { .. })),
        "{results:?}"
    );
    assert_eq!(t.calltools_with_phone("+14155550137").await?.len(), 1);
    assert!(t.dead_letters().await?.is_empty());
    assert!(
        t.contact_state(&id)
            .await?
            .and_then(|s| s.sink(SinkId::CallTools).id)
            .is_some()
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calltools_400_is_parked_in_the_dlq_with_its_reason_and_not_retried() -> Result<()> {
    let t = stack().start().await?;
    // CallTools refuses this (dialable-looking) number, as it does for carrier-rejected phones.
    parked_contact(&t, "Dorothy", "+14155550138").await?;
    // GHL sent two webhooks for the change (Marketplace + workflow): two jobs, each parked.
    let parked = t.dead_letters().await?;
    assert!(!parked.is_empty() && parked.len() <= 2, "{parked:?}");
    for message in &parked {
        let attrs = message.message_attributes.clone().unwrap_or_default();
        let attr = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.string_value.clone())
                .unwrap_or_default()
        };
        assert_eq!(attr("http_status"), "400");
        assert!(attr("reason").contains("CallTools"), "{}", attr("reason"));
        assert!(
            attr("response_excerpt").contains("mobile_phone_number"),
            "{}",
            attr("response_excerpt")
        );
        assert!(attr("job_id").starts_with("ghl"), "{}", attr("job_id"));
    }
    let posts = t
        .calltools_calls()
        .await?
        .into_iter()
        .filter(|c| c["method"] == "POST")
        .count();
    assert_eq!(
        posts,
        parked.len(),
        "each parked job tried CallTools once: a 400 is not retried"
    );
    assert!(t.calltools_with_phone("+14155550138").await?.is_empty());
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_not_duplicated_on_retry() -> Result<()> {
    // An account that allows duplicates: one that merges by phone would fold a second create
    // into the first contact whatever leadsync did.
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .setting("CALLTOOLS_TIMEOUT_MS", "2000")
        .start()
        .await?;
    // After the bucket lookup and the lookup by phone (nobody yet), the create succeeds in
    // CallTools but its answer comes after the client's 2 s timeout, so leadsync does not know
    // the contact exists.
    t.set_faults(json!({"script": [{"hang_ms": 1}, {"hang_ms": 1}, {"hang_ms": 4000}]}))
        .await?;
    t.create_tagged_contact("Hedy", "+14155550139", "cold lead")
        .await?;
    in_bucket(&t, "+14155550139", COLD_LEADS).await?;
    settled(&t, Duration::from_secs(40)).await?;
    let creates = t.calltools_creates_for("+14155550139").await?;
    assert_eq!(creates.len(), 1, "one create: {creates:#?}");
    assert!(
        creates[0]["fault"] == "script" && creates[0]["ms"].as_u64().is_none_or(|ms| ms >= 2000),
        "the create was the one whose answer came too late: {creates:#?}"
    );
    assert_eq!(t.calltools_with_phone("+14155550139").await?.len(), 1);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_succeeds_ends_in_the_dlq_through_redrive_not_lost() -> Result<()> {
    // Retries come back at once so the five receives of maxReceiveCount pass quickly; the
    // circuit breaker is off, or it would (rightly) hold the job back for the whole outage.
    let t = stack()
        .setting("LEADSYNC_RETRY_BASE_SECS", "0")
        .setting("LEADSYNC_BREAKER_FAILURES", "0")
        .start()
        .await?;
    t.set_faults(json!({"outage_for_ms": 120_000})).await?;
    let body = marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        leadsync::domain::clock::now_ms(),
        "outage-1",
    );
    let id = t
        .create_tagged_contact("Ada", "+14155550140", "cold lead")
        .await?;
    let body = String::from_utf8(body)?.replace("nmFmQEsNgz6AVpgLVUJ0", &id);
    let (status, _) = t.post_signed(body.as_bytes()).await?;
    assert_eq!(status, 202);
    // A deferral (the contact was busy with the create jobs) starts a fresh message with a new
    // id; the message SQS moved is the one whose tries count. The emulated event source mapping
    // logs a batch's results when the whole batch is done, and the consumer has made a failed
    // message visible again before that, so SQS can move it before its last try is logged: the
    // wait lasts until the moved message's tries are all in the log.
    let max_receive_count = t.stack.resources.max_receive_count as usize;
    let (parked, tries) = eventually(
        Duration::from_secs(60),
        "redrive to the DLQ and every try of the moved message logged",
        || async {
            let Some(moved) = t.dead_letters().await?.into_iter().find(|m| {
                m.body
                    .as_deref()
                    .is_some_and(|b| b.contains("ghl:outage-1"))
            }) else {
                return Ok(None);
            };
            let id = moved.message_id.clone().unwrap_or_default();
            let tries: Vec<RecordResult> = t
                .stack
                .results()
                .into_iter()
                .filter(|r| r.message_id == id)
                .collect();
            Ok((tries.len() >= max_receive_count).then_some((moved, tries)))
        },
    )
    .await
    .inspect_err(|_| eprintln!("{:#?}", t.stack.results()))?;
    assert_eq!(
        tries.len(),
        max_receive_count,
        "tried maxReceiveCount times: {tries:#?}"
    );
    assert!(
        tries
            .iter()
            .all(|r| r.failed && matches!(r.outcome, Outcome::Retry { .. })),
        "every try failed and was left to SQS: {tries:#?}"
    );
    assert!(
        parked
            .message_attributes
            .is_none_or(|a| !a.contains_key("reason")),
        "moved by SQS, not parked by us"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_opens_the_breaker_and_everything_syncs_when_calltools_is_back() -> Result<()> {
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .setting("LEADSYNC_BREAKER_FAILURES", "3")
        .setting("LEADSYNC_BREAKER_RECOVERY_SECS", "2")
        .start()
        .await?;
    t.set_faults(json!({"outage_for_ms": 4_000})).await?;
    let phones: Vec<String> = (0..6).map(|i| format!("+1415555014{i}")).collect();
    for (i, phone) in phones.iter().enumerate() {
        t.create_tagged_contact(&format!("Outage{i}"), phone, "cold lead")
            .await?;
    }
    for phone in &phones {
        in_bucket(&t, phone, COLD_LEADS).await?;
    }
    settled(&t, Duration::from_secs(30)).await?;
    assert!(
        t.dead_letters().await?.is_empty(),
        "nothing parked for an outage"
    );

    let held_back = t
        .stack
        .results()
        .into_iter()
        .filter(|r| matches!(&r.outcome, Outcome::Defer { reason, .. } if reason.contains("circuit open")))
        .count();
    assert!(
        held_back > 0,
        "jobs were held back instead of hammering CallTools"
    );
    let failed_calls = t
        .calltools_calls()
        .await?
        .into_iter()
        .filter(|c| c["status"] == 503)
        .count();
    assert!(
        failed_calls < 12,
        "the breaker kept calls during the outage below one per job: {failed_calls}"
    );
    for phone in &phones {
        assert_eq!(t.calltools_with_phone(phone).await?.len(), 1);
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_retry_budget_does_not_burn_max_receive_count() -> Result<()> {
    // Retries come back at once: five receives would pass in a few seconds. While the circuit
    // is open the job is deferred as a fresh message instead, which spends no receive.
    let t = stack()
        .setting("LEADSYNC_RETRY_BASE_SECS", "0")
        .setting("LEADSYNC_BREAKER_FAILURES", "2")
        .setting("LEADSYNC_BREAKER_RECOVERY_SECS", "1")
        .start()
        .await?;
    t.set_faults(json!({"outage_for_ms": 10_000})).await?;
    let id = t
        .create_tagged_contact("Barbara", "+14155550142", "cold lead")
        .await?;
    in_bucket(&t, "+14155550142", COLD_LEADS).await?;
    drained(&t, Duration::from_secs(30)).await?;
    assert!(t.dead_letters().await?.is_empty(), "nothing redriven");
    let results = t.stack.results();
    let deferred = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Defer { .. }))
        .count();
    assert!(
        deferred >= t.stack.resources.max_receive_count as usize,
        "the job waited longer than maxReceiveCount receives would allow: {results:#?}"
    );
    assert!(
        t.contact_state(&id)
            .await?
            .is_some_and(|s| s.sink(SinkId::CallTools).id.is_some())
    );
    t.stop().await;
    Ok(())
}
