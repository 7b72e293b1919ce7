//! Messenger and Instagram end to end: the sandbox's Meta sends signed webhooks to the local API
//! gateway; ingress splits them into jobs; the consumer stores contacts, conversations and
//! messages in DynamoDB (moto) and reads profiles from the sandbox's Graph API.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::sources::meta::Channel;
use leadsync::sources::meta::store::{Direction, MetaStore};
use leadsync_sandbox::SandboxConfig;
use leadsync_tests::*;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

fn played() -> SandboxConfig {
    SandboxConfig::default()
}

fn messenger(user: &str) -> leadsync::domain::contact::ContactKey {
    Channel::Messenger.contact_key(&played().meta_page_id, user)
}

async fn new_user(t: &TestStack, body: Value) -> Result<String> {
    let v = t.meta("users", body).await?;
    Ok(v["id"].as_str().context("user id")?.to_string())
}

/// Graph API calls the sandbox answered for this path suffix.
async fn graph_calls_to(t: &TestStack, suffix: &str) -> Result<usize> {
    Ok(t.sandbox_client()
        .calls("meta")
        .await?
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_answers_the_challenge_only_for_the_verify_token() -> Result<()> {
    let t = stack().start().await?;
    let url = t.stack.meta_webhook_url();
    let get = |token: &str| {
        t.http
            .get(&url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = get(&played().meta_verify_token).await?;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await?, "1158201444");
    assert_eq!(get("guessed").await?.status().as_u16(), 403);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sender_becomes_a_contact_with_profile_conversation_and_message() -> Result<()> {
    let t = stack().start().await?;
    let user = new_user(
        &t,
        json!({"channel":"messenger","name":"Ada Lovelace","first_name":"Ada","last_name":"Lovelace"}),
    )
    .await?;
    let sent = t
        .meta(
            "messages",
            json!({"channel":"messenger","user_id":user,"text":"Grüße 👋"}),
        )
        .await?;
    assert_eq!(sent["delivery"]["status"], 200, "{sent}");
    let mid = sent["mid"].as_str().context("mid")?.to_string();
    let store = t.meta_store();
    let key = messenger(&user);
    let contact = eventually(LIMIT, "the contact with its profile", || async {
        Ok(store
            .contact(&key)
            .await?
            .filter(|c| c.profile_at_ms.is_some()))
    })
    .await?;
    assert_eq!(contact.profile.first_name.as_deref(), Some("Ada"));
    assert_eq!(contact.origin, leadsync::domain::job::Origin::Webhook);
    let messages = store.messages(&key).await?;
    assert_eq!(messages[&mid].text.as_deref(), Some("Grüße 👋"));
    assert_eq!(messages[&mid].direction, Direction::In);
    assert!(
        store
            .conversation(&key)
            .await?
            .is_some_and(|c| c.last_activity_ms > 0)
    );

    // The Page answers from the inbox: the echo's contact is the recipient.
    let echo = t
        .meta(
            "messages",
            json!({"channel":"messenger","user_id":user,"text":"Hello Ada","echo":true}),
        )
        .await?;
    let echo_mid = echo["mid"].as_str().context("mid")?.to_string();
    let stored = eventually(LIMIT, "the echo", || async {
        Ok(store.messages(&key).await?.remove(&echo_mid))
    })
    .await?;
    assert_eq!(stored.direction, Direction::Out);
    assert_eq!(
        graph_calls_to(&t, &user).await?,
        1,
        "one profile read, for the new contact only"
    );

    // `leadsync trace --source messenger PSID` shows both jobs.
    let log = leadsync::aws::dynamo::events::DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let found = eventually(LIMIT, "both jobs in the trace", || async {
        let found = leadsync_cli::commands::trace::trace(&log, "messenger", &user, 20).await?;
        let settled = found
            .events
            .iter()
            .filter(|e| e.outcome == "stored")
            .count();
        Ok((settled == 2).then_some(found))
    })
    .await?;
    let text = leadsync_cli::commands::trace::render(&found);
    assert!(text.contains("message") && text.contains("echo"), "{text}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_batch_stores_each_message_once_and_one_contact_per_sender() -> Result<()> {
    let t = stack().start().await?;
    let users: Vec<String> = {
        let mut u = Vec::new();
        for i in 0..3 {
            u.push(
                new_user(
                    &t,
                    json!({"channel":"messenger","name":format!("Batch {i}")}),
                )
                .await?,
            );
        }
        u
    };
    // Two first messages per new sender in one POST, and the POST delivered twice.
    let batch = t.meta("batch",
        json!({"channel":"messenger","user_ids":users,"events_per_user":2,"duplicate":true,"shuffle":true}),
    )
    .await?;
    let mids: Vec<String> = serde_json::from_value(batch["mids"].clone())?;
    assert_eq!(mids.len(), 6, "{batch}");
    drained(&t, LIMIT).await?;
    let store = t.meta_store();
    let mut stored = 0;
    for user in &users {
        let key = messenger(user);
        assert!(store.contact(&key).await?.is_some());
        assert!(store.conversation(&key).await?.is_some());
        stored += store.messages(&key).await?.len();
        assert_eq!(
            graph_calls_to(&t, user).await?,
            1,
            "one profile read per new sender"
        );
    }
    assert_eq!(stored, 6, "each mid once");
    // A copy may come round more than twice (SQS delivers at least once, and a copy that meets
    // its twin in progress is deferred); what must hold is that each message was stored by
    // exactly one job and every later copy was recognised.
    let results = t.stack.results();
    for mid in &mids {
        let job_id = format!("meta:msg:{mid}");
        let outcomes: Vec<_> = results
            .iter()
            .filter(|r| r.job_id.as_deref() == Some(job_id.as_str()) && r.outcome.is_final())
            .map(|r| &r.outcome)
            .collect();
        let duplicate =
            leadsync::consumer::Outcome::Skipped(leadsync::consumer::SkipReason::DuplicateJob);
        let applied = outcomes.iter().filter(|o| **o != &duplicate).count();
        assert_eq!(applied, 1, "{job_id} applied once: {outcomes:?}");
        assert!(
            outcomes.len() >= 2,
            "{job_id}: the second delivery is recognised: {outcomes:?}"
        );
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_meta_will_not_give_leaves_the_contact_marked_for_enrichment() -> Result<()> {
    let t = stack().start().await?;
    let user = new_user(
        &t,
        json!({"channel":"messenger","name":"Phone Only","profile":"unavailable"}),
    )
    .await?;
    let sent = t
        .meta(
            "messages",
            json!({"channel":"messenger","user_id":user,"text":"hello"}),
        )
        .await?;
    assert_eq!(sent["delivery"]["status"], 200);
    let store = t.meta_store();
    let key = messenger(&user);
    let contact = eventually(LIMIT, "the contact marked for enrichment", || async {
        Ok(store
            .contact(&key)
            .await?
            .filter(|c| c.enrich_reason.is_some()))
    })
    .await?;
    assert!(contact.profile_at_ms.is_none());
    assert!(contact.enrich_reason.unwrap().contains("2018218"));
    assert_eq!(store.messages(&key).await?.len(), 1, "the message is kept");

    // Instagram without consent (230): the same, on the Instagram account's key.
    let ig = new_user(
        &t,
        json!({"channel":"instagram","name":"No Consent","username":"nc","profile":"no_consent"}),
    )
    .await?;
    t.meta(
        "messages",
        json!({"channel":"instagram","user_id":ig,"text":"hi"}),
    )
    .await?;
    let ig_key = Channel::Instagram.contact_key(&played().meta_ig_account_id, &ig);
    let c = eventually(LIMIT, "the Instagram contact", || async {
        Ok(store
            .contact(&ig_key)
            .await?
            .filter(|c| c.enrich_reason.is_some()))
    })
    .await?;
    assert!(c.enrich_reason.unwrap().contains("230"));
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_unsends_and_receipts_update_what_is_stored() -> Result<()> {
    let t = stack().start().await?;
    let ig = new_user(
        &t,
        json!({"channel":"instagram","name":"Edit Me","username":"editme"}),
    )
    .await?;
    let sent = t
        .meta(
            "messages",
            json!({"channel":"instagram","user_id":ig,"text":"helo"}),
        )
        .await?;
    let mid = sent["mid"].as_str().context("mid")?.to_string();
    let second = t
        .meta(
            "messages",
            json!({"channel":"instagram","user_id":ig,"text":"oops"}),
        )
        .await?;
    let unsent = second["mid"].as_str().context("mid")?.to_string();
    t.meta(
        "events",
        json!({"channel":"instagram","user_id":ig,"kind":"message_edit","mid":mid,"text":"hello"}),
    )
    .await?;
    t.meta(
        "events",
        json!({"channel":"instagram","user_id":ig,"kind":"unsend","mid":unsent}),
    )
    .await?;
    t.meta(
        "events",
        json!({"channel":"instagram","user_id":ig,"kind":"read","mid":mid}),
    )
    .await?;
    drained(&t, LIMIT).await?;
    let store = t.meta_store();
    let key = Channel::Instagram.contact_key(&played().meta_ig_account_id, &ig);
    let messages = store.messages(&key).await?;
    assert_eq!(messages[&mid].text.as_deref(), Some("hello"));
    assert_eq!(messages[&mid].edits, 1);
    assert!(messages[&unsent].deleted && messages[&unsent].text.is_none());
    assert!(
        store
            .conversation(&key)
            .await?
            .is_some_and(|c| c.read_ms.is_some())
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_contact_who_shares_a_phone_lands_in_the_rules_bucket() -> Result<()> {
    let t = stack()
        .setting(
            "LEADSYNC_RULES",
            r#"[{"tag":"cold lead","bucket":"Cold Leads"},{"source":"messenger","bucket":"Cold Leads"}]"#,
        )
        .start()
        .await?;
    let user = new_user(&t, json!({"channel":"messenger","name":"Grace Hopper","first_name":"Grace","last_name":"Hopper"})).await?;
    // Messenger's user_phone_number quick reply: the payload is the number the person shared.
    t.meta("messages", json!({"channel":"messenger","user_id":user,"text":"+1 415 203 0099","quick_reply":"+14152030099"})).await?;
    let c = in_bucket(&t, "+14152030099", COLD_LEADS).await?;
    assert_eq!(c["first_name"], "Grace");
    t.stop().await;
    Ok(())
}
