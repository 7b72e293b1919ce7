//! The CallTools account variants leadsync must cope with: contact-level bucket fields
//! honoured or ignored, buckets listed at `/api/buckets/`, `/api/lists/` or both, and a key
//! whose role may or may not delete contacts.

use reqwest::Method;
use serde_json::json;

use super::*;

async fn set_modes(sb: &Sandbox, modes: Value) -> Value {
    let (status, v) = admin(sb, Method::POST, "/calltools/modes", Some(modes)).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn the_default_account_honours_inline_buckets_and_lists_at_both_paths() {
    let sb = sandbox().await;
    let (_, modes) = admin(&sb, Method::GET, "/calltools/modes", None).await;
    assert_eq!(
        modes,
        json!({"placement": "inline", "bucket_listing": "both", "deletes": "allowed", "call_time_filter": "honoured", "contact_bucket_filter": "ignored"})
    );
    let mut body = contact_body(PHONE);
    body["add_buckets"] = json!([11237]);
    let (s, c) = ct_json(&sb, Method::POST, "/api/contacts/", Some(body)).await;
    assert_eq!((s, c["buckets"].clone()), (201, json!([11237])));
    for path in ["/api/buckets/", "/api/lists/"] {
        let (s, page) = ct_json(&sb, Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(page["results"][0]["name"], "Cold Leads", "{path}");
    }
}

#[tokio::test]
async fn an_ignoring_account_answers_2xx_to_inline_buckets_and_shows_its_real_ones() {
    let sb = sandbox().await;
    set_modes(&sb, json!({"placement": "ignored"})).await;
    // GIVEN an account that ignores contact-level bucket fields
    let mut body = contact_body(PHONE);
    body["add_buckets"] = json!([11237]);
    let (s, c) = ct_json(&sb, Method::POST, "/api/contacts/", Some(body)).await;
    // THEN the create succeeds, and its answer shows no bucket
    assert_eq!((s, c["buckets"].clone()), (201, json!([])));
    let id = c["id"].as_i64().unwrap();
    // AND the bucket call really places the contact, which the contact then shows
    let (s, b) = ct_json(
        &sb,
        Method::PATCH,
        "/api/buckets/11237/",
        Some(json!({"add_contacts": [id]})),
    )
    .await;
    assert_eq!((s, b["contact_count"].clone()), (200, json!(1)));
    // AND a PATCH taking it out inline is ignored too: still in the bucket
    let (s, c) = ct_json(
        &sb,
        Method::PATCH,
        &format!("/api/contacts/{id}/"),
        Some(json!({"remove_buckets": [11237], "first_name": "Grace"})),
    )
    .await;
    assert_eq!(
        (s, c["buckets"].clone(), c["first_name"].clone()),
        (200, json!([11237]), json!("Grace"))
    );
    let (_, b) = ct_json(
        &sb,
        Method::PATCH,
        "/api/buckets/11237/",
        Some(json!({"remove_contacts": [id]})),
    )
    .await;
    assert_eq!(b["contact_count"], 0);
}

#[tokio::test]
async fn a_listing_path_the_account_does_not_serve_is_an_html_404() {
    let sb = sandbox().await;
    for (listing, served, not_served) in [
        ("lists_only", "/api/lists/", "/api/buckets/"),
        ("buckets_only", "/api/buckets/", "/api/lists/"),
    ] {
        set_modes(&sb, json!({"bucket_listing": listing})).await;
        let (s, page) = ct_json(&sb, Method::GET, served, None).await;
        assert_eq!((s, page["count"].clone()), (200, json!(1)), "{listing}");
        let (s, page) = ct_json(&sb, Method::GET, not_served, None).await;
        assert_eq!(s, 404, "{listing}");
        assert!(
            page.as_str()
                .is_some_and(|p| p.contains("<h1>Not Found</h1>")),
            "{listing}: {page}"
        );
    }
    // The single bucket stays reachable in every mode.
    let (s, _) = ct_json(&sb, Method::GET, "/api/buckets/11237/", None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn modes_are_strict_and_a_reset_restores_the_defaults() {
    let sb = sandbox().await;
    let (s, _) = admin(
        &sb,
        Method::POST,
        "/calltools/modes",
        Some(json!({"placement": "sometimes"})),
    )
    .await;
    assert_eq!(s, 400);
    set_modes(
        &sb,
        json!({"placement": "ignored", "bucket_listing": "lists_only"}),
    )
    .await;
    let (s, _) = admin(&sb, Method::POST, "/reset", None).await;
    assert!((200..300).contains(&s), "{s}");
    let (_, modes) = admin(&sb, Method::GET, "/calltools/modes", None).await;
    assert_eq!(
        modes,
        json!({"placement": "inline", "bucket_listing": "both", "deletes": "allowed", "call_time_filter": "honoured", "contact_bucket_filter": "ignored"})
    );
}

#[tokio::test]
async fn an_account_that_forbids_deletes_answers_403_and_keeps_the_contact() {
    let sb = sandbox().await;
    let (s, c) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE)),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let path = format!("/api/contacts/{}/", c["id"]);
    set_modes(&sb, json!({"deletes": "forbidden"})).await;
    let (s, answer) = ct_json(&sb, Method::DELETE, &path, None).await;
    assert_eq!(
        (s, answer),
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    let (s, _) = ct_json(&sb, Method::GET, &path, None).await;
    assert_eq!(s, 200, "the contact is still there");
    set_modes(&sb, json!({"deletes": "allowed"})).await;
    let (s, _) = ct_json(&sb, Method::DELETE, &path, None).await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn a_bucket_filter_on_the_contact_listing_is_honoured_or_answers_the_whole_account() {
    let sb = sandbox().await;
    // GIVEN one contact in the bucket and one outside it
    let mut inside = contact_body(PHONE);
    inside["add_buckets"] = json!([11237]);
    let (s, c) = ct_json(&sb, Method::POST, "/api/contacts/", Some(inside)).await;
    assert_eq!(s, 201);
    let inside_id = c["id"].clone();
    let (s, _) = ct_json(
        &sb,
        Method::POST,
        "/api/contacts/",
        Some(contact_body(PHONE_2)),
    )
    .await;
    assert_eq!(s, 201);
    let listed = |page: &Value| {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>()
    };
    // WHEN the account ignores the filter (the default) THEN it answers everyone
    let (s, page) = ct_json(&sb, Method::GET, "/api/contacts/?buckets=11237", None).await;
    assert_eq!((s, page["count"].clone()), (200, json!(2)), "{page}");
    // WHEN it honours the filter THEN only the bucket's contact, paged as usual
    set_modes(&sb, json!({"contact_bucket_filter": "honoured"})).await;
    let (s, page) = ct_json(
        &sb,
        Method::GET,
        "/api/contacts/?buckets=11237&page_size=250",
        None,
    )
    .await;
    assert_eq!((s, listed(&page)), (200, vec![inside_id]), "{page}");
    assert_eq!(
        (page["count"].clone(), page["next"].clone()),
        (json!(1), Value::Null)
    );
    let (_, page) = ct_json(&sb, Method::GET, "/api/contacts/?buckets=11238", None).await;
    assert_eq!(page["count"], 0, "an empty bucket lists no one: {page}");
}
