//! The CallTools API as leadsync's client meets it.

use reqwest::Method;
use serde_json::json;

use super::super::DuplicateMode;
use super::*;

#[tokio::test]
async fn only_token_auth_is_accepted() {
    let sb = sandbox().await;
    let url = format!("{}/api/contacts/", sb.url);
    let key = SandboxConfig::default().calltools_api_key;

    // GIVEN the right key with the Bearer scheme (what T-repo tried first, §5.2)
    let r = http().get(&url).bearer_auth(&key).send().await.unwrap();
    // THEN CallTools acts as if no credentials were sent
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Token");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );

    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = http()
        .get(&url)
        .header("authorization", "Token wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid token."})
    );

    let r = http()
        .get(&url)
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_rotated_api_key_refuses_the_old_one_until_it_is_set_back() {
    let sb = sandbox().await;
    let url = format!("{}/api/contacts/", sb.url);
    let old = SandboxConfig::default().calltools_api_key;
    let with = |key: &str| {
        http()
            .get(&url)
            .header("authorization", format!("Token {key}"))
            .send()
    };
    // WHEN an admin rotates the key in CallTools
    let (status, v) = admin(
        &sb,
        Method::POST,
        "/calltools/api_key",
        Some(json!({"api_key": "rotated-key"})),
    )
    .await;
    assert_eq!((status, v["api_key"].as_str()), (200, Some("rotated-key")));
    // THEN the old key is an invalid token and the new one works
    let r = with(&old).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid token."})
    );
    assert_eq!(with("rotated-key").await.unwrap().status(), 200);
    // AND setting the old one back restores it
    admin(
        &sb,
        Method::POST,
        "/calltools/api_key",
        Some(json!({"api_key": old})),
    )
    .await;
    assert_eq!(with(&old).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_path_without_its_trailing_slash_is_an_html_404() {
    let sb = sandbox().await;
    for path in ["/api/contacts", "/api/buckets/11237", "/api/contacts/abc/"] {
        let r = ct(&sb, Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(r.text().await.unwrap().contains("<h1>Not Found</h1>"));
    }
    let r = ct(&sb, Method::POST, "/api/contacts")
        .json(&contact_body(PHONE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn phone_filter_needs_an_encoded_plus_and_unknown_filters_return_everyone() {
    let sb = sandbox().await;
    let (s, a) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    let (s, _) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE_2)),
    )
    .await;
    assert_eq!(s, 201);

    let (_, found) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?phone_number=%2B17864771573",
        None,
    )
    .await;
    assert_eq!(found["count"], 1);
    assert_eq!(found["results"][0]["id"], a["id"]);
    assert_eq!(found["results"][0]["_phone_numbers"], json!([PHONE]));

    // A bare `+` decodes to a space: it matches nothing.
    let (_, none) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?phone_number=+17864771573",
        None,
    )
    .await;
    assert_eq!(none["count"], 0);
    let (_, none) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?phone_number=17864771573",
        None,
    )
    .await;
    assert_eq!(none["count"], 0);

    // The external_id trap: ignored, so the whole account comes back.
    let (_, all) = ct_json(&sb, Method::GET, "/api/contacts/?external_id=ghl-123", None).await;
    assert_eq!(all["count"], 2);

    // django-filter treats an empty value as no filter at all.
    let (_, all) = ct_json(&sb, Method::GET, "/api/contacts/?phone_number=", None).await;
    assert_eq!(all["count"], 2);

    let (_, by_name) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?first_name=Ada&email=ada%40example.com",
        None,
    )
    .await;
    assert_eq!(by_name["count"], 2);
}

#[tokio::test]
async fn lists_are_drf_pages_capped_at_250() {
    let sb = sandbox_with(|c| c.duplicate_mode = DuplicateMode::AllowDuplicates).await;
    for _ in 0..30 {
        let (s, _) = admin(
            &sb,
            Method::POST,
            "/calltools/contacts",
            Some(contact_body(PHONE)),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (_, p1) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?phone_number=%2B17864771573",
        None,
    )
    .await;
    assert_eq!(p1["count"], 30);
    assert_eq!(p1["results"].as_array().unwrap().len(), 25);
    assert_eq!(p1["previous"], Value::Null);
    let next = p1["next"].as_str().unwrap();
    assert!(
        next.ends_with("/api/contacts/?phone_number=%2B17864771573&page=2"),
        "{next}"
    );

    let r = ct(&sb, Method::GET, &next[sb.url.len()..])
        .send()
        .await
        .unwrap();
    let p2: Value = r.json().await.unwrap();
    assert_eq!(p2["results"].as_array().unwrap().len(), 5);
    assert_eq!(p2["next"], Value::Null);

    let (_, big) = ct_json(&sb, Method::GET, "/api/contacts/?page_size=1000", None).await;
    assert_eq!(big["results"].as_array().unwrap().len(), 30);

    let (s, v) = ct_json(&sb, Method::GET, "/api/contacts/?page=9", None).await;
    assert_eq!((s, v), (404, json!({"detail": "Invalid page."})));
}

#[tokio::test]
async fn invalid_values_are_400_field_errors() {
    let sb = sandbox().await;
    let (s, e) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(json!({
            "first_name": true,
            "mobile_phone_number": "+12222222222",
            "home_phone_number": "7864771573",
            "email": "Osmolinskathy12@gmal..com",
        })),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        e,
        json!({
            "email": ["Osmolinskathy12@gmal..com is a invalid email address for field email"],
            "first_name": ["Not a valid string."],
            "home_phone_number": ["Enter a valid phone number."],
            "mobile_phone_number": ["Enter a valid phone number."],
        })
    );
    for phone in ["+12120551234", "+12121551234", "+18235551234"] {
        let (s, _) = ct_json(
            &sb,
            Method::POST,
            "/api/contacts/",
            Some(contact_body(phone)),
        )
        .await;
        assert_eq!(s, 400, "{phone}");
    }
    let (s, e) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(json!({"add_buckets": [999]})),
    )
    .await;
    assert_eq!(
        (s, e),
        (
            400,
            json!({"add_buckets": ["Invalid pk \"999\" - object does not exist."]})
        )
    );
    let (_, all) = ct_json(&sb, Method::GET, "/api/contacts/", None).await;
    assert_eq!(all["count"], 0, "nothing was written");
}

#[tokio::test]
async fn unknown_keys_are_dropped_silently() {
    let sb = sandbox().await;
    let (s, c) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(json!({"first_name": "Ada", "phone_number": PHONE, "ghl_contact_id": "abc"})),
    )
    .await;
    assert_eq!(s, 201);
    assert!(c.get("phone_number").is_none() && c.get("ghl_contact_id").is_none());
    assert_eq!(
        c["mobile_phone_number"], "",
        "the T-repo mistake: created without a phone"
    );
}

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let sb = sandbox().await;
    let r = ct(&sb, Method::POST, "/api/contacts/")
        .body("first_name=Ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (s, v) = ct_json(&sb, Method::POST, "/api/contacts/", Some(json!([1]))).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["non_field_errors"][0],
        "Invalid data. Expected a dictionary, but got list."
    );
    let r = ct(&sb, Method::POST, "/api/contacts/")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, _) = ct_json(&sb, Method::PUT, "/api/buckets/", None).await;
    assert_eq!(s, 405);
}
