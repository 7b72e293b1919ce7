//! Characters SQS refuses (U+FFFE, U+FFFF, controls, unpaired surrogates) in webhooks, Meta
//! message text and Meta backfill pages never fail a batch: job bodies are encoded so SQS takes
//! them, and an entry SQS still refuses is parked alone with its reason.
//!
//! moto takes any character; the local stack's moto refuses what SQS refuses
//! (`the_local_queue_refuses_what_sqs_refuses`), so these tests fail without the encoding.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use leadsync::backfill::{Ending, Request};
use leadsync::domain::clock::now_ms;
use leadsync::domain::job::SyncJob;
use leadsync::sources::ghl::job::GhlContactJob;
use leadsync::sources::meta::Channel;
use leadsync::sources::meta::store::MetaStore;
use leadsync_local::{SANDBOX_LOCATION_ID, SANDBOX_WORKFLOW_SECRET};
use leadsync_sandbox::{SandboxConfig, sign_meta};
use leadsync_tests::*;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

/// Text with every kind of character SQS refuses that JSON can carry as a literal, around
/// characters it takes (an emoji, accents).
const REFUSED_BY_SQS: &str = "Ada \u{FFFF}\u{FFFE} Grüße 👋";

fn played() -> SandboxConfig {
    SandboxConfig::default()
}

/// The one job on the queue of a stack without consumer.
async fn the_queued_job(t: &TestStack) -> Result<SyncJob> {
    let out = aws_sdk_sqs::Client::new(&t.stack.aws)
        .receive_message()
        .queue_url(&t.stack.resources.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await?;
    match out.messages() {
        [m] => Ok(SyncJob::from_json(m.body().context("body")?)?),
        other => bail!("{} messages on the queue, one expected", other.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_queue_refuses_what_sqs_refuses() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let sqs = aws_sdk_sqs::Client::new(&t.stack.aws);
    let queue = &t.stack.resources.queue_url;
    for body in ["a\u{FFFF}", "a\u{FFFE}", "a\u{1}", "a\u{B}"] {
        let sent = sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await;
        let code = sent.err().and_then(|e| e.code().map(str::to_string));
        assert_eq!(code.as_deref(), Some("InvalidMessageContents"), "{body:?}");
    }
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
    };
    let out = sqs
        .send_message_batch()
        .queue_url(queue)
        .entries(entry(
            "ok",
            "tab\t, \u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}",
        )?)
        .entries(entry("bad", "\u{FFFF}")?)
        .send()
        .await?;
    let taken: Vec<_> = out.successful().iter().map(|s| s.id()).collect();
    assert_eq!(taken, ["ok"], "the entry inside the set is taken");
    let [refused] = out.failed() else {
        bail!("one entry refused expected: {:?}", out.failed())
    };
    assert_eq!(
        (refused.id(), refused.code(), refused.sender_fault()),
        ("bad", "InvalidMessageContents", true)
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_webhook_with_characters_sqs_refuses_is_queued_intact() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    // GIVEN a signed Marketplace body whose name holds U+FFFF and U+FFFE as raw characters and
    // as escapes, and an emoji cut in half (an unpaired surrogate escape)
    let body = format!(
        r#"{{"type":"ContactUpdate","locationId":"{SANDBOX_LOCATION_ID}","id":"nmFmQEsNgz6AVpgLVUJ0","firstName":"{REFUSED_BY_SQS}","lastName":"\uFFFF\ufffe cut \ud83d","timestamp":"{}","webhookId":"wh-sqs-chars"}}"#,
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?
    );
    // WHEN GHL delivers it
    let (status, answer) = t.post_signed(body.as_bytes()).await?;
    // THEN it is accepted and its job carries the body exactly as it came
    assert_eq!(status, 202, "{answer}");
    let queued = the_queued_job(&t).await?;
    let Some(job) = queued.payload::<GhlContactJob>() else {
        bail!("a GHL job")
    };
    assert_eq!(job.payload, body);
    assert_eq!(job.contact_id, "nmFmQEsNgz6AVpgLVUJ0");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_webhook_with_characters_sqs_refuses_is_queued_intact() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let body = format!(
        r#"{{"contact_id":"nmFmQEsNgz6AVpgLVUJ0","full_name":"{REFUSED_BY_SQS}","note":"\uffff cut \udc00","location":{{"id":"{SANDBOX_LOCATION_ID}"}}}}"#
    );
    let (status, answer) = t
        .post(
            &t.stack.workflow_url(),
            &[("authorization", format!("Bearer {SANDBOX_WORKFLOW_SECRET}"))],
            body.as_bytes(),
        )
        .await?;
    assert_eq!(status, 202, "{answer}");
    let queued = the_queued_job(&t).await?;
    let Some(job) = queued.payload::<GhlContactJob>() else {
        bail!("a GHL job")
    };
    assert_eq!(job.payload, body);
    t.stop().await;
    Ok(())
}

/// A signed Messenger POST with one message per `(user, mid, text as JSON)`.
fn messenger_post(items: &[(&str, &str, &str)]) -> (Vec<u8>, String) {
    let page = played().meta_page_id;
    let messaging: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, (user, mid, text))| {
            format!(
                r#"{{"sender":{{"id":"{user}"}},"recipient":{{"id":"{page}"}},"timestamp":{},"message":{{"mid":"{mid}","text":{text}}}}}"#,
                now_ms() + i as i64
            )
        })
        .collect();
    let body = format!(
        r#"{{"object":"page","entry":[{{"id":"{page}","time":{},"messaging":[{}]}}]}}"#,
        now_ms(),
        messaging.join(",")
    )
    .into_bytes();
    let signature = sign_meta(&played().meta_app_secret, &body);
    (body, signature)
}

async fn new_messenger_user(t: &TestStack, name: &str) -> Result<String> {
    let v = t
        .meta("users", json!({"channel": "messenger", "name": name}))
        .await?;
    Ok(v["id"].as_str().context("user id")?.to_string())
}

/// A message's stored text, once the consumer has stored it.
async fn stored_text(t: &TestStack, user: &str, mid: &str) -> Result<Option<String>> {
    let key = Channel::Messenger.contact_key(&played().meta_page_id, user);
    let store = t.meta_store();
    eventually(LIMIT, &format!("message {mid}"), || async {
        Ok(store.messages(&key).await?.remove(mid))
    })
    .await
    .map(|m| m.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_messages_with_characters_sqs_refuses_arrive_with_the_rest_of_their_batch()
-> Result<()> {
    let t = stack().start().await?;
    let users = [
        new_messenger_user(&t, "Ada One").await?,
        new_messenger_user(&t, "Ada Two").await?,
        new_messenger_user(&t, "Ada Three").await?,
    ];
    // GIVEN one POST: U+FFFF and U+FFFE as Meta writes them (escaped) and raw, an emoji cut in
    // half, and an ordinary message
    let (body, signature) = messenger_post(&[
        (
            &users[0],
            "m_sqs_1",
            "\"a\\uffffb\\ufffe \u{FFFF}\u{FFFE} \\ud83d\\udc4b\"",
        ),
        (&users[1], "m_sqs_2", "\"cut \\ud83d here\""),
        (&users[2], "m_sqs_3", "\"plain\""),
    ]);
    // WHEN Meta delivers it
    let (status, answer) = t
        .post(
            &t.stack.meta_webhook_url(),
            &[("x-hub-signature-256", signature)],
            &body,
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["jobs"], 3, "{answer}");
    // THEN every message is stored with its text (the cut emoji as U+FFFD)
    assert_eq!(
        stored_text(&t, &users[0], "m_sqs_1").await?.as_deref(),
        Some("a\u{FFFF}b\u{FFFE} \u{FFFF}\u{FFFE} 👋")
    );
    assert_eq!(
        stored_text(&t, &users[1], "m_sqs_2").await?.as_deref(),
        Some("cut \u{FFFD} here")
    );
    assert_eq!(
        stored_text(&t, &users[2], "m_sqs_3").await?.as_deref(),
        Some("plain")
    );
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_page_with_characters_sqs_refuses_brings_every_conversation() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN conversations the webhooks never brought, one of them with text SQS refuses
    let imported = t
        .meta(
            "conversations/import",
            json!({"channel": "messenger", "count": 3, "messages_per_conversation": 2}),
        )
        .await?;
    let mut users: Vec<String> = serde_json::from_value(imported["users"].clone())?;
    let odd = new_messenger_user(&t, "Ada Odd").await?;
    let sent = t
        .meta(
            "messages",
            json!({"channel": "messenger", "user_id": odd, "text": REFUSED_BY_SQS, "webhook": false}),
        )
        .await?;
    let mid = sent["mid"].as_str().context("mid")?.to_string();
    users.push(odd.clone());
    // WHEN the backfill reads the page
    let backfill = leadsync::app::build_backfill(&t.stack.config, &t.stack.aws)?;
    let request = Request {
        source: Some("messenger".into()),
        full: true,
        ..Request::default()
    };
    let run = match backfill.handle(&request, now_ms() + 600_000).await? {
        Ending::Finished(run) => run,
        other => bail!("the run did not finish: {other:?}"),
    };
    // THEN the run finishes, every conversation becomes a contact, and the text is intact
    assert_eq!((run.seen, run.enqueued, run.errors), (4, 4, 0), "{run:?}");
    assert_eq!(
        stored_text(&t, &odd, &mid).await?.as_deref(),
        Some(REFUSED_BY_SQS)
    );
    drained(&t, LIMIT).await?;
    let store = t.meta_store();
    for user in &users {
        let key = Channel::Messenger.contact_key(&played().meta_page_id, user);
        assert!(store.contact(&key).await?.is_some(), "contact {user}");
    }
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_sqs_refuses_is_parked_alone_with_its_reason() -> Result<()> {
    let t = stack().start().await?;
    let started = now_ms();
    let users = [
        new_messenger_user(&t, "Ada Kept").await?,
        new_messenger_user(&t, "Ada Refused").await?,
    ];
    // GIVEN SQS refuses one entry of the batch, whatever its reason
    t.stack
        .ingress_link
        .refuse_messages_containing(&t.stack.resources.queue_url, "m_refused");
    let (body, signature) = messenger_post(&[
        (&users[0], "m_kept", "\"kept\""),
        (&users[1], "m_refused", "\"refused\""),
    ]);
    // WHEN Meta delivers the batch
    let (status, answer) = t
        .post(
            &t.stack.meta_webhook_url(),
            &[("x-hub-signature-256", signature)],
            &body,
        )
        .await?;
    // THEN Meta gets its 200 (no retry of a batch SQS will refuse again), the other message is
    // stored, and the refused job waits in the DLQ with its reason
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        stored_text(&t, &users[0], "m_kept").await?.as_deref(),
        Some("kept")
    );
    let parked = t.dead_letters().await?;
    let [letter] = parked.as_slice() else {
        bail!("one parked job expected, {} found", parked.len())
    };
    let attribute = |name: &str| {
        letter
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(attribute("job_id"), "meta:msg:m_refused");
    assert_eq!(attribute("reason"), "queue_refused: InvalidMessageContents");
    let job = SyncJob::from_json(letter.body().context("body")?)?;
    assert_eq!(job.id(), "meta:msg:m_refused", "the job itself, to replay");
    // AND it is counted, by source and SQS's code
    t.stack.metrics.settled().await;
    let readings = t
        .stats_target()
        .metrics
        .read(started - 60_000, now_ms() + 60_000)
        .await?;
    let refused = readings
        .iter()
        .find(|r| r.name == "jobs_refused_by_queue")
        .context("no jobs_refused_by_queue metric")?;
    assert_eq!(
        (
            refused.dim("source"),
            refused.dim("reason"),
            refused.total()
        ),
        ("messenger", "InvalidMessageContents", Some(1.0))
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_job_sqs_refuses_is_parked_instead_of_retried_forever() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    // GIVEN SQS refuses the job of one delivery, whatever its reason
    t.stack
        .ingress_link
        .refuse_messages_containing(&t.stack.resources.queue_url, "wh-refused");
    let body = marketplace_body(
        "ContactUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "wh-refused",
    );
    // WHEN GHL delivers it
    let (status, answer) = t.post_signed(&body).await?;
    // THEN GHL is not asked to retry (a 429 would bring the same refusal back for hours): the
    // job waits in the DLQ with its reason, and nothing is on the queue
    assert_eq!(status, 202, "{answer}");
    let parked = t.dead_letters().await?;
    let [letter] = parked.as_slice() else {
        bail!("one parked job expected, {} found", parked.len())
    };
    let reason = letter
        .message_attributes()
        .and_then(|a| a.get("reason"))
        .and_then(|v| v.string_value());
    assert_eq!(reason, Some("queue_refused: InvalidMessageContents"));
    assert_eq!(
        SyncJob::from_json(letter.body().context("body")?)?.id(),
        "ghl:wh-refused"
    );
    assert_eq!(t.queue_depth(&t.stack.resources.queue_url).await?, 0);
    t.stop().await;
    Ok(())
}
