//! CallTools' REST hooks: subscriptions through the API, what an agent's call or a
//! do-not-contact sends to a receiver, and the duplicates, delays and drops a test can ask for.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::calltools_calls::{dial, seeded_contact};
use super::*;
use crate::SandboxClient;

async fn subscribe(sb: &Sandbox, model: &str, url: &str) -> Value {
    let (s, v) = ct_json(
        sb,
        Method::POST,
        "/api/resthooksubscriptions/",
        Some(json!({"resthook_model": model, "url": url, "description": "leadsync"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v
}

fn client(sb: &Sandbox) -> SandboxClient {
    SandboxClient::new(http(), sb.url.clone())
}

async fn settled(sb: &Sandbox) -> Vec<Value> {
    client(sb)
        .calltools_hooks_settled(Duration::from_secs(5))
        .await
        .unwrap()
}

/// (model, status, dropped) of each hook attempt.
fn outcomes(hooks: &[Value]) -> Vec<(String, Option<u64>, bool)> {
    hooks
        .iter()
        .map(|h| {
            (
                h["model"].as_str().unwrap().to_owned(),
                h["status"].as_u64(),
                h["dropped"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn subscriptions_are_listed_and_deleted_and_never_deduplicated() {
    let sb = sandbox().await;
    let first = subscribe(&sb, "Call", "https://ingress.example.com/ct/calls").await;
    assert_eq!(
        first,
        json!({"id": 901, "resthook_model": "Call", "url": "https://ingress.example.com/ct/calls", "description": "leadsync"})
    );
    subscribe(&sb, "Call", "https://ingress.example.com/ct/calls").await;
    let (s, page) = ct_json(&sb, Method::GET, "/api/resthooksubscriptions/", None).await;
    assert_eq!(
        (s, &page["count"]),
        (200, &json!(2)),
        "CallTools does not dedupe"
    );

    let (s, _) = ct_json(&sb, Method::DELETE, "/api/resthooksubscriptions/901/", None).await;
    assert_eq!(s, 204);
    let (s, v) = ct_json(&sb, Method::DELETE, "/api/resthooksubscriptions/901/", None).await;
    assert_eq!((s, v), (404, json!({"detail": "Not found."})));
    let (_, page) = ct_json(&sb, Method::GET, "/api/resthooksubscriptions/", None).await;
    assert_eq!(page["results"][0]["id"], 902);
}

#[tokio::test]
async fn a_bad_subscription_is_a_drf_400() {
    let sb = sandbox().await;
    let path = "/api/resthooksubscriptions/";
    let (s, v) = ct_json(
        &sb,
        Method::POST,
        path,
        Some(json!({"resthook_model": "Calls", "url": "https://x.example.com/"})),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"resthook_model": ["\"Calls\" is not a valid choice."]})
        )
    );
    let (s, v) = ct_json(
        &sb,
        Method::POST,
        path,
        Some(json!({"resthook_model": "Contact"})),
    )
    .await;
    assert_eq!((s, v), (400, json!({"url": ["This field is required."]})));
    let (_, page) = ct_json(&sb, Method::GET, path, None).await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn a_call_hook_posts_the_call_as_the_api_renders_it_unsigned() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    subscribe(&sb, "Contact", &format!("{}-contacts", rx.url)).await;
    let contact = seeded_contact(&sb, PHONE).await;

    let call = dial(
        &sb,
        json!({"contact": contact, "disposition": "Call Back", "duration": 30, "agent": "agent.smith"}),
    )
    .await;

    let hit = rx.wait_for(1).await.remove(0);
    let (_, read) = ct_json(
        &sb,
        Method::GET,
        &format!("/api/calls/{}/", call["id"]),
        None,
    )
    .await;
    assert_eq!(hit.json(), read);
    assert_eq!(hit.headers["content-type"], "application/json");
    assert!(
        hit.headers
            .keys()
            .all(|k| !k.as_str().contains("signature")),
        "CallTools signs nothing: {:?}",
        hit.headers
    );
    let hooks = settled(&sb).await;
    assert_eq!(
        hooks,
        [
            json!({"model": "Call", "object_id": call["id"].clone(), "url": rx.url, "status": 200, "dropped": false})
        ],
        "a disposition that is not DNC leaves the contact alone: no Contact hook"
    );
}

#[tokio::test]
async fn a_call_is_posted_at_dial_again_at_wrap_up_and_again_when_its_recording_arrives() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    let contact = seeded_contact(&sb, PHONE).await;
    let call = dial(&sb, json!({"contact": contact, "agent": "agent.smith"})).await;
    let id = call["id"].as_i64().unwrap();
    let c = client(&sb);
    c.calltools_wrap_up(id, Some("Not Interested"), false)
        .await
        .unwrap();
    c.calltools_wrap_up(id, None, true).await.unwrap();
    let hits: Vec<Value> = rx.wait_for(3).await.iter().map(|h| h.json()).collect();
    assert!(hits[0]["disposition"].is_null(), "{}", hits[0]);
    assert!(hits[0]["end_time"].is_null(), "still going");
    assert_eq!(hits[1]["disposition"]["name"], "Not Interested");
    assert!(hits[1]["recording_url"].is_null(), "not stored yet");
    assert_eq!(hits[2]["disposition"]["name"], "Not Interested");
    assert!(
        hits[2]["recording_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/recordings/{id}.mp3"))),
        "{}",
        hits[2]
    );
    let (_, read) = ct_json(&sb, Method::GET, &format!("/api/calls/{id}/"), None).await;
    assert_eq!(hits[2], read);
    // A disposition the account lacks, or a call that does not exist: 400, 404.
    let wrong = c.calltools_wrap_up(id, Some("not interested"), false).await;
    assert!(wrong.is_err());
    assert!(c.calltools_wrap_up(99, None, true).await.is_err());
}

#[tokio::test]
async fn a_dnc_disposition_marks_the_contact_and_fires_its_contact_hook() {
    let calls = receiver(&[]).await;
    let contacts = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &calls.url).await;
    subscribe(&sb, "Contact", &contacts.url).await;
    let id = seeded_contact(&sb, PHONE).await;

    let call = dial(
        &sb,
        json!({"contact": id, "disposition": "Do Not Call", "duration": 3}),
    )
    .await;

    assert_eq!(call["disposition"]["is_dnc"], true);
    let hit = contacts.wait_for(1).await.remove(0);
    let (_, read) = ct_json(&sb, Method::GET, &format!("/api/contacts/{id}/"), None).await;
    assert_eq!(read["do_not_contact"], true);
    assert_eq!(hit.json(), read);
    assert_eq!(calls.wait_for(1).await[0].json()["id"], call["id"]);
}

#[tokio::test]
async fn do_not_contact_fires_the_contact_hook_only_when_it_changes() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Contact", &rx.url).await;
    let id = seeded_contact(&sb, PHONE).await;
    let (_, read) = ct_json(&sb, Method::GET, &format!("/api/contacts/{id}/"), None).await;
    assert_eq!(
        read["do_not_contact"], false,
        "rendered before it is ever set"
    );
    let sandbox = client(&sb);

    let answered = sandbox
        .calltools_set_do_not_contact(id, true)
        .await
        .unwrap();
    assert_eq!(answered["do_not_contact"], true);
    sandbox
        .calltools_set_do_not_contact(id, true)
        .await
        .unwrap();
    sandbox
        .calltools_set_do_not_contact(id, false)
        .await
        .unwrap();

    let hooks = settled(&sb).await;
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    let mut sent: Vec<Value> = rx
        .hits()
        .iter()
        .map(|h| h.json()["do_not_contact"].clone())
        .collect();
    sent.sort_by_key(Value::to_string);
    assert_eq!(sent, [json!(false), json!(true)]);
    let (s, _) = admin(
        &sb,
        Method::POST,
        "/calltools/contacts/1/do_not_contact",
        Some(json!({"value": true})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn duplicates_carry_the_same_bytes_each_after_the_delay() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    let id = seeded_contact(&sb, PHONE).await;
    let sandbox = client(&sb);
    let settings = json!({"duplicates": 2, "delay_ms": 300, "drop_next": 0});
    let set = sandbox
        .set_calltools_hook_delivery(settings.clone())
        .await
        .unwrap();
    assert_eq!(set, settings);

    let started = Instant::now();
    sandbox.calltools_dial(id, Some("Sale"), 60).await.unwrap();
    assert!(
        rx.hits().is_empty(),
        "the first POST waits for the delay too"
    );
    let (_, flight) = admin(&sb, Method::GET, "/calltools/hooks?settled=1", None).await;
    assert_eq!(flight, json!({"in_flight": 1}));

    let hooks = sandbox
        .calltools_hooks_settled(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        outcomes(&hooks),
        vec![("Call".to_owned(), Some(200), false); 3]
    );
    let hits = rx.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.body == hits[0].body));
}

#[tokio::test]
async fn drop_next_loses_whole_hooks_then_counts_down() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    subscribe(&sb, "Call", &rx.url).await;
    let id = seeded_contact(&sb, PHONE).await;
    let sandbox = client(&sb);
    sandbox
        .set_calltools_hook_delivery(json!({"duplicates": 1, "drop_next": 1}))
        .await
        .unwrap();

    sandbox.calltools_dial(id, None, 10).await.unwrap();
    let hooks = settled(&sb).await;

    let (_, settings) = admin(&sb, Method::GET, "/calltools/hook_delivery", None).await;
    assert_eq!(
        settings,
        json!({"duplicates": 1, "delay_ms": 0, "drop_next": 0})
    );
    assert_eq!(
        outcomes(&hooks),
        [
            ("Call".to_owned(), None, true),
            ("Call".to_owned(), Some(200), false),
            ("Call".to_owned(), Some(200), false),
        ],
        "the dropped hook sends no duplicate either"
    );
    assert_eq!(rx.hits().len(), 2);
    sandbox.calltools_dial(id, None, 10).await.unwrap();
    assert_eq!(settled(&sb).await.len(), 3 + 4);
}

#[tokio::test]
async fn a_failed_hook_is_recorded_and_not_retried() {
    let rx = receiver(&[500]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    subscribe(&sb, "Call", "http://127.0.0.1:9/unreachable").await;
    let id = seeded_contact(&sb, PHONE).await;
    client(&sb).calltools_dial(id, None, 1).await.unwrap();
    let mut statuses: Vec<Option<u64>> = outcomes(&settled(&sb).await)
        .into_iter()
        .map(|(_, status, _)| status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [None, Some(500)]);
    assert_eq!(rx.hits().len(), 1);
}

#[tokio::test]
async fn hooks_are_cleared_and_a_reset_restores_the_delivery_defaults() {
    let rx = receiver(&[]).await;
    let sb = sandbox().await;
    subscribe(&sb, "Call", &rx.url).await;
    let id = seeded_contact(&sb, PHONE).await;
    let sandbox = client(&sb);
    sandbox.calltools_dial(id, None, 1).await.unwrap();
    assert_eq!(settled(&sb).await.len(), 1);
    let (s, _) = admin(&sb, Method::DELETE, "/calltools/hooks", None).await;
    assert_eq!(s, 204);
    assert!(sandbox.calltools_hooks().await.unwrap().is_empty());

    sandbox
        .set_calltools_hook_delivery(json!({"delay_ms": 5}))
        .await
        .unwrap();
    admin(&sb, Method::POST, "/reset", None).await;
    let (_, settings) = admin(&sb, Method::GET, "/calltools/hook_delivery", None).await;
    assert_eq!(
        settings,
        json!({"duplicates": 0, "delay_ms": 0, "drop_next": 0})
    );
    let (_, page) = ct_json(&sb, Method::GET, "/api/resthooksubscriptions/", None).await;
    assert_eq!(page["count"], 0);
    let (s, v) = admin(
        &sb,
        Method::POST,
        "/calltools/hook_delivery",
        Some(json!({"duplicate": 1})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
}
