use std::sync::Arc;

use super::*;
use crate::domain::clock::Millis;
use crate::domain::contact::ContactKey;
use crate::ingress::allow::AllowList;
use crate::ingress::{Ingress, IngressParts};
use crate::memory::{MemoryEventLog, MemoryLedger, MemoryQueue};
use crate::ports::store::{ContactState, SinkState};
use crate::testing::clock::ManualClock;
use crate::testing::store::MemoryStateStore;

const TOKEN: &str = "a-long-unguessable-hook-token";
const CALL: &str = r#"{"id": 5001, "contact": 123, "disposition": {"id": 3, "name": "Not Interested", "is_dnc": false}, "start_time": "2026-12-06 07:30:00"}"#;

/// A store where GHL contact `c1` was placed in CallTools as contact 123.
fn placed() -> Arc<MemoryStateStore> {
    let store = MemoryStateStore::new(Arc::new(ManualClock::new(Millis(0))));
    let placed = ContactState::default().with_sink(
        SinkId::CallTools,
        SinkState {
            id: Some(123),
            ..SinkState::default()
        },
    );
    store.put_state(&ContactKey::ghl("loc", "c1"), placed);
    Arc::new(store)
}

fn ingress(queue: Arc<MemoryQueue>, token: Option<&str>) -> Ingress {
    Ingress::new(
        IngressParts {
            max_body_bytes: 131_072,
            allow: AllowList::new([], None, []),
            time_limits: crate::app::INGRESS_TIME_LIMITS,
            queue,
            ledger: Arc::new(MemoryLedger::default()),
            events: Arc::new(MemoryEventLog::default()),
        },
        vec![Arc::new(CallToolsRoutes {
            token: token.map(Secret::new),
            placed: placed(),
        })],
    )
}

async fn post(i: &Ingress, query: &str, body: &str) -> Answer {
    let mut h = ::http::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    i.handle("POST", CALLTOOLS_PATH, query, &h, body.as_bytes())
        .await
}

#[tokio::test]
async fn a_call_hook_with_the_token_is_queued_under_the_ghl_contact() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), Some(TOKEN));
    let a = post(&i, &format!("model=call&token={TOKEN}"), CALL).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0].id().starts_with("calltools:call:5001:3:"),
        "{}",
        jobs[0].id()
    );
    assert_eq!(jobs[0].contact_key(), ContactKey::ghl("loc", "c1"));
    assert_eq!(jobs[0].source(), Source::CallTools);
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_and_nothing_is_queued() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), Some(TOKEN));
    for query in [
        "model=call".to_string(),
        "model=call&token=".to_string(),
        "model=call&token=a-long-unguessable-hook-toke".to_string(),
        format!("model=call&token={TOKEN}x"),
    ] {
        let a = post(&i, &query, CALL).await;
        assert_eq!(a.status, 401, "{query}");
        assert!(a.body.contains("token_invalid"), "{}", a.body);
    }
    // Not configured: the same 401, so the answer does not say how the stack is set up.
    let unconfigured = ingress(queue.clone(), None);
    let a = post(&unconfigured, &format!("model=call&token={TOKEN}"), CALL).await;
    assert_eq!(a.status, 401);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn an_unknown_model_or_a_body_without_ids_is_a_clear_400() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), Some(TOKEN));
    let a = post(&i, &format!("model=sms&token={TOKEN}"), CALL).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("?model=call"), "{}", a.body);
    let a = post(&i, &format!("model=call&token={TOKEN}"), r#"{"id": 5001}"#).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("contact"), "{}", a.body);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_hook_about_a_contact_leadsync_did_not_place_is_acknowledged_and_ignored() {
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), Some(TOKEN));
    let other = CALL.replace("\"contact\": 123", "\"contact\": 999");
    let a = post(&i, &format!("model=call&token={TOKEN}"), &other).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":"ignored"}"#)
    );
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_queue_outage_answers_503() {
    let i = ingress(Arc::new(MemoryQueue::unavailable()), Some(TOKEN));
    let a = post(&i, &format!("model=call&token={TOKEN}"), CALL).await;
    assert_eq!(a.status, 503);
}

#[tokio::test]
async fn a_token_with_url_characters_passes_as_subscribe_writes_it() {
    let base64 = "q0H+9/Zx1Lw8tYk3RmUe5N2aPc7VbJ6s=";
    let queue = Arc::new(MemoryQueue::default());
    let i = ingress(queue.clone(), Some(base64));
    let url = crate::sources::calltools::subscription::hook_url(
        "https://x",
        crate::sources::calltools::hook::HookModel::Call,
        base64,
    );
    let (_, query) = url.split_once('?').unwrap();
    let a = post(&i, query, CALL).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(queue.jobs().len(), 1);
}
