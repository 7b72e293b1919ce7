//! GoHighLevel's `GET /contacts/{id}` and the admin surface that changes contacts.

use reqwest::Method;
use serde_json::json;

use super::*;

fn ghl_get(sb: &Sandbox, id: &str) -> reqwest::RequestBuilder {
    http()
        .get(format!("{}/contacts/{id}", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28")
}

#[tokio::test]
async fn get_contact_returns_the_contact_with_its_dates_and_tags() {
    let sb = sandbox().await;
    let created = new_ghl_contact(
        &sb,
        json!({"firstName": "Ada", "lastName": "Lovelace", "phone": PHONE, "tags": ["cold lead"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 20);

    let r = ghl_get(&sb, id).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-max"], "100");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "99");
    assert_eq!(r.headers()["x-ratelimit-interval-milliseconds"], "10000");
    assert_eq!(r.headers()["x-ratelimit-limit-daily"], "200000");
    assert_eq!(r.headers()["x-ratelimit-daily-remaining"], "199999");
    let body: Value = r.json().await.unwrap();
    let c = &body["contact"];
    assert_eq!(c["id"], id);
    assert_eq!(c["locationId"], "sandboxLocation00001");
    assert_eq!(c["name"], "Ada Lovelace");
    assert_eq!(c["tags"], json!(["cold lead"]));
    let added = c["dateAdded"].as_str().unwrap();
    assert!(added.ends_with('Z') && added.len() == 24, "{added}");
    assert_eq!(c["dateUpdated"], c["dateAdded"]);
}

#[tokio::test]
async fn auth_and_version_errors_are_ghl_shaped() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let url = format!("{}/contacts/{}", sb.url, c["id"].as_str().unwrap());

    let r = http()
        .get(&url)
        .header("version", "2021-07-28")
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["message"], "Invalid token: access token is invalid");
    assert_eq!(body["error"], "Unauthorized");

    let r = http()
        .get(&url)
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["statusCode"], 400);

    let r = http()
        .get(&url)
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2023-02-21")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn unknown_and_deleted_contacts_answer_400_not_found() {
    let sb = sandbox().await;
    let r = ghl_get(&sb, "nmFmQEsNgz6AVpgLVUJ0").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Contact not found"
    );

    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();
    let (s, _) = admin(&sb, Method::DELETE, &format!("/ghl/contacts/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(ghl_get(&sb, id).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn the_101st_call_in_ten_seconds_is_throttled() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();
    for i in 0..100 {
        let r = ghl_get(&sb, id).send().await.unwrap();
        assert_eq!(r.status(), 200, "call {i}");
    }
    let r = ghl_get(&sb, id).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");

    let (_, log) = admin(&sb, Method::GET, "/ghl/calls", None).await;
    let calls = log["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 101);
    assert_eq!(calls[100]["status"], 429);
    assert_eq!(calls[0]["path"], format!("/contacts/{id}"));
}

#[tokio::test]
async fn every_write_moves_date_updated_forward() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();
    let mut last = c["dateUpdated"].as_str().unwrap().to_owned();
    let writes = [
        (
            Method::PATCH,
            format!("/ghl/contacts/{id}"),
            json!({"lastName": "Lovelace"}),
        ),
        (
            Method::POST,
            format!("/ghl/contacts/{id}/tags"),
            json!({"tags": ["a"]}),
        ),
        (
            Method::POST,
            format!("/ghl/contacts/{id}/tags"),
            json!({"tags": ["b"]}),
        ),
        (
            Method::DELETE,
            format!("/ghl/contacts/{id}/tags"),
            json!({"tags": ["a"]}),
        ),
    ];
    for (method, path, body) in writes {
        let (s, v) = admin(&sb, method, &path, Some(body)).await;
        assert_eq!(s, 200, "{v}");
        let now = v["contact"]["dateUpdated"].as_str().unwrap().to_owned();
        assert!(now > last, "{now} after {last}");
        last = now;
    }
    let (_, v) = admin(&sb, Method::GET, &format!("/ghl/contacts/{id}"), None).await;
    assert_eq!(v["contact"]["tags"], json!(["b"]));
}

#[tokio::test]
async fn admin_bodies_are_strict() {
    let sb = sandbox().await;
    let (s, _) = admin(
        &sb,
        Method::POST,
        "/ghl/contacts",
        Some(json!({"first_name": "Ada"})),
    )
    .await;
    assert_eq!(s, 400);
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let path = format!("/ghl/contacts/{}", c["id"].as_str().unwrap());
    let (s, v) = admin(&sb, Method::PATCH, &path, Some(json!({"tags": ["x"]}))).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = admin(&sb, Method::GET, "/ghl/contacts/unknown", None).await;
    assert_eq!(s, 404);
    let (s, _) = admin(&sb, Method::GET, "/nothing-here", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn dnd_is_set_through_its_own_admin_call_and_read_back_per_channel() {
    let sb = sandbox().await;
    let c = new_ghl_contact(&sb, json!({"firstName": "Ada"})).await;
    let id = c["id"].as_str().unwrap();
    let (_, v) = admin(&sb, Method::GET, &format!("/ghl/contacts/{id}"), None).await;
    assert_eq!(
        (&v["contact"]["dnd"], &v["contact"]["dndSettings"]),
        (&json!(false), &json!({}))
    );
    let dnd = format!("/ghl/contacts/{id}/dnd");
    let call =
        json!({"dndSettings": {"Call": {"status": "active", "message": "asked", "code": "101"}}});
    let (s, v) = admin(&sb, Method::POST, &dnd, Some(call)).await;
    assert_eq!(s, 200, "{v}");
    let r = ghl_get(&sb, id).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["contact"]["dnd"], false);
    assert_eq!(
        body["contact"]["dndSettings"]["Call"],
        json!({"status": "active", "message": "asked", "code": "101"})
    );
    for bad in [
        json!({"dndSettings": {"Fax": {"status": "active"}}}),
        json!({"dndSettings": {"Call": {"status": "on"}}}),
        json!({"dnd": "yes"}),
    ] {
        let (s, v) = admin(&sb, Method::POST, &dnd, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad} → {v}");
    }
    let path = format!("/ghl/contacts/{id}");
    let (s, v) = admin(&sb, Method::PATCH, &path, Some(json!({"dnd": true}))).await;
    assert_eq!(s, 400, "DND has its own call (ContactDndUpdate): {v}");
}

#[tokio::test]
async fn unknown_ghl_routes_are_nest_style_404s() {
    let sb = sandbox().await;
    let r = http()
        .post(format!("{}/opportunities/search", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Cannot POST /opportunities/search");
}

#[tokio::test]
async fn a_slow_token_endpoint_spends_the_refresh_token_when_the_request_arrives() {
    use crate::ghl::oauth::{CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN};
    let sb = sandbox().await;
    let (status, _) = admin(
        &sb,
        reqwest::Method::POST,
        "/ghl/oauth",
        Some(json!({"answer_delay_ms": 400})),
    )
    .await;
    assert_eq!(status, 200);
    let refresh = || {
        http()
            .post(format!("{}/oauth/token", sb.url))
            .form(&[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", FIRST_REFRESH_TOKEN),
            ])
            .send()
    };
    let started = std::time::Instant::now();
    let first = tokio::spawn(refresh());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The same refresh token again while the first answer is still held back: already spent.
    let second = refresh().await.unwrap();
    assert_eq!(second.status(), 400);
    assert_eq!(
        second.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let first = first.await.unwrap().unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(first.status(), 200);
}
