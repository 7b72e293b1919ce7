//! "Synced" only when the effect is seen, in each CallTools account variant: contact-level
//! `add_buckets` honoured or ignored, buckets listed at `/api/buckets/` or only `/api/lists/`.
//! Membership is read from the sandbox's CallTools, never from leadsync's own state.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::dynamo::DynamoStore;
use leadsync::consumer::Outcome;
use leadsync::domain::sink::SinkId;
use leadsync::sinks::calltools::placement::{Placement, PlacementStore, account_id};
use leadsync_local::SANDBOX_CALLTOOLS_KEY;
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The placement method leadsync stored for the sandbox's CallTools account.
async fn learned_placement(t: &TestStack) -> Result<Option<Placement>> {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    Ok(store
        .placement(&account_id(t.sandbox(), SANDBOX_CALLTOOLS_KEY))
        .await?)
}

/// Creates a lead tagged "cold lead" and waits until the sandbox's CallTools has it in the
/// bucket and every job of the change is done. Returns its CallTools id.
async fn new_lead(t: &TestStack, first: &str, phone: &str) -> Result<i64> {
    t.create_tagged_contact(first, phone, "cold lead").await?;
    let contact = in_bucket(t, phone, COLD_LEADS).await?;
    webhooks_delivered(t, WAIT).await?;
    drained(t, WAIT).await?;
    contact["id"].as_i64().context("CallTools id")
}

fn is(call: &Value, method: &str, path: &str) -> bool {
    call["method"] == method && call["path"] == path
}

fn nothing_parked(t: &TestStack) {
    let parked: Vec<_> = t
        .stack
        .results()
        .into_iter()
        .filter(|r| matches!(r.outcome, Outcome::Park { .. }))
        .collect();
    assert!(parked.is_empty(), "{parked:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_lead_in_an_account_that_ignores_inline_buckets_ends_in_the_bucket_and_the_next_costs_no_inline_attempt()
-> Result<()> {
    let t = stack()
        .duplicate_mode(DuplicateMode::MergeByPhone)
        .start()
        .await?;
    // GIVEN an account that answers 2xx to add_buckets on the contact and ignores it
    t.set_calltools_modes(json!({"placement": "ignored"}))
        .await?;
    // WHEN a new lead is tagged, THEN the account really has it in the bucket
    let first = new_lead(&t, "Ada", "+14155550141").await?;
    // AND leadsync remembers that this account needs the bucket call
    assert_eq!(learned_placement(&t).await?, Some(Placement::BucketPatch));
    // WHEN a second new lead is tagged
    let second = new_lead(&t, "Grace", "+14155550142").await?;
    // THEN its create carried no useless inline buckets, and the bucket call placed each lead
    let calls = t.calltools_calls().await?;
    let posts: Vec<&Value> = calls
        .iter()
        .filter(|c| is(c, "POST", "/api/contacts/"))
        .collect();
    assert_eq!(
        posts[0]["request_json"]["add_buckets"],
        json!([COLD_LEADS]),
        "an unknown account is tried inline"
    );
    let second_posts: Vec<&&Value> = posts
        .iter()
        .filter(|c| c["request_json"]["mobile_phone_number"] == "+14155550142")
        .collect();
    assert!(!second_posts.is_empty(), "{calls:#?}");
    for post in second_posts {
        assert!(
            post["request_json"].get("add_buckets").is_none(),
            "{post:#}"
        );
    }
    let placed: BTreeSet<String> = calls
        .iter()
        .filter(|c| is(c, "PATCH", &format!("/api/buckets/{COLD_LEADS}/")))
        .map(|c| c["request_json"].to_string())
        .collect();
    assert_eq!(
        placed,
        BTreeSet::from([
            json!({"add_contacts": [first]}).to_string(),
            json!({"add_contacts": [second]}).to_string()
        ])
    );
    nothing_parked(&t);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_names_resolve_in_an_account_that_lists_them_only_at_api_lists() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN an account whose /api/buckets/ is not served (Django's HTML 404)
    t.set_calltools_modes(json!({"bucket_listing": "lists_only"}))
        .await?;
    // WHEN a lead is tagged for the bucket named "Cold Leads"
    new_lead(&t, "Linus", "+14155550143").await?;
    // THEN the name was found at /api/lists/ after /api/buckets/ answered 404
    let listings: Vec<(Value, Value)> = t
        .calltools_calls()
        .await?
        .into_iter()
        .filter(|c| c["method"] == "GET" && c["path"] != "/api/contacts/")
        .map(|c| (c["path"].clone(), c["status"].clone()))
        .collect();
    assert_eq!(
        listings,
        [
            (json!("/api/buckets/"), json!(404)),
            (json!("/api/lists/"), json!(200))
        ]
    );
    nothing_parked(&t);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_deleted_in_calltools_comes_back_with_its_whole_membership() -> Result<()> {
    const SPANISH: i64 = 11238;
    let rules = json!([
        {"tag": "cold lead", "bucket": "Cold Leads"},
        {"tag": "spanish", "bucket_id": SPANISH}
    ]);
    let t = stack()
        .setting("LEADSYNC_RULES", &rules.to_string())
        .start()
        .await?;
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/calltools/buckets",
            Some(json!({"id": SPANISH, "name": "Spanish"})),
        )
        .await?;
    // GIVEN a lead synced into Cold Leads
    let phone = "+14155550144";
    let id = t
        .create_tagged_contact("Barbara", phone, "cold lead")
        .await?;
    let old = in_bucket(&t, phone, COLD_LEADS).await?["id"]
        .as_i64()
        .context("CallTools id")?;
    webhooks_delivered(&t, WAIT).await?;
    drained(&t, WAIT).await?;
    // AND someone deletes it in CallTools
    let deleted = t
        .http
        .delete(format!("{}/api/contacts/{old}/", t.sandbox()))
        .header("authorization", format!("Token {SANDBOX_CALLTOOLS_KEY}"))
        .send()
        .await?;
    assert_eq!(deleted.status(), 204);
    // WHEN the lead gains a second tag in GoHighLevel
    t.tag(&id, "spanish").await?;
    // THEN it is created again in both buckets, not only in the one added since the last write
    let again = eventually(WAIT, "the contact back in both buckets", || async {
        Ok(t.calltools_with_phone(phone).await?.into_iter().find(|c| {
            let buckets = &c["buckets"];
            buckets == &json!([COLD_LEADS, SPANISH])
        }))
    })
    .await?;
    assert_ne!(again["id"].as_i64(), Some(old));
    drained(&t, WAIT).await?;
    assert_eq!(
        t.contact_state(&id)
            .await?
            .and_then(|s| s.sink(SinkId::CallTools).id),
        again["id"].as_i64()
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_honours_inline_buckets_keeps_one_call_per_new_lead_in_merge_mode()
-> Result<()> {
    let t = stack()
        .duplicate_mode(DuplicateMode::MergeByPhone)
        .start()
        .await?;
    t.set_calltools_modes(json!({"placement": "inline"}))
        .await?;
    // WHEN three new leads are tagged one after another
    let mut ids = Vec::new();
    for (first, phone) in [
        ("Ada", "+14155550145"),
        ("Grace", "+14155550146"),
        ("Edsger", "+14155550147"),
    ] {
        ids.push(new_lead(&t, first, phone).await?);
    }
    // THEN each was synced with one call, its create, the bucket inline and confirmed by the
    // answer: no bucket call was ever needed
    let results = t.stack.results();
    for id in ids {
        assert!(
            results.iter().any(|r| r.outcome
                == Outcome::Synced {
                    calltools_id: id,
                    calls: 1,
                    do_not_call: None,
                }),
            "{results:#?}"
        );
    }
    let writes = t.calltools_writes().await?;
    for w in &writes {
        assert!(
            !w["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/api/buckets/"),
            "{writes:#?}"
        );
        assert_eq!(
            w["request_json"]["add_buckets"],
            json!([COLD_LEADS]),
            "{w:#}"
        );
    }
    // AND the account is known to honour inline buckets, for the next cold start
    assert_eq!(learned_placement(&t).await?, Some(Placement::Inline));
    nothing_parked(&t);
    t.stop().await;
    Ok(())
}
