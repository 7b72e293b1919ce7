//! CallTools writes: duplicates, buckets, tags, and what the sandbox records of them.

use reqwest::Method;
use serde_json::json;

use super::super::DuplicateMode;
use super::*;

#[tokio::test]
async fn a_duplicate_phone_merges_and_blank_fields_clobber() {
    let sb = sandbox().await;
    let (_, created) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(json!({"first_name": "Ada", "last_name": "Lovelace", "mobile_phone_number": PHONE, "city": "London"})),
    )
    .await;
    let id = created["id"].as_i64().unwrap();

    // WHEN the same phone is posted again with a blank last name and a bucket
    let (status, merged) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(json!({"first_name": "Augusta", "last_name": "", "mobile_phone_number": PHONE, "add_buckets": [11237]})),
    )
    .await;

    // THEN the answer is the duplicate shape, not a contact
    assert_eq!(status, 200);
    assert_eq!(
        merged,
        json!({"duplicate_contacts": [id], "duplicate_action": "MERGE"})
    );
    let (_, c) = ct_json(&sb, Method::GET, &format!("/api/contacts/{id}/"), None).await;
    assert_eq!(c["first_name"], "Augusta");
    assert_eq!(c["last_name"], "", "a blank clobbers the existing value");
    assert_eq!(c["city"], "London", "an omitted field is left alone");
    assert_eq!(
        c["buckets"],
        json!([]),
        "add_buckets is not applied on MERGE"
    );
    let (_, all) = ct_json(&sb, Method::GET, "/api/contacts/", None).await;
    assert_eq!(all["count"], 1);
}

#[tokio::test]
async fn allow_duplicates_mode_creates_a_second_contact() {
    let sb = sandbox_with(|c| c.duplicate_mode = DuplicateMode::AllowDuplicates).await;
    let (s1, a) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    let (s2, b) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!((s1, s2), (201, 201));
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn buckets_and_tags_follow_contact_writes() {
    let sb = sandbox().await;
    let (s, tag) = ct_json(
        &sb,
        Method::POST,
        "/api/alltags/",
        Some(json!({"name": "cold lead"})),
    )
    .await;
    assert_eq!(s, 201);
    let tag_id = tag["id"].as_i64().unwrap();
    let (_, found) = ct_json(&sb, Method::GET, "/api/alltags/?name=cold%20lead", None).await;
    assert_eq!(found["results"][0]["id"], tag_id);

    let mut body = contact_body(PHONE);
    body["add_tags"] = json!([tag_id]);
    body["add_buckets"] = json!([11237]);
    let (_, c) = ct_json(&sb, Method::POST, "/api/contacts/", Some(body)).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(
        (c["tags"].clone(), c["buckets"].clone()),
        (json!([tag_id]), json!([11237]))
    );

    let (_, bucket) = ct_json(&sb, Method::GET, "/api/buckets/11237/", None).await;
    assert_eq!(
        bucket,
        json!({"id": 11237, "name": "Cold Leads", "contact_count": 1})
    );

    let (s, bucket) = ct_json(
        &sb,
        Method::PATCH,
        "/api/buckets/11237/",
        Some(json!({"remove_contacts": [id]})),
    )
    .await;
    assert_eq!((s, bucket["contact_count"].clone()), (200, json!(0)));
    let (_, bucket) = ct_json(
        &sb,
        Method::PATCH,
        "/api/buckets/11237/",
        Some(json!({"add_contacts": [id]})),
    )
    .await;
    assert_eq!(bucket["contact_count"], 1);

    let (_, c) = ct_json(
        &sb,
        Method::PATCH,
        &format!("/api/contacts/{id}/"),
        Some(json!({"remove_tags": [tag_id], "remove_buckets": [11237]})),
    )
    .await;
    assert_eq!(
        (c["tags"].clone(), c["buckets"].clone()),
        (json!([]), json!([]))
    );

    let (_, list) = ct_json(&sb, Method::GET, "/api/buckets/", None).await;
    assert_eq!(list["count"], 1);
    let (s, _) = ct_json(&sb, Method::DELETE, &format!("/api/contacts/{id}/"), None).await;
    assert_eq!(s, 204);
    let (s, v) = ct_json(&sb, Method::GET, &format!("/api/contacts/{id}/"), None).await;
    assert_eq!((s, v), (404, json!({"detail": "Not found."})));
}

#[tokio::test]
async fn every_api_call_is_logged_but_seeding_is_not() {
    let sb = sandbox().await;
    let (s, _) = admin(
        &sb,
        Method::POST,
        "/calltools/contacts",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(s, 201);
    ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?phone_number=+17864771573",
        None,
    )
    .await;
    ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE_2)),
    )
    .await;

    let (_, log) = admin(&sb, Method::GET, "/calltools/calls", None).await;
    let calls = log["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["query"], "phone_number=+17864771573");
    assert_eq!(calls[0]["status"], 200);
    assert_eq!(calls[1]["method"], "POST");
    assert_eq!(calls[1]["path"], "/api/contacts/");
    assert_eq!(calls[1]["request_json"]["mobile_phone_number"], PHONE_2);
    assert_eq!(calls[1]["status"], 201);

    let (_, contacts) = admin(&sb, Method::GET, "/calltools/contacts", None).await;
    assert_eq!(contacts["contacts"].as_array().unwrap().len(), 2);

    admin(&sb, Method::DELETE, "/calltools/calls", None).await;
    let (_, log) = admin(&sb, Method::GET, "/calltools/calls", None).await;
    assert_eq!(log["calls"], json!([]));

    admin(&sb, Method::POST, "/reset", None).await;
    let (_, contacts) = admin(&sb, Method::GET, "/calltools/contacts", None).await;
    assert_eq!(contacts["contacts"], json!([]));
    sb.shutdown().await;
}

#[tokio::test]
async fn tag_side_add_contacts_succeeds_but_does_nothing() {
    let sb = sandbox().await;
    let (_, tag) = ct_json(
        &sb,
        Method::POST,
        "/api/alltags/",
        Some(json!({"name": "cold lead"})),
    )
    .await;
    let (_, c) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    let path = format!("/api/alltags/{}/", tag["id"]);
    let (s, after) = ct_json(
        &sb,
        Method::PATCH,
        &path,
        Some(json!({"add_contacts": [c["id"]]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(after["contact_count"], 0, "the T-repo trap (ff09add)");
}
