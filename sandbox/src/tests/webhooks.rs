//! Outgoing webhooks: what leadsync's ingress receives, and GoHighLevel's retry rules.

use std::time::Duration;

use aws_lc_rs::signature::{ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};

use super::super::keys::{ED25519_PUBLIC_PEM, RSA_PUBLIC_PEM, pem_to_der};
use super::*;

async fn marketplace_sandbox(rx: &Receiver, legacy: bool) -> Sandbox {
    let url = rx.url.clone();
    sandbox_with(move |c| {
        c.marketplace_webhook_url = Some(url);
        c.legacy_rsa_signature = legacy;
        c.ghl_retry_interval = Duration::from_millis(20);
    })
    .await
}

async fn deliveries(sb: &Sandbox) -> Vec<Value> {
    let (_, v) = admin(sb, Method::GET, "/ghl/deliveries", None).await;
    v["deliveries"].as_array().unwrap().clone()
}

fn verify_ed25519(hit: &Hit) {
    let spki = pem_to_der(ED25519_PUBLIC_PEM, "PUBLIC KEY").unwrap();
    let raw_key = &spki[spki.len() - 32..];
    let sig = STANDARD
        .decode(hit.headers["x-ghl-signature"].to_str().unwrap())
        .unwrap();
    UnparsedPublicKey::new(&ED25519, raw_key)
        .verify(&hit.body, &sig)
        .expect("x-ghl-signature verifies over the raw body");
}

#[tokio::test]
async fn contact_create_is_flat_signed_and_has_no_date_updated() {
    let rx = receiver(&[]).await;
    let sb = marketplace_sandbox(&rx, false).await;
    let c = new_ghl_contact(
        &sb,
        json!({"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "phone": PHONE,
               "customFields": [{"id": "BcdmQEsNgz6AVpgLVUJ0", "value": "XYZ"}]}),
    )
    .await;

    let hits = rx.wait_for(1).await;
    let hit = &hits[0];
    verify_ed25519(hit);
    assert!(
        hit.headers.get("x-wh-signature").is_none(),
        "RSA only when legacy is on"
    );
    let p = hit.json();
    assert_eq!(p["type"], "ContactCreate");
    assert_eq!(p["id"], c["id"]);
    assert_eq!(p["locationId"], "sandboxLocation00001");
    assert_eq!(p["name"], "Ada Lovelace");
    assert_eq!(p["phone"], PHONE);
    assert_eq!(p["tags"], Value::Null, "GHL sends null for an empty field");
    assert_eq!(p["dnd"], false);
    assert_eq!(p["customFields"][0]["value"], "XYZ");
    assert_eq!(p["dateAdded"], c["dateAdded"]);
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(!p["webhookId"].as_str().unwrap().is_empty());
    assert!(p.get("dateUpdated").is_none());
}

#[tokio::test]
async fn legacy_mode_adds_a_verifiable_rsa_signature() {
    let rx = receiver(&[]).await;
    let sb = marketplace_sandbox(&rx, true).await;
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let hit = rx.wait_for(1).await.remove(0);
    verify_ed25519(&hit);
    let spki = pem_to_der(RSA_PUBLIC_PEM, "PUBLIC KEY").unwrap();
    let sig = STANDARD
        .decode(hit.headers["x-wh-signature"].to_str().unwrap())
        .unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki)
        .verify(&hit.body, &sig)
        .expect("x-wh-signature verifies");
}

#[tokio::test]
async fn tag_updates_carry_the_full_list_and_each_webhook_id_is_unique() {
    let rx = receiver(&[]).await;
    let sb = marketplace_sandbox(&rx, false).await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada", "tags": ["a"]})).await;
    let id = c["id"].as_str().unwrap();
    rx.wait_for(1).await;
    admin(
        &sb,
        Method::POST,
        &format!("/ghl/contacts/{id}/tags"),
        Some(json!({"tags": ["b"]})),
    )
    .await;
    rx.wait_for(2).await;
    admin(
        &sb,
        Method::DELETE,
        &format!("/ghl/contacts/{id}/tags"),
        Some(json!({"tags": ["a"]})),
    )
    .await;
    rx.wait_for(3).await;
    admin(&sb, Method::DELETE, &format!("/ghl/contacts/{id}"), None).await;
    let hits = rx.wait_for(4).await;

    let payloads: Vec<Value> = hits.iter().map(Hit::json).collect();
    let kinds: Vec<&str> = payloads
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ContactCreate",
            "ContactTagUpdate",
            "ContactTagUpdate",
            "ContactDelete"
        ]
    );
    assert_eq!(payloads[1]["tags"], json!(["a", "b"]));
    assert_eq!(payloads[2]["tags"], json!(["b"]));
    let mut ids: Vec<&str> = payloads
        .iter()
        .map(|p| p["webhookId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn a_429_is_retried_with_identical_bytes_up_to_six_times() {
    // GIVEN an ingress that answers 429 every time
    let rx = receiver(&[429; 10]).await;
    let sb = marketplace_sandbox(&rx, false).await;
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;

    // THEN GoHighLevel tries 1 + 6 times, the very same bytes and signature, and stops
    let hits = rx.wait_for(7).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.hits().len(), 7);
    for hit in &hits[1..] {
        assert_eq!(hit.body, hits[0].body);
        assert_eq!(
            hit.headers["x-ghl-signature"],
            hits[0].headers["x-ghl-signature"]
        );
    }
    let log = deliveries(&sb).await;
    let attempts: Vec<u64> = log.iter().map(|d| d["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 6, 7]);
    assert!(
        log.iter()
            .all(|d| d["status"] == 429 && d["kind"] == "ContactCreate")
    );
}

#[tokio::test]
async fn a_429_then_200_ends_the_retries() {
    let rx = receiver(&[429]).await;
    let sb = marketplace_sandbox(&rx, false).await;
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].body, hits[1].body);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rx.hits().len(), 2);
}

#[tokio::test]
async fn a_webhook_is_in_flight_until_its_last_attempt_ends() {
    let rx = receiver(&[429]).await;
    let url = rx.url.clone();
    let sb = sandbox_with(move |c| {
        c.marketplace_webhook_url = Some(url);
        c.ghl_retry_interval = Duration::from_millis(300);
    })
    .await;
    let in_flight = || async {
        let (_, v) = admin(&sb, Method::GET, "/ghl/deliveries", None).await;
        v["in_flight"].as_u64().unwrap()
    };
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    // Answered 429 and waiting to retry: still GHL's to deliver.
    rx.wait_for(1).await;
    assert_eq!(in_flight().await, 1);
    rx.wait_for(2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while in_flight().await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "still in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(deliveries(&sb).await.len(), 2);
}

#[tokio::test]
async fn any_other_failure_is_final() {
    for status in [500, 503, 400] {
        let rx = receiver(&[status]).await;
        let sb = marketplace_sandbox(&rx, false).await;
        new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
        rx.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(rx.hits().len(), 1, "{status} is not retried");
        let log = deliveries(&sb).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], status);
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_logged_and_lost() {
    let rx = receiver(&[]).await;
    let url = rx.url.clone();
    drop(rx);
    let sb = sandbox_with(move |c| c.marketplace_webhook_url = Some(url)).await;
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    for _ in 0..200 {
        let log = deliveries(&sb).await;
        if let Some(d) = log.first() {
            assert_eq!(d["status"], Value::Null);
            assert_eq!(d["error"], "connection error");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no delivery logged");
}

#[tokio::test]
async fn the_workflow_fires_once_when_the_trigger_tag_is_added() {
    let rx = receiver(&[429]).await;
    let url = rx.url.clone();
    let sb = sandbox_with(move |c| {
        c.workflow_webhook_url = Some(url);
        c.workflow_secret = Some("s3cret".to_owned());
        c.ghl_retry_interval = Duration::from_millis(10);
    })
    .await;
    let c = new_ghl_contact(
        &sb,
        json!({"firstName": "Ada", "lastName": "Lovelace", "phone": PHONE, "tags": ["vip"]}),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.hits().is_empty(), "no trigger tag yet");

    admin(
        &sb,
        Method::POST,
        &format!("/ghl/contacts/{id}/tags"),
        Some(json!({"tags": ["  Cold Lead "]})),
    )
    .await;
    let hit = rx.wait_for(1).await.remove(0);
    assert_eq!(hit.headers["authorization"], "Bearer s3cret");
    assert!(
        hit.headers.get("x-ghl-signature").is_none(),
        "workflow webhooks are unsigned"
    );
    let p = hit.json();
    assert_eq!(p["contact_id"], id);
    assert_eq!(p["full_name"], "Ada Lovelace");
    assert_eq!(
        p["tags"], "vip,cold lead",
        "a comma-separated string, lower-cased as GHL keeps tags"
    );
    assert_eq!(p["location"]["id"], "sandboxLocation00001");
    assert!(p["workflow"]["id"].is_string());
    assert_eq!(p["customData"], json!({}));

    // Answered 429, yet not retried; and re-adding the tag is not an addition.
    admin(
        &sb,
        Method::POST,
        &format!("/ghl/contacts/{id}/tags"),
        Some(json!({"tags": ["cold lead"]})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rx.hits().len(), 1);
}

#[tokio::test]
async fn a_reset_cancels_pending_retries() {
    let rx = receiver(&[429; 10]).await;
    let url = rx.url.clone();
    let sb = sandbox_with(move |c| {
        c.marketplace_webhook_url = Some(url);
        c.ghl_retry_interval = Duration::from_millis(300);
    })
    .await;
    new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    rx.wait_for(1).await;
    admin(&sb, Method::POST, "/reset", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.hits().len(), 1);
    sb.shutdown().await;
}

/// `ghl_delivery_concurrency` bounds the webhooks on the wire at once; every one still arrives.
#[tokio::test]
async fn deliveries_wait_for_a_place_on_the_wire_when_bounded() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Load {
        now: AtomicUsize,
        most: AtomicUsize,
        done: AtomicUsize,
    }
    async fn slow(axum::extract::State(load): axum::extract::State<Arc<Load>>) -> &'static str {
        let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
        load.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        load.now.fetch_sub(1, Ordering::SeqCst);
        load.done.fetch_add(1, Ordering::SeqCst);
        "ok"
    }
    let load = Arc::new(Load::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(slow))
        .with_state(load.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sb = sandbox_with(move |c| {
        c.marketplace_webhook_url = Some(url);
        c.ghl_delivery_concurrency = Some(2);
    })
    .await;

    for i in 0..6 {
        new_ghl_contact(&sb, json!({ "firstName": format!("Ada{i}") })).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while load.done.load(Ordering::SeqCst) < 6 {
        assert!(tokio::time::Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(load.most.load(Ordering::SeqCst), 2);
    server.abort();
}
