//! The backfill of a Page's conversations on the sandbox's Graph API: what the webhooks never
//! brought becomes contacts, conversations and their most recent messages; a second run finds
//! nothing; profiles Meta refused are read again; an unsubscribed Page is reported.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use leadsync::backfill::{Ending, Request, Run};
use leadsync::domain::clock::now_ms;
use leadsync::domain::job::{Origin, SyncJob};
use leadsync::sources::meta::Channel;
use leadsync::sources::meta::event::EventKind;
use leadsync::sources::meta::job::MetaJob;
use leadsync::sources::meta::store::MetaStore;
use leadsync_sandbox::SandboxConfig;
use leadsync_tests::*;
use serde_json::json;

async fn backfill(t: &TestStack, req: Request) -> Result<Run> {
    let backfill = leadsync::app::build_backfill(&t.stack.config, &t.stack.aws)?;
    match backfill.handle(&req, now_ms() + 600_000).await? {
        Ending::Finished(run) => Ok(run),
        other => bail!("the run did not finish: {other:?}"),
    }
}

fn messenger(full: bool) -> Request {
    Request {
        source: Some("messenger".into()),
        full,
        ..Request::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_1000_conversations_is_read_in_40_calls_within_the_rate_limit() -> Result<()> {
    // The consumer is off: this is about the scan (moto applies ~70 writes/s, and each
    // conversation is two dozen of them; the smaller test below follows jobs to the store).
    let t = stack().without_consumer().start().await?;
    let imported = t
        .meta(
            "conversations/import",
            json!({"channel":"messenger","count":1000,"messages_per_conversation":25}),
        )
        .await?;
    assert_eq!(imported["conversations"], 1000);
    let run = backfill(&t, messenger(true)).await?;
    assert_eq!(
        (run.pages, run.seen, run.enqueued),
        (40, 1000, 1000),
        "{run:?}"
    );
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let calls = t.sandbox_client().calls_by_status("meta", None).await?;
    // 40 pages, one subscription check; nothing refused: the client kept under 2 calls/s.
    assert_eq!(calls.get(&200), Some(&41), "{calls:?}");
    assert_eq!(calls.values().sum::<usize>(), 41, "{calls:?}");

    let jobs = queued_jobs(&t).await?;
    assert_eq!(jobs.len(), 1000);
    let mut users = std::collections::BTreeSet::new();
    for job in &jobs {
        let Some(j) = job.payload::<MetaJob>() else {
            bail!("not a Meta job")
        };
        assert_eq!(j.origin, Origin::Backfill);
        let EventKind::Conversation { messages, .. } = &j.event.kind else {
            bail!("not a conversation")
        };
        assert_eq!(messages.len(), 20, "Meta details the 20 most recent of 25");
        users.insert(j.event.user_id.clone());
    }
    assert_eq!(users.len(), 1000, "one contact per conversation");
    t.stop().await;
    Ok(())
}

async fn queued_jobs(t: &TestStack) -> Result<Vec<SyncJob>> {
    let sqs = aws_sdk_sqs::Client::new(&t.stack.aws);
    let mut jobs = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&t.stack.resources.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(jobs);
        }
        for m in messages {
            jobs.push(SyncJob::from_json(m.body().context("body")?)?);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfilled_conversations_become_contacts_and_a_second_run_finds_no_drift() -> Result<()> {
    let t = stack().start().await?;
    let played = SandboxConfig::default();
    let imported = t
        .meta(
            "conversations/import",
            json!({"channel":"messenger","count":12,"messages_per_conversation":25}),
        )
        .await?;
    let users: Vec<String> = serde_json::from_value(imported["users"].clone())?;
    let run = backfill(&t, messenger(true)).await?;
    assert_eq!((run.seen, run.enqueued), (12, 12));
    drained(&t, Duration::from_secs(120)).await?;
    let store = t.meta_store();
    for user in &users {
        let key = Channel::Messenger.contact_key(&played.meta_page_id, user);
        let contact = store.contact(&key).await?.context("contact")?;
        assert_eq!(contact.origin, Origin::Backfill);
        assert!(
            contact.profile_at_ms.is_some(),
            "profile read for the new contact"
        );
        let conversation = store.conversation(&key).await?.context("conversation")?;
        assert!(conversation.conversation_id.is_some());
        assert_eq!(store.messages(&key).await?.len(), 20);
    }
    // Nothing changed since: the next run (incremental, from the last one) enqueues nothing.
    let again = backfill(&t, messenger(false)).await?;
    assert_eq!(again.enqueued, 0, "{again:?}");

    // A new message the webhook lost is drift: found and applied by the next run.
    t.meta(
        "messages",
        json!({"channel":"messenger","user_id":users[3],"text":"missed","webhook":false}),
    )
    .await?;
    let drift = backfill(&t, messenger(true)).await?;
    assert_eq!(drift.enqueued, 1, "{drift:?}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_profile_is_enriched_by_the_next_run_and_an_unsubscribed_page_is_reported()
-> Result<()> {
    let t = stack().start().await?;
    let played = SandboxConfig::default();
    let user = t
        .meta(
            "users",
            json!({"channel":"messenger","name":"Later Known","profile":"unavailable"}),
        )
        .await?;
    let user = user["id"].as_str().context("id")?.to_string();
    t.meta(
        "messages",
        json!({"channel":"messenger","user_id":user,"text":"hi"}),
    )
    .await?;
    let store = t.meta_store();
    let key = Channel::Messenger.contact_key(&played.meta_page_id, &user);
    eventually(
        Duration::from_secs(30),
        "the contact marked for enrichment",
        || async {
            Ok(store
                .contact(&key)
                .await?
                .filter(|c| c.enrich_reason.is_some()))
        },
    )
    .await?;
    // Meta gives the profile now, and has silently unsubscribed the app from the Page.
    t.sandbox_client()
        .call(
            reqwest::Method::PATCH,
            &format!("/_sandbox/meta/users/{user}"),
            Some(json!({"profile":"ok","first_name":"Later","last_name":"Known"})),
        )
        .await?;
    t.meta("subscription", json!({"subscribed": false})).await?;
    let run = backfill(&t, messenger(true)).await?;
    assert_eq!(run.refreshed, 1, "{run:?}");
    assert!(
        run.warnings.iter().any(|w| w.contains("is not subscribed")),
        "{:?}",
        run.warnings
    );
    let enriched = eventually(Duration::from_secs(30), "the enriched profile", || async {
        Ok(store
            .contact(&key)
            .await?
            .filter(|c| c.profile_at_ms.is_some()))
    })
    .await?;
    assert_eq!(enriched.profile.first_name.as_deref(), Some("Later"));
    assert!(enriched.enrich_reason.is_none());
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_page_is_waited_out_and_a_bad_token_fails_the_run_clearly() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    t.meta(
        "conversations/import",
        json!({"channel":"messenger","count":30,"messages_per_conversation":2}),
    )
    .await?;
    // Meta answers the second page 80006 (the Page's conversation budget) once.
    t.meta(
        "faults",
        json!({"code": 80006, "count": 1, "path_contains": "/conversations"}),
    )
    .await?;
    let run = backfill(&t, messenger(true)).await?;
    assert_eq!(
        (run.seen, run.enqueued, run.status),
        (30, 30, leadsync::backfill::Status::Done)
    );
    let calls = t
        .sandbox_client()
        .calls_by_status(
            "meta",
            Some(&format!(
                "/v26.0/{}/conversations",
                SandboxConfig::default().meta_page_id
            )),
        )
        .await?;
    assert_eq!(
        (calls.get(&400), calls.get(&200)),
        (Some(&1), Some(&2)),
        "{calls:?}"
    );

    // An invalid Page token (190) is not waited out: the run fails and says what to do.
    t.meta("faults", json!({"code": 190, "count": 1})).await?;
    let failed = backfill(&t, messenger(true)).await?;
    assert_eq!(failed.status, leadsync::backfill::Status::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("META_PAGE_ACCESS_TOKEN"), "{error}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_check_tells_a_subscribed_page_from_a_silently_unsubscribed_one() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let played = SandboxConfig::default();
    let app_id = t.stack.config.meta.app_id.as_deref();
    let check = || {
        leadsync_cli::commands::meta::subscription(
            &t.stack.config,
            leadsync::support::secret::Secret::new(played.meta_page_token.clone()),
            &played.meta_page_id,
            app_id,
        )
    };
    let on = check().await?;
    assert!(on.is_healthy(), "{on:?}");
    let text = on.describe(&played.meta_page_id, app_id);
    assert!(text.contains("subscribed (messages"), "{text}");
    t.meta("subscription", json!({"subscribed": false})).await?;
    let off = check().await?;
    assert!(!off.is_healthy());
    let text = off.describe(&played.meta_page_id, app_id);
    assert!(
        text.contains("NOT SUBSCRIBED") && text.contains("subscribed_apps"),
        "{text}"
    );
    t.stop().await;
    Ok(())
}
