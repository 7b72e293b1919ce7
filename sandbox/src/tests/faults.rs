//! Each injected CallTools fault, as a client sees it.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_scripted_503_is_an_html_page_and_then_things_work() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"script": [{"status": 503}]})).await;

    let r = ct(&sb, Method::POST, "/api/contacts/")
        .json(&contact_body(PHONE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("503 Service Unavailable"));

    let (s, _) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(s, 201);
    let (_, contacts) = admin(&sb, Method::GET, "/calltools/contacts", None).await;
    assert_eq!(
        contacts["contacts"].as_array().unwrap().len(),
        1,
        "the 503 wrote nothing"
    );

    let (_, log) = admin(&sb, Method::GET, "/calltools/calls", None).await;
    assert_eq!(log["calls"][0]["fault"], "script");
    assert_eq!(log["calls"][0]["status"], 503);
}

#[tokio::test]
async fn a_scripted_429_carries_retry_after() {
    let sb = sandbox().await;
    set_faults(
        &sb,
        json!({"script": [{"status": 429, "retry_after_secs": 2}]}),
    )
    .await;
    let r = ct(&sb, Method::GET, "/api/contacts/").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Request was throttled. Expected available in 2 seconds."})
    );
}

#[tokio::test]
async fn a_hang_times_the_client_out_although_the_write_happened() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"script": [{"hang_ms": 2000}]})).await;
    let err = ct(&sb, Method::POST, "/api/contacts/")
        .timeout(Duration::from_millis(300))
        .json(&contact_body(PHONE))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let (_, contacts) = admin(&sb, Method::GET, "/calltools/contacts", None).await;
    assert_eq!(contacts["contacts"].as_array().unwrap().len(), 1);
    // So the retry merges instead of duplicating (§5.6).
    let (s, v) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["duplicate_action"], "MERGE");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_hang_with_a_status_fails_late_without_writing() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"script": [{"hang_ms": 200, "status": 504}]})).await;
    let started = Instant::now();
    let r = ct(&sb, Method::POST, "/api/contacts/")
        .json(&contact_body(PHONE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let (_, contacts) = admin(&sb, Method::GET, "/calltools/contacts", None).await;
    assert_eq!(contacts["contacts"], json!([]));
}

#[tokio::test]
async fn random_rates_hit_every_request_at_one() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"rate_5xx": 1.0})).await;
    for _ in 0..5 {
        let r = ct(&sb, Method::GET, "/api/contacts/").send().await.unwrap();
        assert!(r.status().is_server_error());
        assert!(r.text().await.unwrap().starts_with("<html>"));
    }
    set_faults(&sb, json!({"rate_429": 1.0, "retry_after_secs": 3})).await;
    let r = ct(&sb, Method::GET, "/api/contacts/").send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "3")
    );

    set_faults(&sb, json!({"rate_timeout": 1.0, "timeout_ms": 2000})).await;
    let err = ct(&sb, Method::GET, "/api/contacts/")
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults() {
    let sb = sandbox().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        set_faults(&sb, json!({"rate_429": 0.3, "rate_5xx": 0.3, "seed": 42})).await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(
                ct(&sb, Method::GET, "/api/buckets/")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&200) && runs[0].contains(&429));
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"latency_ms": 150})).await;
    let started = Instant::now();
    let r = ct(&sb, Method::GET, "/api/buckets/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn an_outage_fails_everything_until_it_ends() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"outage_for_ms": 300})).await;
    let (_, spec) = admin(&sb, Method::GET, "/calltools/faults", None).await;
    assert!(spec["outage_remaining_ms"].as_u64().unwrap() > 0);
    for _ in 0..3 {
        let r = ct(&sb, Method::GET, "/api/buckets/").send().await.unwrap();
        assert_eq!(r.status(), 503);
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = ct(&sb, Method::GET, "/api/buckets/").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn rejected_phones_are_refused_on_create_and_patch() {
    let sb = sandbox().await;
    let (_, c) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE_2)),
    )
    .await;
    set_faults(&sb, json!({"reject_phones": [PHONE]})).await;
    let (s, e) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(
        (s, e),
        (
            400,
            json!({"mobile_phone_number": ["Enter a valid phone number."]})
        )
    );
    let path = format!("/api/contacts/{}/", c["id"]);
    let (s, _) = ct_json(
        &sb,
        Method::PATCH,
        &path,
        Some(json!({"home_phone_number": PHONE})),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn faults_read_back_with_the_unused_script() {
    let sb = sandbox().await;
    set_faults(
        &sb,
        json!({"script": [{"status": 502}, {"status": 500}], "latency_ms": 1}),
    )
    .await;
    ct(&sb, Method::GET, "/api/buckets/").send().await.unwrap();
    let (_, spec) = admin(&sb, Method::GET, "/calltools/faults", None).await;
    assert_eq!(spec["script"], json!([{"status": 500}]));
    assert_eq!(spec["latency_ms"], 1);

    let (s, _) = admin(
        &sb,
        Method::POST,
        "/calltools/faults",
        Some(json!({"rate_5xx": 2.0})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = admin(
        &sb,
        Method::POST,
        "/calltools/faults",
        Some(json!({"bogus": 1})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = admin(&sb, Method::DELETE, "/calltools/faults", None).await;
    assert_eq!(s, 204);
    let (_, spec) = admin(&sb, Method::GET, "/calltools/faults", None).await;
    assert_eq!(spec["script"], json!([]));
}
