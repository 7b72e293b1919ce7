use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::ingress::allow::AllowList;
use crate::ingress::{Ingress, IngressParts};
use crate::memory::{MemoryEventLog, MemoryLedger, MemoryQueue};
use crate::sources::ghl::routes::GhlRoutes;
use crate::sources::ghl::verify::GhlVerifier;

const ED25519: &str = include_str!("../../../../../testdata/keys/ghl_test_ed25519.pub.pem");
const RSA: &str = include_str!("../../../../../testdata/keys/ghl_test_rsa4096.pub.pem");
const SECRET: &str = "meta-app-secret";

fn ingress(queue: Arc<MemoryQueue>, meta: bool) -> Ingress {
    let meta = meta.then(|| MetaIngress {
        verifier: MetaVerifier::new(&Secret::new(SECRET)),
        verify_token: Some(Secret::new("the-verify-token")),
    });
    Ingress::new(
        IngressParts {
            max_body_bytes: 131_072,
            allow: AllowList::new([], None, ["100".to_string()]),
            time_limits: crate::app::INGRESS_TIME_LIMITS,
            queue,
            ledger: Arc::new(MemoryLedger::default()),
            events: Arc::new(MemoryEventLog::default()),
        },
        vec![
            Arc::new(GhlRoutes {
                verifier: GhlVerifier::from_pem(ED25519, RSA).expect("test keys"),
                timestamp_tolerance: Duration::from_secs(300),
                workflow_secret: None,
                default_location_id: None,
            }),
            Arc::new(MetaRoutes { meta }),
        ],
    )
}

fn signed(body: &str) -> ::http::HeaderMap {
    let mut h = ::http::HeaderMap::new();
    let sig = MetaVerifier::new(&Secret::new(SECRET)).sign(body.as_bytes());
    h.insert("x-hub-signature-256", sig.parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    h
}

fn message(mid: &str, user: &str, text: &str) -> Value {
    json!({"sender":{"id":user},"recipient":{"id":"100"},"timestamp":1_700_000_000_000i64,
           "message":{"mid":mid,"text":text}})
}

async fn post(i: &Ingress, body: &str, headers: &::http::HeaderMap) -> Answer {
    i.handle("POST", META_PATH_FOR_TESTS, "", headers, body.as_bytes())
        .await
}

const META_PATH_FOR_TESTS: &str = crate::sources::meta::routes::META_PATH;

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
    let i = ingress(Arc::new(MemoryQueue::default()), true);
    let no_headers = ::http::HeaderMap::new();
    let get = |q: &'static str| i.handle("GET", META_PATH_FOR_TESTS, q, &no_headers, b"");
    let ok =
        get("hub.mode=subscribe&hub.verify_token=the-verify-token&hub.challenge=1158201444").await;
    assert_eq!(
        (ok.status, ok.body.as_str(), ok.content_type),
        (200, "1158201444", "text/plain")
    );
    for bad in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=the-verify-token&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=the-verify-token",
        "",
    ] {
        assert_eq!(get(bad).await.status, 403, "{bad}");
    }
    let unconfigured = ingress(Arc::new(MemoryQueue::default()), false);
    let a = unconfigured
        .handle(
            "GET",
            META_PATH_FOR_TESTS,
            "hub.mode=subscribe&hub.verify_token=the-verify-token&hub.challenge=1",
            &::http::HeaderMap::new(),
            b"",
        )
        .await;
    assert_eq!(a.status, 403);
}

#[tokio::test]
async fn a_batched_post_becomes_one_job_per_item_across_entries_and_standby() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    let items: Vec<Value> = (0..50)
        .map(|n| message(&format!("m_{n}"), &format!("900{}", n % 7), "hi"))
        .collect();
    let body = json!({"object":"page","entry":[
        {"id":"100","time":1,"messaging":items[..20]},
        {"id":"100","time":2,"messaging":items[20..45]},
        {"id":"100","time":3,"standby":items[45..]},
    ]})
    .to_string();
    let a = post(&i, &body, &signed(&body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let answer: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        (answer["jobs"].as_u64(), answer["ignored"].as_u64()),
        (Some(50), Some(0))
    );
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 50);
    assert_eq!(jobs[0].id(), "meta:msg:m_0");
    assert_eq!(jobs[0].contact_key().to_string(), "messenger:100:9000");
    let Some(j) = jobs[49].payload::<MetaJob>() else {
        panic!()
    };
    assert!(j.event.standby);
    assert_eq!(
        serde_json::from_str::<Value>(&j.payload).unwrap(),
        items[49]
    );
}

#[tokio::test]
async fn signature_attacks_are_refused_and_nothing_is_enqueued() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    let body =
        json!({"object":"page","entry":[{"id":"100","messaging":[message("m_1","9001","hi")]}]})
            .to_string();
    let good = signed(&body);
    let mut cases: Vec<(&str, ::http::HeaderMap, String)> = Vec::new();
    let mut missing = good.clone();
    missing.remove("x-hub-signature-256");
    cases.push(("signature_missing", missing, body.clone()));
    let mut sha1 = good.clone();
    sha1.insert(
        "x-hub-signature-256",
        "sha1=0123456789abcdef".parse().unwrap(),
    );
    cases.push(("signature_malformed", sha1, body.clone()));
    let mut other_key = good.clone();
    let forged = MetaVerifier::new(&Secret::new("guessed")).sign(body.as_bytes());
    other_key.insert("x-hub-signature-256", forged.parse().unwrap());
    cases.push(("signature_invalid", other_key, body.clone()));
    cases.push(("signature_invalid", good.clone(), body.replace("hi", "HI")));
    for (reason, headers, body) in cases {
        let a = post(&i, &body, &headers).await;
        assert_eq!(a.status, 401, "{reason}");
        assert!(a.body.contains(reason), "{}", a.body);
    }
    assert!(queue.is_empty());
    // Without an app secret every request is answered as one signed with a secret we do not
    // have: a 401 tells no one how the stack is configured.
    let unconfigured = ingress(queue.clone(), false);
    assert_eq!(
        post(&unconfigured, &body, &good).await,
        post(&i, &body, &signed("another body")).await
    );
    let mut missing = good.clone();
    missing.remove("x-hub-signature-256");
    assert_eq!(
        post(&unconfigured, &body, &missing).await,
        post(&i, &body, &missing).await
    );
    assert!(queue.is_empty());
}

#[tokio::test]
async fn items_for_another_page_or_with_ids_that_are_not_metas_are_ignored() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    let foreign =
        json!({"object":"page","entry":[{"id":"999","messaging":[message("m_1","9001","hi")]}]})
            .to_string();
    let a = post(&i, &foreign, &signed(&foreign)).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":"ignored"}"#)
    );
    let mixed = json!({"object":"page","entry":[
        {"id":"999","messaging":[message("m_2","9001","theirs")]},
        {"id":"100","messaging":[message("m_3","9001","ours")]},
        {"id":"../100","messaging":[message("m_4","9001","path")]},
        {"id":"100","messaging":[message("m_5","me/accounts","path")]},
        {"id":"100","messaging":[message("m#6","9001","key separator")]},
    ]})
    .to_string();
    let a = post(&i, &mixed, &signed(&mixed)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains(r#""jobs":1"#) && a.body.contains(r#""ignored":4"#),
        "{}",
        a.body
    );
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id(), "meta:msg:m_3");
}

#[tokio::test]
async fn non_ascii_signed_in_meta_escaped_form_is_verified_on_the_raw_bytes() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    // Meta escapes non-ASCII and signs that text; re-serialising would give other bytes.
    let body = r#"{"object":"page","entry":[{"id":"100","time":1,"messaging":[{"sender":{"id":"9001"},"recipient":{"id":"100"},"timestamp":1700000000000,"message":{"mid":"m_u","text":"Gr\u00fc\u00dfe \ud83d\udc4b"}}]}]}"#;
    let a = post(&i, body, &signed(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let jobs = queue.jobs();
    let Some(j) = jobs[0].payload::<MetaJob>() else {
        panic!()
    };
    let crate::sources::meta::event::EventKind::Message(m) = &j.event.kind else {
        panic!()
    };
    assert_eq!(m.text.as_deref(), Some("Grüße 👋"));
    assert!(
        j.payload.contains(r"\u00fc"),
        "the payload is the item as sent"
    );
}

#[tokio::test]
async fn unknown_kinds_other_objects_bad_bodies_and_a_queue_outage_have_their_answers() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    let unknown = json!({"object":"page","entry":[{"id":"100","messaging":[
        {"sender":{"id":"9001"},"recipient":{"id":"100"},"timestamp":1,"game_play":{"game_id":"g"}},
        message("m_1","9001","hi")]}]})
    .to_string();
    let a = post(&i, &unknown, &signed(&unknown)).await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains(r#""jobs":1"#) && a.body.contains(r#""ignored":1"#),
        "{}",
        a.body
    );
    let whatsapp = r#"{"object":"whatsapp_business_account","entry":[]}"#;
    let a = post(&i, whatsapp, &signed(whatsapp)).await;
    assert_eq!((a.status, a.body.contains("ignored")), (200, true));
    let broken = r#"{"object":"page","entry":"#;
    assert_eq!(post(&i, broken, &signed(broken)).await.status, 400);
    assert_eq!(queue.len(), 1);
    let down = ingress(Arc::new(MemoryQueue::unavailable()), true);
    let a = post(&down, &unknown, &signed(&unknown)).await;
    assert_eq!(a.status, 503, "Meta retries a 5xx");
}

#[test]
fn the_same_message_is_one_job_wherever_it_comes_from() {
    let m = |mid: &str| {
        EventKind::Message(crate::sources::meta::event::Message {
            mid: mid.into(),
            text: None,
            attachments: vec![],
            quick_reply: None,
            reply_to: None,
            echo: false,
        })
    };
    assert_eq!(
        job_id(&m("m_1"), "{\"a\":1}"),
        job_id(&m("m_1"), "{\"b\":2}")
    );
    let read = EventKind::Read { watermark: 1 };
    assert_eq!(job_id(&read, "{\"x\":1}"), job_id(&read, "{\"x\":1}"));
    assert_ne!(job_id(&read, "{\"x\":1}"), job_id(&read, "{\"x\":2}"));
}

#[tokio::test]
async fn a_batch_of_1000_updates_is_not_refused_for_its_size() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), true);
    let text = "x".repeat(400);
    let items: Vec<Value> = (0..1000)
        .map(|n| message(&format!("m_{n}"), &format!("900{n}"), &text))
        .collect();
    let body =
        json!({"object":"page","entry":[{"id":"100","time":1,"messaging":items}]}).to_string();
    assert!(body.len() > 131_072 * 3, "{} bytes", body.len());
    let a = post(&i, &body, &signed(&body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(queue.len(), 1000);
    // GHL's routes keep the configured limit.
    let ghl = i
        .handle(
            "POST",
            crate::sources::ghl::routes::GHL_MARKETPLACE_PATH,
            "",
            &signed(&body),
            body.as_bytes(),
        )
        .await;
    assert_eq!(ghl.status, 413);
}
