//! GoHighLevel's API writes: tags, notes and `PUT /contacts/{id}`, their webhooks, and the
//! checks (auth, rate limit, call log) they share with the reads.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::*;
use crate::SandboxClient;

/// A GoHighLevel API request with the sandbox token and the v2 `Version`.
async fn ghl(sb: &Sandbox, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = http()
        .request(method, format!("{}{path}", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let mut v: Value = r.json().await.unwrap();
    if let Some(map) = v.as_object_mut() {
        map.remove("traceId");
    }
    (status, v)
}

async fn webhook_sandbox(rx: &Receiver) -> Sandbox {
    let url = rx.url.clone();
    sandbox_with(move |c| c.marketplace_webhook_url = Some(url)).await
}

/// Every webhook sent so far, once none is in flight any more.
async fn settled_deliveries(sb: &Sandbox) -> Vec<Value> {
    for _ in 0..500 {
        let (_, v) = admin(sb, Method::GET, "/ghl/deliveries", None).await;
        if v["in_flight"] == 0 {
            return v["deliveries"].as_array().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("GHL webhooks still in flight after 5 s");
}

fn kinds(deliveries: &[Value]) -> Vec<&str> {
    deliveries
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect()
}

/// The `ContactTagUpdate` among the first two webhooks (the create's may arrive second).
async fn tag_update(rx: &Receiver) -> Value {
    let hits = rx.wait_for(2).await;
    let updates: Vec<Value> = hits
        .iter()
        .map(Hit::json)
        .filter(|p| p["type"] == "ContactTagUpdate")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    updates[0].clone()
}

async fn contact_id(sb: &Sandbox, body: Value) -> String {
    new_ghl_contact(sb, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn adding_tags_answers_201_with_every_tag_as_stored_and_sends_contact_tag_update() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let id = contact_id(&sb, json!({"firstName": "Ada", "tags": ["a"]})).await;
    let (_, before) = ghl(&sb, Method::GET, &format!("/contacts/{id}"), None).await;

    // WHEN a tag is added in another case
    let path = format!("/contacts/{id}/tags");
    let (s, v) = ghl(&sb, Method::POST, &path, Some(json!({"tags": ["B", "a"]}))).await;

    // THEN the answer lists every tag, lower-cased as the account stores them
    assert_eq!((s, v), (201, json!({"tags": ["a", "b"]})));
    let p = tag_update(&rx).await;
    assert_eq!(p["tags"], json!(["a", "b"]));
    let (_, after) = ghl(&sb, Method::GET, &format!("/contacts/{id}"), None).await;
    assert!(after["contact"]["dateUpdated"].as_str() > before["contact"]["dateUpdated"].as_str());
}

#[tokio::test]
async fn removing_tags_answers_200_with_the_tags_left() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let id = contact_id(&sb, json!({"firstName": "Ada", "tags": ["a", "b"]})).await;
    let path = format!("/contacts/{id}/tags");
    let (s, v) = ghl(&sb, Method::DELETE, &path, Some(json!({"tags": ["A"]}))).await;
    assert_eq!((s, v), (200, json!({"tags": ["b"]})));
    assert_eq!(tag_update(&rx).await["tags"], json!(["b"]));
    let (s, v) = ghl(&sb, Method::DELETE, &path, Some(json!({"tags": "b"}))).await;
    assert_eq!((s, &v["message"]), (422, &json!(["tags must be an array"])));
}

#[tokio::test]
async fn notes_are_listed_in_creation_order_and_leave_the_contact_alone() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let id = contact_id(&sb, json!({"firstName": "Ada"})).await;
    let (_, before) = ghl(&sb, Method::GET, &format!("/contacts/{id}"), None).await;
    let path = format!("/contacts/{id}/notes");

    let (s, first) = ghl(
        &sb,
        Method::POST,
        &path,
        Some(json!({"body": "Called, no answer"})),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let note = &first["note"];
    assert_eq!(note["id"].as_str().unwrap().len(), 20);
    assert_eq!(note["body"], "Called, no answer");
    assert!(note.get("userId").is_some_and(Value::is_null), "{note}");
    let added = note["dateAdded"].as_str().unwrap();
    assert!(added.ends_with('Z') && added.len() == 24, "{added}");
    assert_eq!(note["contactId"], id.as_str());
    let (_, second) = ghl(
        &sb,
        Method::POST,
        &path,
        Some(json!({"body": "Sale", "userId": "u1"})),
    )
    .await;
    assert_eq!(second["note"]["userId"], "u1");

    let (s, list) = ghl(&sb, Method::GET, &path, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["notes"], json!([first["note"], second["note"]]));
    let (_, after) = ghl(&sb, Method::GET, &format!("/contacts/{id}"), None).await;
    assert_eq!(
        after["contact"]["dateUpdated"],
        before["contact"]["dateUpdated"]
    );
    assert_eq!(kinds(&settled_deliveries(&sb).await), ["ContactCreate"]);
}

#[tokio::test]
async fn an_empty_or_missing_note_body_is_a_422() {
    let sb = sandbox().await;
    let id = contact_id(&sb, json!({"firstName": "Ada"})).await;
    let path = format!("/contacts/{id}/notes");
    for body in [json!({"body": ""}), json!({"userId": "u1"})] {
        let (s, v) = ghl(&sb, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(
            v,
            json!({"statusCode": 422, "message": ["body should not be empty"], "error": "Unprocessable Entity"}),
            "{body}"
        );
    }
    let (_, list) = ghl(&sb, Method::GET, &path, None).await;
    assert_eq!(list["notes"], json!([]));
}

#[tokio::test]
async fn put_replaces_tags_sets_custom_fields_and_dnd_and_answers_as_get_renders() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let id = contact_id(&sb, json!({"firstName": "Ada", "tags": ["a", "b"]})).await;
    let path = format!("/contacts/{id}");
    let (_, fresh) = ghl(&sb, Method::GET, &path, None).await;
    assert_eq!(fresh["contact"]["customFields"], json!([]));

    let (s, v) = ghl(
        &sb,
        Method::PUT,
        &path,
        Some(json!({
            "tags": ["C", "b"],
            "customFields": [
                {"id": "BcdmQEsNgz6AVpgLVUJ0", "key": "call_outcome", "field_value": "Sale"},
                {"id": "XcdmQEsNgz6AVpgLVUJ1", "field_value": 42}
            ],
            "dndSettings": {"Call": {"status": "active", "message": "asked", "code": "101"}},
            "dnd": true
        })),
    )
    .await;

    assert_eq!(s, 200, "{v}");
    assert_eq!(v["succeded"], true, "GHL's spelling");
    assert!(v.get("succeeded").is_none());
    let (_, read) = ghl(&sb, Method::GET, &path, None).await;
    assert_eq!(v["contact"], read["contact"]);
    let c = &read["contact"];
    assert_eq!(c["tags"], json!(["c", "b"]), "the list replaces every tag");
    assert_eq!(
        c["customFields"],
        json!([{"id": "BcdmQEsNgz6AVpgLVUJ0", "value": "Sale"}, {"id": "XcdmQEsNgz6AVpgLVUJ1", "value": 42}])
    );
    assert_eq!(c["dnd"], true);
    assert_eq!(
        c["dndSettings"],
        json!({"Call": {"status": "active", "message": "asked", "code": "101"}})
    );

    // Delivered concurrently: compared as a set.
    let deliveries = settled_deliveries(&sb).await;
    let mut sent = kinds(&deliveries);
    sent.sort_unstable();
    assert_eq!(
        sent,
        [
            "ContactCreate",
            "ContactDndUpdate",
            "ContactTagUpdate",
            "ContactUpdate"
        ]
    );
    for d in deliveries.iter().filter(|d| d["kind"] != "ContactCreate") {
        let p: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            p["tags"],
            json!(["c", "b"]),
            "the contact after the whole write"
        );
        assert_eq!(p["dnd"], true);
        let has_settings = p["dndSettings"]["Call"]["status"] == "active";
        assert_eq!(has_settings, d["kind"] == "ContactDndUpdate", "{p}");
    }
}

#[tokio::test]
async fn put_merges_custom_fields_by_id_and_dnd_per_channel() {
    let sb = sandbox().await;
    let id = contact_id(&sb, json!({"firstName": "Ada", "tags": ["a"]})).await;
    let path = format!("/contacts/{id}");
    let first = json!({
        "customFields": [{"id": "f1", "field_value": "one"}, {"id": "f2", "field_value": "two"}],
        "dndSettings": {"Call": {"status": "active"}}
    });
    assert_eq!(ghl(&sb, Method::PUT, &path, Some(first)).await.0, 200);
    let second = json!({
        "customFields": [{"id": "f2", "field_value": "TWO"}, {"id": "f3", "field_value": 3}],
        "dndSettings": {"SMS": {"status": "inactive"}}
    });
    let (s, v) = ghl(&sb, Method::PUT, &path, Some(second)).await;
    assert_eq!(s, 200, "{v}");
    let c = &v["contact"];
    assert_eq!(
        c["customFields"],
        json!([{"id": "f1", "value": "one"}, {"id": "f2", "value": "TWO"}, {"id": "f3", "value": 3}])
    );
    assert_eq!(c["dndSettings"]["Call"]["status"], "active");
    assert_eq!(c["dndSettings"]["SMS"]["status"], "inactive");
    assert_eq!(c["tags"], json!(["a"]), "no tags key, tags untouched");
}

#[tokio::test]
async fn put_adding_the_trigger_tag_starts_the_workflow() {
    let rx = receiver(&[]).await;
    let url = rx.url.clone();
    let sb = sandbox_with(move |c| c.workflow_webhook_url = Some(url)).await;
    let id = contact_id(&sb, json!({"firstName": "Ada", "tags": ["warm"]})).await;
    let (s, _) = ghl(
        &sb,
        Method::PUT,
        &format!("/contacts/{id}"),
        Some(json!({"tags": ["Cold Lead"]})),
    )
    .await;
    assert_eq!(s, 200);
    let hit = rx.wait_for(1).await.remove(0);
    assert_eq!(hit.json()["contact_id"], id.as_str());
    assert_eq!(hit.json()["tags"], "cold lead");
}

#[tokio::test]
async fn put_refuses_unknown_properties_and_wrong_types_with_every_message() {
    let sb = sandbox().await;
    let id = contact_id(&sb, json!({"firstName": "Ada"})).await;
    let path = format!("/contacts/{id}");
    let (s, v) = ghl(
        &sb,
        Method::PUT,
        &path,
        Some(json!({
            "locationId": "x",
            "dnd": "yes",
            "tags": [1],
            "customFields": [{"key": "only_a_key", "field_value": true}],
            "dndSettings": {"Fax": {"status": "active"}, "Call": {"status": "on"}}
        })),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "Unprocessable Entity");
    let messages: Vec<&str> = v["message"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for expected in [
        "property locationId should not exist",
        "dnd must be a boolean value",
        "each value in tags must be a string",
        "customFields.0.id should not be empty",
        "customFields.0.field_value must be a string or a number",
        "dndSettings.property Fax should not exist",
        "dndSettings.Call.status must be one of the following values: active, inactive, permanent",
    ] {
        assert!(messages.contains(&expected), "{expected} in {messages:?}");
    }
    let (_, read) = ghl(&sb, Method::GET, &path, None).await;
    assert_eq!(read["contact"]["dnd"], false, "nothing was written");
}

#[tokio::test]
async fn every_write_to_an_unknown_contact_answers_as_the_read_does() {
    let sb = sandbox().await;
    let id = "nmFmQEsNgz6AVpgLVUJ0";
    let writes = [
        (
            Method::POST,
            format!("/contacts/{id}/tags"),
            Some(json!({"tags": ["a"]})),
        ),
        (
            Method::DELETE,
            format!("/contacts/{id}/tags"),
            Some(json!({"tags": ["a"]})),
        ),
        (
            Method::POST,
            format!("/contacts/{id}/notes"),
            Some(json!({"body": "x"})),
        ),
        (Method::GET, format!("/contacts/{id}/notes"), None),
        (
            Method::PUT,
            format!("/contacts/{id}"),
            Some(json!({"dnd": true})),
        ),
    ];
    // The default account answers as its read does: 400 "Contact not found".
    for (method, path, body) in writes.clone() {
        let (s, v) = ghl(&sb, method.clone(), &path, body).await;
        assert_eq!(
            (s, v),
            (
                400,
                json!({"statusCode": 400, "message": "Contact not found", "error": "Bad Request"})
            ),
            "{method} {path}"
        );
    }
    let (status, _) = admin(
        &sb,
        Method::POST,
        "/ghl/account",
        Some(json!({"deleted_answer": "not_found_404"})),
    )
    .await;
    assert_eq!(status, 200);
    for (method, path, body) in writes {
        let (s, v) = ghl(&sb, method.clone(), &path, body).await;
        assert_eq!(
            (s, v),
            (
                404,
                json!({"statusCode": 404, "message": "Contact not found", "error": "Not Found"})
            ),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn writes_are_logged_authenticated_and_rate_limited_like_reads() {
    let sb = sandbox().await;
    let id = contact_id(&sb, json!({"firstName": "Ada"})).await;
    let tags = format!("/contacts/{id}/tags");
    let r = http()
        .post(format!("{}{tags}", sb.url))
        .header("version", "2021-07-28")
        .json(&json!({"tags": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    for _ in 0..99 {
        assert_eq!(
            ghl(&sb, Method::GET, &format!("/contacts/{id}"), None)
                .await
                .0,
            200
        );
    }
    let (s, _) = ghl(&sb, Method::POST, &tags, Some(json!({"tags": ["a"]}))).await;
    assert_eq!(s, 201, "the 100th call is still allowed");
    let (s, _) = ghl(
        &sb,
        Method::PUT,
        &format!("/contacts/{id}"),
        Some(json!({"dnd": true})),
    )
    .await;
    assert_eq!(s, 429, "the 101st is throttled, a write as much as a read");

    let (_, log) = admin(&sb, Method::GET, "/ghl/calls", None).await;
    let calls = log["calls"].as_array().unwrap();
    let last: Vec<(&Value, &Value, &Value)> = calls[calls.len() - 2..]
        .iter()
        .map(|c| (&c["method"], &c["path"], &c["status"]))
        .collect();
    assert_eq!(
        last,
        [
            (&json!("POST"), &json!(tags), &json!(201)),
            (
                &json!("PUT"),
                &json!(format!("/contacts/{id}")),
                &json!(429)
            )
        ]
    );
}

#[tokio::test]
async fn ghl_notes_are_readable_through_the_client_without_an_api_call() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();
    let r = http()
        .post(format!("{}/contacts/{id}/notes", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28")
        .json(&json!({"body": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    admin(&sb, Method::DELETE, "/ghl/calls", None).await;
    let notes = SandboxClient::new(http(), sb.url.clone())
        .ghl_notes(id)
        .await
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["body"], "hello");
    let (_, log) = admin(&sb, Method::GET, "/ghl/calls", None).await;
    assert_eq!(log["calls"], json!([]));
}
