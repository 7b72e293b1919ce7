//! Starting and stopping: nothing a sandbox starts outlives it.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::*;

#[tokio::test]
async fn info_tells_a_client_how_to_connect() {
    let sb = sandbox().await;
    let (s, info) = admin(&sb, Method::GET, "/info", None).await;
    assert_eq!(s, 200);
    assert_eq!(info["url"], sb.url.as_str());
    assert_eq!(info["location_id"], "sandboxLocation00001");
    assert_eq!(info["duplicate_mode"], "merge");
    assert_eq!(info["buckets"][0]["name"], "Cold Leads");
    assert!(
        info["ed25519_public_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN PUBLIC KEY")
    );
}

#[tokio::test]
async fn dropping_the_sandbox_stops_the_server() {
    let sb = sandbox().await;
    let url = format!("{}/_sandbox/info", sb.url);
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
    drop(sb);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(http().get(&url).send().await.is_err());
}

#[tokio::test]
async fn shutdown_does_not_wait_out_a_hanging_response() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"script": [{"hang_ms": 60_000}]})).await;
    let pending = tokio::spawn(ct(&sb, Method::GET, "/api/buckets/").send());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    sb.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let _ = pending.await;
}
