//! CallTools refusing leadsync's API key (rotated in CallTools' settings): jobs wait instead of
//! filling the dead-letter queue, the refusals are counted for the alarm, and the jobs sync once
//! the key works again — or, past `LEADSYNC_AUTH_WAIT_MAX_SECS`, are parked saying what to fix.

use std::time::Duration;

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use leadsync::consumer::Outcome;
use leadsync::domain::clock::now_ms;
use leadsync_tests::*;
use serde_json::json;

const CREDENTIALS_REFUSED: &str = "refused leadsync's credentials";

/// The key CallTools accepts now.
async fn calltools_key(t: &TestStack) -> Result<String> {
    let v = t
        .sandbox_client()
        .call(reqwest::Method::GET, "/_sandbox/calltools/api_key", None)
        .await?;
    Ok(v["api_key"].as_str().unwrap_or_default().to_string())
}

async fn set_calltools_key(t: &TestStack, key: &str) -> Result<()> {
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/calltools/api_key",
            Some(json!({ "api_key": key })),
        )
        .await?;
    Ok(())
}

/// Job ids the consumer deferred because CallTools refused the key.
fn deferred_for_credentials(t: &TestStack) -> Vec<String> {
    t.stack
        .results()
        .into_iter()
        .filter(|r| matches!(&r.outcome, Outcome::Defer { reason, .. } if reason.contains(CREDENTIALS_REFUSED)))
        .filter_map(|r| r.job_id)
        .collect()
}

/// The consumer's `credentials_rejected{api="calltools"}` as moto's CloudWatch sums it.
async fn calltools_refusals_counted(t: &TestStack) -> Result<f64> {
    t.stack.metrics.settled().await;
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let now = now_ms() / 1000;
    let out = aws_sdk_cloudwatch::Client::new(&t.stack.aws)
        .get_metric_statistics()
        .namespace(&t.stack.metrics.namespace)
        .metric_name("credentials_rejected")
        .dimensions(dimension("service", &t.stack.metrics.service))
        .dimensions(dimension("function", "consumer"))
        .dimensions(dimension("api", "calltools"))
        .start_time(DateTime::from_secs(now - 3600))
        .end_time(DateTime::from_secs(now + 3600))
        .period(60)
        .statistics(Statistic::Sum)
        .send()
        .await?;
    Ok(out.datapoints().iter().filter_map(|d| d.sum()).sum::<f64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_calltools_key_makes_jobs_wait_and_they_sync_once_it_works_again() -> Result<()> {
    // Waits double up to 4 s here, so the jobs come back soon after the key works again.
    let t = stack()
        .setting("LEADSYNC_RETRY_MAX_SECS", "4")
        .start()
        .await?;
    // GIVEN the API key leadsync holds was rotated in CallTools
    let leadsyncs_key = calltools_key(&t).await?;
    set_calltools_key(&t, "rotated-in-calltools").await?;
    let phones = ["+14155550171", "+14155550172"];
    for (i, phone) in phones.iter().enumerate() {
        t.create_tagged_contact(&format!("Rotated{i}"), phone, "cold lead")
            .await?;
    }
    // WHEN the consumer meets the refusal THEN every contact's job is deferred, not parked
    eventually(
        Duration::from_secs(30),
        "both contacts' jobs deferred for the refused key",
        || async {
            let mut jobs = deferred_for_credentials(&t);
            jobs.sort();
            jobs.dedup();
            Ok((jobs.len() >= phones.len()).then_some(()))
        },
    )
    .await?;
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");

    // WHEN the key works again THEN the waiting jobs sync by themselves
    set_calltools_key(&t, &leadsyncs_key).await?;
    for phone in phones {
        in_bucket(&t, phone, COLD_LEADS).await?;
    }
    webhooks_delivered(&t, Duration::from_secs(30)).await?;
    drained(&t, Duration::from_secs(60)).await?;
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");
    // AND the refusals were counted for the alarm
    let counted = eventually(
        Duration::from_secs(30),
        "the refusals counted in credentials_rejected",
        || async {
            let n = calltools_refusals_counted(&t).await?;
            Ok((n >= phones.len() as f64).then_some(n))
        },
    )
    .await?;
    assert_eq!(counted, deferred_for_credentials(&t).len() as f64);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_refused_for_credentials_past_the_allowed_wait_are_parked_saying_what_to_fix()
-> Result<()> {
    let t = stack()
        .setting("LEADSYNC_AUTH_WAIT_MAX_SECS", "2")
        .start()
        .await?;
    set_calltools_key(&t, "rotated-in-calltools").await?;
    t.create_tagged_contact("Waited", "+14155550173", "cold lead")
        .await?;
    let parked = eventually(Duration::from_secs(60), "a parked job", || async {
        Ok(t.dead_letters().await?.into_iter().next())
    })
    .await?;
    let attributes = parked.message_attributes.unwrap_or_default();
    let reason = attributes
        .get("reason")
        .and_then(|a| a.string_value())
        .unwrap_or_default();
    assert!(
        reason.contains("kept refusing leadsync's credentials (HTTP 401)")
            && reason.contains("CALLTOOLS_API_KEY"),
        "{reason}"
    );
    assert_eq!(
        attributes.get("http_status").and_then(|a| a.string_value()),
        Some("401")
    );
    assert!(
        !deferred_for_credentials(&t).is_empty(),
        "the job waited before it was parked"
    );
    t.stop().await;
    Ok(())
}
