//! Every function's metrics as CloudWatch would get them: the collector the Lambda mains install,
//! flushed through the same limits writer after a run of all three functions on the local stack
//! (a GHL contact tagged, a Messenger message, a backfill run), each document checked against the
//! Embedded Metric Format specification.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::telemetry::emf::{Limited, MAX_METRICS, validate};
use leadsync::backfill::{Ending, Request};
use leadsync_tests::*;
use serde_json::{Value, json};

/// Dimensions leadsync may use: few values each. Contact ids and request ids are properties.
/// Every dimension a function may emit; each takes a handful of values (a method, an API, an HTTP
/// status, an AWS call name), never an id.
const DIMENSIONS: [&str; 14] = [
    "service", "function", "source", "outcome", "reason", "sink", "origin", "class", "to",
    "method", "api", "call", "status", "meaning",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_functions_metrics_are_valid_emf_with_low_cardinality_dimensions() -> Result<()> {
    let collector = leadsync::aws::telemetry::init_metrics("e2e").map_err(anyhow::Error::msg)?;
    leadsync::aws::telemetry::begin_invocation(collector, "request-1");
    let t = stack().start().await?;
    let id = t
        .create_tagged_contact("Emf", "+14152050001", "cold lead")
        .await?;
    in_bucket(&t, "+14152050001", COLD_LEADS).await?;
    let user = t
        .meta(
            "users",
            json!({"channel": "messenger", "name": "Emf Person"}),
        )
        .await?;
    let user = user["id"].as_str().context("user id")?.to_string();
    t.meta(
        "messages",
        json!({"channel": "messenger", "user_id": user, "text": "hi"}),
    )
    .await?;
    let backfill = leadsync::app::build_backfill(&t.stack.config, &t.stack.aws)?;
    let ending = backfill
        .handle(
            &Request::default(),
            leadsync::domain::clock::now_ms() + 60_000,
        )
        .await?;
    assert!(matches!(ending, Ending::Finished(_)), "{ending:?}");
    drained(&t, Duration::from_secs(30)).await?;
    // More metrics in one label set than one document may carry.
    for i in 0..(MAX_METRICS + 50) {
        metrics::counter!(format!("burst_{i:03}"), "source" => "burst").increment(1);
    }
    let mut out = Vec::new();
    collector.flush(Limited::new(&mut out))?;
    let text = String::from_utf8(out)?;
    let docs: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut names = BTreeSet::new();
    for doc in &docs {
        validate(doc).map_err(|e| anyhow::anyhow!("{e}: {doc}"))?;
        assert_eq!(
            doc["RequestId"], "request-1",
            "the request id is a property"
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for d in directive["Dimensions"][0]
            .as_array()
            .context("dimensions")?
        {
            let d = d.as_str().unwrap_or_default();
            assert!(DIMENSIONS.contains(&d), "dimension {d:?} in {doc}");
            let value = doc[d].as_str().unwrap_or_default();
            assert!(
                !value.contains(&id) && !value.contains(&user),
                "a contact id as a dimension value: {doc}"
            );
        }
        for m in directive["Metrics"].as_array().context("metrics")? {
            names.insert(m["Name"].as_str().unwrap_or_default().to_string());
        }
    }
    for expected in [
        "ColdStart",
        "webhooks_received",
        "webhooks_verified",
        "webhooks_enqueued",
        "jobs_processed",
        "sink_calls",
        "sink_responses",
        "sync_latency_ms",
        "contacts_created",
        "meta_message_latency_ms",
        "meta_profile_reads",
        "backfill_pages",
        "backfill_contacts_seen",
        "backfill_drift",
        "backfill_duration_ms",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    let burst: Vec<usize> = docs
        .iter()
        .filter(|d| d["source"] == "burst")
        .map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(burst, [MAX_METRICS, 50], "split at the limit, nothing lost");
    t.stop().await;
    Ok(())
}
