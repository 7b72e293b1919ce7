//! CallTools' calls and dispositions: what an agent's dial leaves behind and how the API lists
//! it, the start-time filter honoured or ignored included.

use reqwest::Method;
use serde_json::json;

use super::super::calltools::calls::parse_ct_datetime;
use super::*;

pub(super) async fn seeded_contact(sb: &Sandbox, phone: &str) -> i64 {
    let (s, c) = admin(
        sb,
        Method::POST,
        "/calltools/contacts",
        Some(contact_body(phone)),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    c["id"].as_i64().unwrap()
}

pub(super) async fn dial(sb: &Sandbox, body: Value) -> Value {
    let (s, v) = admin(sb, Method::POST, "/calltools/dial", Some(body)).await;
    assert_eq!(s, 200, "{v}");
    v["call"].clone()
}

#[tokio::test]
async fn a_dial_leaves_a_call_readable_at_its_id() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    let call = dial(
        &sb,
        json!({"contact": contact, "disposition": "Not Interested", "duration": 42,
               "agent": "agent.smith", "recording": true}),
    )
    .await;

    assert_eq!(call["id"], 5001);
    assert_eq!(call["contact"], contact);
    assert_eq!(
        call["disposition"],
        json!({"id": 3, "name": "Not Interested", "is_dnc": false})
    );
    assert_eq!(
        call["user"],
        json!({"id": 7, "username": "agent.smith", "first_name": "Agent", "last_name": "Smith"})
    );
    assert_eq!(call["duration"], 42);
    let start = parse_ct_datetime(call["start_time"].as_str().unwrap()).unwrap();
    let end = parse_ct_datetime(call["end_time"].as_str().unwrap()).unwrap();
    assert_eq!(end - start, 42);
    assert_eq!(
        call["start_time"].as_str().unwrap().len(),
        19,
        "YYYY-MM-DD HH:MM:SS"
    );
    assert_eq!(
        call["recording_url"],
        format!("{}/recordings/5001.mp3", sb.url)
    );
    assert_eq!(call["direction"], "outbound");

    let (s, read) = ct_json(&sb, Method::GET, "/api/calls/5001/", None).await;
    assert_eq!((s, read), (200, call));
    let second = dial(&sb, json!({"contact": contact, "duration": 5})).await;
    assert_eq!(second["id"], 5002);
    let (s, v) = ct_json(&sb, Method::GET, "/api/calls/9999/", None).await;
    assert_eq!((s, v), (404, json!({"detail": "Not found."})));
}

#[tokio::test]
async fn absent_parts_of_a_call_are_null_not_left_out() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    let call = dial(
        &sb,
        json!({"contact": contact, "disposition": null, "agent": null, "recording": false}),
    )
    .await;
    let (_, read) = ct_json(&sb, Method::GET, "/api/calls/5001/", None).await;
    for key in ["disposition", "user", "end_time", "recording_url"] {
        assert!(read.get(key).is_some_and(Value::is_null), "{key}: {read}");
    }
    assert_eq!((&read["duration"], &call), (&json!(0), &read));
}

#[tokio::test]
async fn calls_are_listed_by_start_time_and_paged_like_every_listing() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    for _ in 0..3 {
        dial(&sb, json!({"contact": contact, "duration": 1})).await;
    }
    let (s, page) = ct_json(&sb, Method::GET, "/api/calls/?page_size=2", None).await;
    assert_eq!(s, 200);
    assert_eq!(page["count"], 3);
    let ids: Vec<&Value> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, [&json!(5001), &json!(5002)]);
    assert!(
        page["next"]
            .as_str()
            .unwrap()
            .ends_with("/api/calls/?page_size=2&page=2")
    );
    assert_eq!(page["previous"], Value::Null);

    let (_, past) = ct_json(
        &sb,
        Method::GET,
        "/api/calls/?start_time__gte=2020-01-01%2000:00:00",
        None,
    )
    .await;
    assert_eq!(past["count"], 3);
    let (_, future) = ct_json(
        &sb,
        Method::GET,
        "/api/calls/?start_time__gte=2999-01-01+00:00:00&page_size=10&page=1",
        None,
    )
    .await;
    assert_eq!(future["count"], 0, "{future}");
    let (s, refused) = ct_json(
        &sb,
        Method::GET,
        "/api/calls/?start_time__gte=yesterday",
        None,
    )
    .await;
    assert_eq!(
        (s, refused),
        (
            400,
            json!({"start_time__gte": ["Enter a valid date/time."]})
        )
    );
}

#[tokio::test]
async fn an_account_that_ignores_the_time_filter_answers_every_call() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    dial(&sb, json!({"contact": contact, "duration": 1})).await;
    let (s, modes) = admin(
        &sb,
        Method::POST,
        "/calltools/modes",
        Some(json!({"call_time_filter": "ignored"})),
    )
    .await;
    assert_eq!((s, &modes["call_time_filter"]), (200, &json!("ignored")));
    let (s, page) = ct_json(
        &sb,
        Method::GET,
        "/api/calls/?start_time__gte=2999-01-01%2000:00:00",
        None,
    )
    .await;
    assert_eq!((s, &page["count"]), (200, &json!(1)), "{page}");
}

#[tokio::test]
async fn the_account_has_its_dispositions() {
    let sb = sandbox().await;
    let (s, page) = ct_json(&sb, Method::GET, "/api/dispositions/", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        page,
        json!({"count": 5, "next": null, "previous": null, "results": [
            {"id": 3, "name": "Not Interested", "is_dnc": false},
            {"id": 4, "name": "Call Back", "is_dnc": false},
            {"id": 5, "name": "No Answer", "is_dnc": false},
            {"id": 6, "name": "Do Not Call", "is_dnc": true},
            {"id": 7, "name": "Sale", "is_dnc": false},
        ]})
    );
}

#[tokio::test]
async fn a_dial_with_an_unknown_disposition_agent_or_contact_is_refused() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    for (body, says) in [
        (
            json!({"contact": contact, "disposition": "not interested"}),
            "disposition \"not interested\" is not one of",
        ),
        (
            json!({"contact": contact, "agent": "agent.brown"}),
            "agent \"agent.brown\" is not one of",
        ),
        (json!({"contact": 1}), "no CallTools contact 1"),
    ] {
        let (s, v) = admin(&sb, Method::POST, "/calltools/dial", Some(body)).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().unwrap().starts_with(says), "{v}");
    }
    let (_, page) = ct_json(&sb, Method::GET, "/api/calls/", None).await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn the_new_routes_pass_the_gate_and_dialing_is_not_an_api_call() {
    let sb = sandbox().await;
    let contact = seeded_contact(&sb, PHONE).await;
    dial(&sb, json!({"contact": contact})).await;
    let r = http()
        .get(format!("{}/api/calls/", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    set_faults(&sb, json!({"script": [{"status": 503}]})).await;
    let (s, _) = ct_json(&sb, Method::GET, "/api/dispositions/", None).await;
    assert_eq!(s, 503);
    let (s, _) = ct_json(&sb, Method::GET, "/api/calls/", None).await;
    assert_eq!(s, 200);
    let (s, _) = ct_json(&sb, Method::GET, "/api/calls", None).await;
    assert_eq!(s, 404, "no trailing slash: Django's HTML 404");

    let (_, log) = admin(&sb, Method::GET, "/calltools/calls", None).await;
    let logged: Vec<(&Value, &Value)> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (&c["path"], &c["status"]))
        .collect();
    assert_eq!(
        logged,
        [
            (&json!("/api/calls/"), &json!(401)),
            (&json!("/api/dispositions/"), &json!(503)),
            (&json!("/api/calls/"), &json!(200)),
            (&json!("/api/calls"), &json!(404)),
        ]
    );
}
