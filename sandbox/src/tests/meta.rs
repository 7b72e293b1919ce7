//! Meta's Graph API and Messenger/Instagram webhooks, as leadsync meets them over HTTP.

use std::time::Duration;

use aws_lc_rs::hmac;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

use super::*;
use crate::sign_meta;

const TOKEN: &str = "EAAsandboxPageToken0001";
const PAGE: &str = "100000000000001";
const IG: &str = "17841400000000001";
const SECRET: &str = "sandbox-meta-app-secret";

/// A Graph GET with the Page token; answers status, headers and the parsed body.
async fn graph(sb: &Sandbox, path_and_query: &str) -> (u16, HeaderMap, Value) {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    get_url(&format!(
        "{}/v26.0/{path_and_query}{sep}access_token={TOKEN}",
        sb.url
    ))
    .await
}

async fn get_url(url: &str) -> (u16, HeaderMap, Value) {
    let r = http().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

async fn meta(sb: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = admin(sb, method, &format!("/meta{path}"), body).await;
    assert!((200..300).contains(&status), "{path}: {status} {v}");
    v
}

async fn new_user(sb: &Sandbox, body: Value) -> String {
    let v = meta(sb, Method::POST, "/users", Some(body)).await;
    v["id"].as_str().unwrap().to_owned()
}

async fn say(sb: &Sandbox, channel: &str, user: &str, text: &str) -> Value {
    let body = json!({"channel": channel, "user_id": user, "text": text});
    meta(sb, Method::POST, "/messages", Some(body)).await
}

fn header_json(headers: &HeaderMap, name: &str) -> Value {
    serde_json::from_str(headers[name].to_str().unwrap()).unwrap()
}

fn assert_graph_error(body: &Value, code: u64) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["fbtrace_id"].is_string());
    assert!(body["error"]["type"].is_string());
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_oauth_error_190() {
    let sb = sandbox().await;
    let (status, headers, body) = get_url(&format!("{}/v26.0/{PAGE}", sb.url)).await;
    assert_eq!(status, 400);
    assert_graph_error(&body, 190);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(headers.contains_key("x-app-usage"));

    let (status, _, _) = get_url(&format!("{}/v26.0/{PAGE}?access_token=EAAwrong", sb.url)).await;
    assert_eq!(status, 400);
    let r = http()
        .get(format!("{}/v26.0/{PAGE}", sb.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a Bearer header works as well");
}

#[tokio::test]
async fn profiles_answer_permitted_fields_and_fail_whole_on_any_other() {
    let sb = sandbox().await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada Lovelace"})).await;
    let (status, _, p) = graph(
        &sb,
        &format!("{ada}?fields=id,name,first_name,last_name,profile_pic"),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["first_name"], "Ada");
    assert_eq!(p["last_name"], "Lovelace");
    assert!(p["profile_pic"].as_str().unwrap().contains("ext="));

    let (status, _, e) = graph(&sb, &format!("{ada}?fields=first_name,locale")).await;
    assert_eq!(status, 400);
    assert_graph_error(&e, 100);
    assert_eq!(
        e["error"]["message"],
        "(#100) Tried accessing nonexisting field (locale) on node type (User)"
    );

    let grace = new_user(
        &sb,
        json!({"channel": "instagram", "name": "Grace Hopper", "username": "grace"}),
    )
    .await;
    assert_ne!(grace, ada);
    let (status, _, p) = graph(
        &sb,
        &format!("{grace}?fields=name,username,is_verified_user,follower_count"),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["username"], "grace");
    let (status, _, _) = graph(&sb, &format!("{grace}?fields=first_name")).await;
    assert_eq!(status, 400, "first_name is Messenger-only");
}

#[tokio::test]
async fn unavailable_and_unconsented_profiles_fail_until_changed() {
    let sb = sandbox().await;
    let phone = new_user(
        &sb,
        json!({"channel": "messenger", "name": "Phone Only", "profile": "unavailable"}),
    )
    .await;
    let (status, _, e) = graph(&sb, &format!("{phone}?fields=name")).await;
    assert_eq!(status, 400);
    assert_graph_error(&e, 100);
    assert_eq!(e["error"]["error_subcode"], 2018218);
    assert_eq!(e["error"]["message"], "No profile available for this user.");

    let shy = new_user(
        &sb,
        json!({"channel": "instagram", "name": "Shy", "profile": "no_consent"}),
    )
    .await;
    let (status, _, e) = graph(&sb, &format!("{shy}?fields=name")).await;
    assert_eq!(status, 400);
    assert_graph_error(&e, 230);

    meta(
        &sb,
        Method::PATCH,
        &format!("/users/{shy}"),
        Some(json!({"profile": "ok", "name": "Now Known"})),
    )
    .await;
    let (status, _, p) = graph(&sb, &format!("{shy}?fields=name")).await;
    assert_eq!(status, 200);
    assert_eq!(p["name"], "Now Known");

    let (status, _, e) = graph(&sb, "999?fields=name").await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn sixty_conversations_page_as_25_25_10_and_the_last_has_no_next() {
    let sb = sandbox().await;
    let import = json!({"channel": "messenger", "count": 60, "messages_per_conversation": 1});
    meta(&sb, Method::POST, "/conversations/import", Some(import)).await;

    let mut url = format!(
        "{}/v26.0/{PAGE}/conversations?platform=messenger&fields=participants,updated_time&limit=25&access_token={TOKEN}",
        sb.url
    );
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    loop {
        let (status, headers, page) = get_url(&url).await;
        assert_eq!(status, 200, "{page}");
        assert!(headers.contains_key("x-business-use-case-usage"));
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        for c in data {
            assert!(c["id"].as_str().unwrap().starts_with("t_"));
            assert_eq!(c["participants"]["data"][1]["id"], PAGE);
            seen.push(c["updated_time"].as_str().unwrap().to_owned());
        }
        match page["paging"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        // Stay under the Conversations API's 2 calls per second.
        tokio::time::sleep(Duration::from_millis(510)).await;
    }
    assert_eq!(sizes, [25, 25, 10]);
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
}

#[tokio::test]
async fn instagram_conversations_carry_usernames_and_the_ig_account() {
    let sb = sandbox().await;
    let grace = new_user(
        &sb,
        json!({"channel": "instagram", "name": "Grace Hopper", "username": "grace"}),
    )
    .await;
    say(&sb, "instagram", &grace, "hi").await;
    for node in [PAGE, IG] {
        let (status, _, page) = graph(
            &sb,
            &format!("{node}/conversations?platform=instagram&fields=participants"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let parts = &page["data"][0]["participants"]["data"];
        assert_eq!(parts[0]["username"], "grace");
        assert_eq!(parts[1]["id"], IG);
        assert!(
            page["data"][0].get("updated_time").is_none(),
            "only the fields asked for"
        );
        tokio::time::sleep(Duration::from_millis(510)).await;
    }
    let (_, _, filtered) = graph(
        &sb,
        &format!("{PAGE}/conversations?platform=instagram&user_id=130"),
    )
    .await;
    assert_eq!(filtered["data"], json!([]));
}

#[tokio::test]
async fn only_the_20_most_recent_messages_have_details() {
    let sb = sandbox().await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada Lovelace"})).await;
    let mut mids = Vec::new();
    let mut conversation = String::new();
    for i in 0..25 {
        let v = say(&sb, "messenger", &ada, &format!("message {i}")).await;
        mids.push(v["mid"].as_str().unwrap().to_owned());
        conversation = v["conversation_id"].as_str().unwrap().to_owned();
    }
    let (status, _, c) = graph(
        &sb,
        &format!("{conversation}?fields=messages{{id,created_time,from,to,message}}"),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let data = c["messages"]["data"].as_array().unwrap();
    assert_eq!(data.len(), 25);
    assert_eq!(data[0]["message"], "message 24", "newest first");
    assert_eq!(data[19]["from"]["id"], ada);
    assert_eq!(data[19]["to"]["data"][0]["id"], PAGE);
    assert!(data[20].get("message").is_none());
    assert_eq!(
        data[20].as_object().unwrap().len(),
        2,
        "id and created_time only"
    );

    let (status, _, old) = graph(&sb, &format!("{}?fields=id,message", mids[0])).await;
    assert_eq!(status, 400);
    assert_eq!(
        old["error"]["message"],
        "(#100) This message has been deleted"
    );
    let (status, _, recent) = graph(
        &sb,
        &format!("{}?fields=id,created_time,from,to,message", mids[24]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(recent["message"], "message 24");
    assert_eq!(recent["from"]["name"], "Ada Lovelace");
}

#[tokio::test]
async fn the_third_conversations_call_within_a_second_is_refused_with_80006() {
    let sb = sandbox().await;
    let path = format!("{PAGE}/conversations?platform=messenger");
    let (_, first, _) = graph(&sb, &path).await;
    let usage = header_json(&first, "x-business-use-case-usage");
    assert_eq!(usage[PAGE][0]["type"], "messenger");
    assert!(usage[PAGE][0]["call_count"].as_u64().unwrap() < 100);
    graph(&sb, &path).await;
    let (status, headers, e) = graph(&sb, &path).await;
    assert_eq!(status, 400);
    assert_graph_error(&e, 80006);
    assert_eq!(e["error"]["type"], "OAuthException");
    let usage = header_json(&headers, "x-business-use-case-usage");
    assert_eq!(usage[PAGE][0]["call_count"], 100);
    assert_eq!(usage[PAGE][0]["estimated_time_to_regain_access"], 0);

    let (status, _, e) = graph(&sb, &format!("{PAGE}/conversations?platform=instagram")).await;
    assert_eq!(status, 200, "Instagram has its own budget: {e}");
    tokio::time::sleep(Duration::from_millis(1010)).await;
    let (status, _, _) = graph(&sb, &path).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn injected_faults_fail_the_matching_calls_then_stop() {
    let sb = sandbox().await;
    let rule = json!({"code": 4, "count": 2, "path_contains": "/subscribed_apps"});
    meta(&sb, Method::POST, "/faults", Some(rule)).await;
    let (status, _, _) = graph(&sb, PAGE).await;
    assert_eq!(status, 200, "path does not match");
    for _ in 0..2 {
        let (status, headers, e) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
        assert_eq!(status, 403);
        assert_graph_error(&e, 4);
        assert!(
            header_json(&headers, "x-app-usage")["call_count"]
                .as_u64()
                .unwrap()
                >= 100
        );
    }
    let (status, _, _) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    assert_eq!(status, 200);

    meta(
        &sb,
        Method::POST,
        "/faults",
        Some(json!({"code": 80002, "regain_minutes": 7})),
    )
    .await;
    let (status, headers, e) = graph(&sb, PAGE).await;
    assert_eq!(status, 400);
    assert_graph_error(&e, 80002);
    let usage = header_json(&headers, "x-business-use-case-usage");
    assert_eq!(usage[PAGE][0]["estimated_time_to_regain_access"], 7);

    meta(
        &sb,
        Method::POST,
        "/faults",
        Some(json!({"code": 500, "count": 5})),
    )
    .await;
    let (status, _, e) = graph(&sb, PAGE).await;
    assert_eq!(status, 500);
    assert_eq!(e["error"]["code"], 2);
    assert_eq!(e["error"]["is_transient"], true);
    admin(&sb, Method::DELETE, "/meta/faults", None).await;
    let (status, _, _) = graph(&sb, PAGE).await;
    assert_eq!(status, 200);

    let (status, v) = admin(&sb, Method::POST, "/meta/faults", Some(json!({"code": 12}))).await;
    assert_eq!(status, 400, "{v}");
}

#[tokio::test]
async fn subscribed_apps_goes_empty_when_meta_unsubscribes_and_post_restores_it() {
    let sb = sandbox().await;
    let (_, _, subs) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    assert_eq!(subs["data"][0]["name"], "leadsync");
    assert!(
        subs["data"][0]["subscribed_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("message_echoes"))
    );

    meta(
        &sb,
        Method::POST,
        "/subscription",
        Some(json!({"subscribed": false})),
    )
    .await;
    let (_, _, subs) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    assert_eq!(subs, json!({"data": []}));

    let r = http()
        .post(format!(
            "{}/v26.0/{PAGE}/subscribed_apps?subscribed_fields=messages,message_echoes&access_token={TOKEN}",
            sb.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true}));
    let (_, _, subs) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    assert_eq!(
        subs["data"][0]["subscribed_fields"],
        json!(["messages", "message_echoes"])
    );
}

#[tokio::test]
async fn subscribed_apps_lists_other_apps_on_the_page_before_leadsync_with_their_own_fields() {
    let sb = sandbox().await;
    let crm = json!({"id": "2000000000000001", "name": "Some CRM",
        "subscribed_fields": ["messages", "feed"]});
    meta(
        &sb,
        Method::POST,
        "/subscription",
        Some(json!({"subscribed": true, "fields": ["messages"], "other_apps": [crm]})),
    )
    .await;
    let (_, _, subs) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    let apps = subs["data"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{subs}");
    assert_eq!(
        (&apps[0]["id"], &apps[0]["subscribed_fields"]),
        (&json!("2000000000000001"), &json!(["messages", "feed"]))
    );
    assert_eq!(apps[1]["name"], "leadsync");
    assert_eq!(apps[1]["subscribed_fields"], json!(["messages"]));

    // Meta drops leadsync's app; the other app stays subscribed.
    meta(
        &sb,
        Method::POST,
        "/subscription",
        Some(json!({"subscribed": false})),
    )
    .await;
    let (_, _, subs) = graph(&sb, &format!("{PAGE}/subscribed_apps")).await;
    assert_eq!(subs["data"].as_array().map(Vec::len), Some(1), "{subs}");
    assert_eq!(subs["data"][0]["name"], "Some CRM");

    for refused in [
        json!({"subscribed": false, "fields": ["messages"]}),
        json!({"subscribed": true, "fields": []}),
        json!({"subscribed": true, "fields": ["messages", "everything"]}),
        json!({"subscribed": true, "other_apps": [{"id": "1000000000000099", "name": "x",
            "subscribed_fields": ["messages"]}]}),
    ] {
        let (status, v) = admin(&sb, Method::POST, "/meta/subscription", Some(refused)).await;
        assert_eq!(status, 400, "{v}");
    }
}

#[tokio::test]
async fn the_empty_page_quirk_still_leads_to_every_conversation() {
    let sb = sandbox().await;
    let import = json!({"channel": "instagram", "count": 3, "messages_per_conversation": 2});
    meta(&sb, Method::POST, "/conversations/import", Some(import)).await;
    meta(
        &sb,
        Method::POST,
        "/quirks",
        Some(json!({"empty_page_with_next": true})),
    )
    .await;
    let (_, _, first) = graph(&sb, &format!("{PAGE}/conversations?platform=instagram")).await;
    assert_eq!(first["data"], json!([]));
    let next = first["paging"]["next"].as_str().unwrap();
    let (_, _, second) = get_url(next).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 3);
    assert!(second["paging"].get("next").is_none());
}

#[tokio::test]
async fn the_call_log_keeps_the_query_without_the_token() {
    let sb = sandbox().await;
    graph(&sb, &format!("{PAGE}/conversations?platform=messenger")).await;
    let (_, log) = admin(&sb, Method::GET, "/meta/calls", None).await;
    let call = &log["calls"][0];
    assert_eq!(call["method"], "GET");
    assert_eq!(call["path"], format!("/v26.0/{PAGE}/conversations"));
    assert_eq!(call["status"], 200);
    assert_eq!(call["query"], "platform=messenger");
    admin(&sb, Method::DELETE, "/meta/calls", None).await;
    let (_, log) = admin(&sb, Method::GET, "/meta/calls", None).await;
    assert_eq!(log["calls"], json!([]));
}

// ---- webhooks ----

async fn webhook_sandbox(rx: &Receiver) -> Sandbox {
    let url = rx.url.clone();
    sandbox_with(move |c| {
        c.meta_webhook_url = Some(url);
        c.meta_retry_interval = Duration::from_millis(20);
    })
    .await
}

fn verify_signature(hit: &Hit) {
    let header = hit.headers["x-hub-signature-256"].to_str().unwrap();
    let hex_sig = header.strip_prefix("sha256=").unwrap();
    assert_eq!(hex_sig, hex_sig.to_lowercase());
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    hmac::verify(&key, &hit.body, &hex::decode(hex_sig).unwrap())
        .expect("X-Hub-Signature-256 verifies over the raw body");
    assert!(
        hit.headers["x-hub-signature"]
            .to_str()
            .unwrap()
            .starts_with("sha1=")
    );
    assert_eq!(hit.headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_message_arrives_signed_and_escaped_like_meta_sends_it() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada Lovelace"})).await;
    let sent = say(&sb, "messenger", &ada, "Grüße 👋").await;
    assert_eq!(
        sent["delivery"]["status"], 200,
        "the admin call waited for the answer"
    );

    let hit = rx.wait_for(1).await.remove(0);
    verify_signature(&hit);
    let raw = std::str::from_utf8(&hit.body).unwrap();
    assert!(raw.is_ascii());
    assert!(raw.contains(r"Gr\u00fc\u00dfe \ud83d\udc4b"), "{raw}");
    let p = hit.json();
    assert_eq!(p["object"], "page");
    assert_eq!(p["entry"][0]["id"], PAGE);
    let item = &p["entry"][0]["messaging"][0];
    assert_eq!(item["sender"]["id"], ada);
    assert_eq!(item["recipient"]["id"], PAGE);
    assert_eq!(item["message"]["text"], "Grüße 👋");
    assert_eq!(item["message"]["mid"], sent["mid"]);
    assert!(item["timestamp"].as_i64().unwrap() > 1_000_000_000_000);
    assert_eq!(
        sign_meta(SECRET, &hit.body),
        hit.headers["x-hub-signature-256"].to_str().unwrap()
    );
}

#[tokio::test]
async fn a_batch_of_50_items_comes_in_3_entries_of_one_post() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let body = json!({"channel": "instagram", "new_users": 10, "events_per_user": 5, "entries": 3, "shuffle": true});
    let v = meta(&sb, Method::POST, "/batch", Some(body)).await;
    assert_eq!(v["items"], 50);
    assert_eq!(v["mids"].as_array().unwrap().len(), 50);
    assert_eq!(v["delivery"]["status"], 200);

    let hit = rx.wait_for(1).await.remove(0);
    verify_signature(&hit);
    let p = hit.json();
    assert_eq!(p["object"], "instagram");
    let entries = p["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let items: Vec<&Value> = entries
        .iter()
        .flat_map(|e| e["messaging"].as_array().unwrap())
        .collect();
    assert_eq!(items.len(), 50);
    assert!(entries.iter().all(|e| e["id"] == IG));
    let stamps: Vec<i64> = items
        .iter()
        .map(|i| i["timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        stamps.windows(2).any(|w| w[0] > w[1]),
        "shuffled out of timestamp order"
    );
}

#[tokio::test]
async fn a_duplicate_batch_posts_the_same_bytes_twice() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let body = json!({"channel": "messenger", "new_users": 2, "duplicate": true});
    meta(&sb, Method::POST, "/batch", Some(body)).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[0].body, hits[1].body);
    let (_, log) = admin(&sb, Method::GET, "/meta/deliveries", None).await;
    let dups: Vec<bool> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["duplicate"].as_bool().unwrap())
        .collect();
    assert_eq!(dups, [false, true]);
}

#[tokio::test]
async fn an_echo_swaps_sender_and_recipient() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada Lovelace"})).await;
    let body = json!({"channel": "messenger", "user_id": ada, "text": "Thanks!", "echo": true});
    meta(&sb, Method::POST, "/messages", Some(body)).await;
    let p = rx.wait_for(1).await.remove(0).json();
    let item = &p["entry"][0]["messaging"][0];
    assert_eq!(item["sender"]["id"], PAGE);
    assert_eq!(item["recipient"]["id"], ada);
    assert_eq!(item["message"]["is_echo"], true);
    assert!(item["message"]["app_id"].is_u64());
}

#[tokio::test]
async fn standby_items_sit_under_standby() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada Lovelace"})).await;
    let body = json!({"channel": "messenger", "user_id": ada, "text": "hello?", "standby": true});
    meta(&sb, Method::POST, "/messages", Some(body)).await;
    let p = rx.wait_for(1).await.remove(0).json();
    assert!(p["entry"][0].get("messaging").is_none());
    assert_eq!(p["entry"][0]["standby"][0]["message"]["text"], "hello?");
}

#[tokio::test]
async fn a_failed_webhook_is_retried_twice_with_the_same_bytes() {
    let rx = receiver(&[500, 503, 500]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada"})).await;
    let sent = say(&sb, "messenger", &ada, "hi").await;
    assert_eq!(sent["delivery"]["status"], 500);
    let hits = rx.wait_for(3).await;
    assert!(hits.iter().all(|h| h.body == hits[0].body));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.hits().len(), 3, "two retries, no more");
    let (_, log) = admin(&sb, Method::GET, "/meta/deliveries", None).await;
    let attempts: Vec<u64> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test]
async fn instagram_events_unsend_read_and_unknown_kinds() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let grace = new_user(&sb, json!({"channel": "instagram", "name": "Grace"})).await;
    let mid = say(&sb, "instagram", &grace, "oops").await["mid"].clone();
    let event =
        |kind: &str| json!({"channel": "instagram", "user_id": grace, "kind": kind, "mid": mid});
    for kind in ["unsend", "read", "unknown"] {
        meta(&sb, Method::POST, "/events", Some(event(kind))).await;
    }
    let hits = rx.wait_for(4).await;
    let item = |i: usize| hits[i].json()["entry"][0]["messaging"][0].clone();
    assert_eq!(item(1)["message"], json!({"mid": mid, "is_deleted": true}));
    assert_eq!(item(2)["read"]["mid"], mid);
    assert!(item(3).get("game_play").is_some());

    let (status, _, _) = graph(&sb, &format!("{}?fields=message", mid.as_str().unwrap())).await;
    assert_eq!(status, 400, "an unsent message is gone from Graph");
    let (status, v) = admin(
        &sb,
        Method::POST,
        "/meta/events",
        Some(json!({"channel": "instagram", "user_id": grace, "kind": "delivery"})),
    )
    .await;
    assert_eq!(status, 400, "Instagram sends no deliveries: {v}");
}

#[tokio::test]
async fn no_webhook_is_sent_while_unsubscribed() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada"})).await;
    meta(
        &sb,
        Method::POST,
        "/subscription",
        Some(json!({"subscribed": false})),
    )
    .await;
    let sent = say(&sb, "messenger", &ada, "anyone?").await;
    assert_eq!(sent["delivery"]["status"], Value::Null);
    assert_eq!(sent["delivery"]["skipped"], "unsubscribed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rx.hits().is_empty());
}

#[tokio::test]
async fn nested_messages_page_through_the_messages_edge() {
    let sb = sandbox().await;
    let import = json!({"channel": "messenger", "count": 1, "messages_per_conversation": 30});
    meta(&sb, Method::POST, "/conversations/import", Some(import)).await;
    let (_, log) = admin(
        &sb,
        Method::GET,
        "/meta/conversations?channel=messenger",
        None,
    )
    .await;
    let conversation = log["conversations"][0]["id"].as_str().unwrap().to_owned();

    let (status, _, c) = graph(
        &sb,
        &format!("{conversation}?fields=messages{{id,message}}"),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["messages"]["data"].as_array().unwrap().len(), 25);
    let next = c["messages"]["paging"]["next"].as_str().unwrap();
    assert!(next.contains("/messages?") && next.contains("access_token="));
    let (status, _, rest) = get_url(next).await;
    assert_eq!(status, 200, "{rest}");
    let data = rest["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    assert!(
        data.iter().all(|m| m.get("message").is_none()),
        "older than the 20 latest"
    );
    assert!(rest["paging"].get("next").is_none());

    tokio::time::sleep(Duration::from_millis(1010)).await;
    let (_, _, small) = graph(&sb, &format!("{conversation}?fields=messages&limit=10")).await;
    assert_eq!(small["messages"]["data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn importing_1000_conversations_of_25_messages_is_fast() {
    let sb = sandbox().await;
    let started = std::time::Instant::now();
    let import = json!({"channel": "instagram", "count": 1000, "messages_per_conversation": 25});
    let v = meta(&sb, Method::POST, "/conversations/import", Some(import)).await;
    assert_eq!(v["conversations"], 1000);
    assert_eq!(v["users"].as_array().unwrap().len(), 1000);
    let (_, _, page) = graph(
        &sb,
        &format!("{PAGE}/conversations?platform=instagram&limit=100"),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn info_reports_the_meta_settings_and_reset_empties_the_world() {
    let sb = sandbox().await;
    let (_, info) = admin(&sb, Method::GET, "/info", None).await;
    assert_eq!(info["graph_api_base_url"], sb.url);
    assert_eq!(info["meta_page_id"], PAGE);
    assert_eq!(info["meta_ig_account_id"], IG);
    assert_eq!(info["meta_page_token"], TOKEN);
    assert_eq!(info["meta_app_secret"], SECRET);
    assert_eq!(info["meta_verify_token"], "sandbox-meta-verify-token");
    assert_eq!(info["meta_webhook_url"], Value::Null);

    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada"})).await;
    say(&sb, "messenger", &ada, "hi").await;
    graph(&sb, PAGE).await;
    let (_, ghl_calls) = admin(&sb, Method::GET, "/ghl/calls", None).await;
    assert_eq!(
        ghl_calls["calls"],
        json!([]),
        "Graph calls never reach GoHighLevel's log"
    );

    admin(&sb, Method::POST, "/reset", None).await;
    let (_, log) = admin(&sb, Method::GET, "/meta/conversations", None).await;
    assert_eq!(log["conversations"], json!([]));
    let (_, calls) = admin(&sb, Method::GET, "/meta/calls", None).await;
    assert_eq!(calls["calls"], json!([]));
}

#[tokio::test]
async fn an_async_admin_call_answers_before_the_webhook() {
    let rx = receiver(&[]).await;
    let sb = webhook_sandbox(&rx).await;
    let ada = new_user(&sb, json!({"channel": "messenger", "name": "Ada"})).await;
    let body = json!({"channel": "messenger", "user_id": ada, "text": "hi", "async": true});
    let v = meta(&sb, Method::POST, "/messages", Some(body)).await;
    assert_eq!(v["delivery"]["status"], Value::Null);
    rx.wait_for(1).await;
}

#[tokio::test]
async fn the_verification_handshake_sends_the_token_and_a_challenge() {
    // GIVEN an endpoint that echoes hub.challenge when hub.verify_token matches, like Meta's sample
    async fn hub(
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    ) -> (StatusCode, String) {
        if q.get("hub.mode").map(String::as_str) == Some("subscribe")
            && q.get("hub.verify_token").map(String::as_str) == Some("sandbox-meta-verify-token")
        {
            (
                StatusCode::OK,
                q.get("hub.challenge").cloned().unwrap_or_default(),
            )
        } else {
            (StatusCode::FORBIDDEN, String::new())
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route("/hook", axum::routing::get(hub));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sb = sandbox_with(move |c| c.meta_webhook_url = Some(url)).await;

    let v = meta(&sb, Method::POST, "/verify", None).await;
    assert_eq!(v["echoed"], true, "{v}");
    let v = meta(
        &sb,
        Method::POST,
        "/verify",
        Some(json!({"verify_token": "wrong"})),
    )
    .await;
    assert_eq!(v["status"], 403);
    assert_eq!(v["echoed"], false);
    server.abort();
}
