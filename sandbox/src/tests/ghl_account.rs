//! The played GoHighLevel account's variants (`/_sandbox/ghl/account`): empty fields, tag case
//! and search, webhook timestamp precision, a frozen clock, and how contact reads are refused.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::*;

async fn get_contact(sb: &Sandbox, id: &str) -> reqwest::Response {
    http()
        .get(format!("{}/contacts/{id}", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28")
        .send()
        .await
        .unwrap()
}

async fn read(sb: &Sandbox, id: &str) -> (u16, Value) {
    let r = get_contact(sb, id).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn tag_search(sb: &Sandbox, operator: &str, value: &str) -> (u16, Value) {
    let r = http()
        .post(format!("{}/contacts/search", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28")
        .json(
            &json!({"locationId": SandboxConfig::default().location_id, "pageLimit": 10,
            "filters": [{"field": "tags", "operator": operator, "value": value}]}),
        )
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn account(sb: &Sandbox, changes: Value) -> Value {
    let (status, v) = admin(sb, Method::POST, "/ghl/account", Some(changes)).await;
    assert_eq!(status, 200, "{v}");
    v["account"].clone()
}

#[tokio::test]
async fn empty_fields_are_null_by_default_and_can_be_left_out() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();

    let (_, body) = read(&sb, id).await;
    let got = &body["contact"];
    for field in ["email", "phone", "lastName", "tags"] {
        assert!(
            got[field].is_null() && got.get(field).is_some(),
            "{field}: {got}"
        );
    }
    let (_, page) = tag_search(&sb, "not_exists", "").await;
    assert!(page["contacts"][0]["tags"].is_null(), "{page}");
    assert!(
        page["contacts"][0].get("email").is_some(),
        "search items carry null too"
    );

    account(&sb, json!({"empty_fields": "omitted"})).await;
    let (_, body) = read(&sb, id).await;
    for field in ["email", "phone", "lastName"] {
        assert!(body["contact"].get(field).is_none(), "{field}");
    }
}

#[tokio::test]
async fn tags_are_stored_lower_case_and_searched_as_documented() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada", "tags": ["Cold Lead"]})).await;
    assert_eq!(c["tags"], json!(["cold lead"]));

    assert_eq!(tag_search(&sb, "eq", "cold lead").await.1["total"], 1);
    assert_eq!(tag_search(&sb, "eq", "Cold Lead").await.1["total"], 0);
    let (status, refused) = tag_search(&sb, "contains", "cold lead").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["statusCode"], 422);
    assert!(refused["message"][0].as_str().unwrap().contains("eq"));

    account(
        &sb,
        json!({"tag_search": "lenient", "tag_case": "as_written"}),
    )
    .await;
    let kept = new_ghl_contact(&sb, json!({"firstName": "Bo", "tags": ["Hot Lead"]})).await;
    assert_eq!(kept["tags"], json!(["Hot Lead"]));
    assert_eq!(tag_search(&sb, "contains", "hot lead").await.1["total"], 1);
}

#[tokio::test]
async fn contact_reads_can_be_refused_each_way_ghl_refuses_them() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap().to_string();

    let (status, gone) = read(&sb, "doesNotExist00000000").await;
    assert_eq!(
        (status, gone["message"].clone()),
        (400, json!("Contact not found"))
    );

    account(&sb, json!({"deleted_answer": "not_found_404"})).await;
    let (status, gone) = read(&sb, "doesNotExist00000000").await;
    assert_eq!(
        (status, gone["message"].clone()),
        (404, json!("Contact not found"))
    );

    for (answer, status, message) in [
        (
            "invalid_version_400",
            400,
            json!("Version header is invalid"),
        ),
        ("unprocessable_422", 422, json!(["Unprocessable Entity"])),
        ("not_found_400", 400, json!("Contact not found")),
    ] {
        account(&sb, json!({"read_answers": {&id: answer}})).await;
        let (got, body) = read(&sb, &id).await;
        assert_eq!(
            (got, body["message"].clone()),
            (status, message),
            "{answer}"
        );
        assert_eq!(body["statusCode"], status);
    }
    account(&sb, json!({"read_answers": {}})).await;
    assert_eq!(read(&sb, &id).await.0, 200);
}

#[tokio::test]
async fn webhook_timestamps_are_whole_seconds_and_a_frozen_clock_stamps_writes_alike() {
    let rx = receiver(&[]).await;
    let url = rx.url.clone();
    let sb = sandbox_with(move |c| {
        c.marketplace_webhook_url = Some(url);
        c.ghl_retry_interval = Duration::from_millis(20);
    })
    .await;
    let frozen: i64 = 1_795_168_800_456;
    account(&sb, json!({"frozen_at_ms": frozen})).await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada", "phone": PHONE})).await;
    let id = c["id"].as_str().unwrap();
    let (status, _) = admin(
        &sb,
        Method::PATCH,
        &format!("/ghl/contacts/{id}"),
        Some(json!({"firstName": "Augusta"})),
    )
    .await;
    assert_eq!(status, 200);

    let hits = rx.wait_for(2).await;
    let stamps: Vec<Value> = hits.iter().map(|h| h.json()["timestamp"].clone()).collect();
    assert_eq!(
        stamps,
        [json!("2026-11-20T10:00:00Z"), json!("2026-11-20T10:00:00Z")],
        "both changes in one second carry the same documented-precision timestamp"
    );
    let (_, body) = read(&sb, id).await;
    assert_eq!(body["contact"]["dateAdded"], "2026-11-20T10:00:00.456Z");
    assert_eq!(
        body["contact"]["dateUpdated"], "2026-11-20T10:00:00.457Z",
        "each write still moves dateUpdated on"
    );

    account(&sb, json!({"timestamp_precision": "milliseconds"})).await;
    admin(
        &sb,
        Method::PATCH,
        &format!("/ghl/contacts/{id}"),
        Some(json!({"firstName": "Ada"})),
    )
    .await;
    let hits = rx.wait_for(3).await;
    assert_eq!(hits[2].json()["timestamp"], "2026-11-20T10:00:00.456Z");
}

/// A load test raises the burst limit; the answers' headers say the raised figure, and the
/// limit still holds at it. Zero is refused (it would refuse every call).
#[tokio::test]
async fn a_raised_burst_limit_is_announced_and_enforced() {
    let sb = sandbox().await;
    let (status, _) = admin(
        &sb,
        Method::POST,
        "/ghl/account",
        Some(json!({"burst_limit": 0})),
    )
    .await;
    assert_eq!(status, 400);
    account(&sb, json!({"burst_limit": 103})).await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ann"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    for n in 1..=103 {
        let r = get_contact(&sb, &id).await;
        assert_eq!(r.status(), 200, "request {n}");
        assert_eq!(r.headers()["x-ratelimit-max"], "103");
        assert_eq!(
            r.headers()["x-ratelimit-remaining"],
            (103 - n).to_string().as_str()
        );
    }
    assert_eq!(read(&sb, &id).await.0, 429, "the 104th within 10 s");
}

#[tokio::test]
async fn unknown_account_settings_are_refused() {
    let sb = sandbox().await;
    let (status, v) = admin(
        &sb,
        Method::POST,
        "/ghl/account",
        Some(json!({"tag_serch": "lenient"})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let (_, v) = admin(&sb, Method::GET, "/ghl/account", None).await;
    assert_eq!(v["account"]["tag_search"], "documented");
}
