//! Do-not-disturb reaches the dialer: a contact GoHighLevel says may not be called is flagged
//! `do_not_contact` in CallTools and taken out of its buckets within seconds, stays out while DND
//! holds whatever else changes, and comes back when DND is lifted. The backfill catches DND
//! changes GHL sent no webhook for.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::aws::dynamo::events::DynamoEventLog;
use leadsync::consumer::{Outcome, SkipReason};
use leadsync::domain::contact::DoNotCall;
use leadsync_cli::commands::trace::{render, trace};
use leadsync_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// Changes the contact's DND as GoHighLevel would (`POST /_sandbox/ghl/contacts/{id}/dnd`).
async fn set_dnd(t: &TestStack, id: &str, change: Value) -> Result<()> {
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            &format!("/_sandbox/ghl/contacts/{id}/dnd"),
            Some(change),
        )
        .await?;
    Ok(())
}

fn call_dnd(status: &str) -> Value {
    json!({"dndSettings": {"Call": {"status": status, "message": "", "code": ""}}})
}

/// The job of the last `kind` webhook GHL delivered for the contact, once delivered.
async fn last_job(t: &TestStack, id: &str, kind: &str) -> Result<String> {
    webhooks_delivered(t, WAIT).await?;
    let delivery = t
        .deliveries()
        .await?
        .into_iter()
        .rev()
        .find(|d| d["kind"] == kind && d["contactId"] == id)
        .with_context(|| format!("GHL delivered no {kind} for {id}"))?;
    let body: Value = serde_json::from_str(delivery["body"].as_str().unwrap_or("{}"))?;
    Ok(format!(
        "ghl:{}",
        body["webhookId"].as_str().context("webhookId")?
    ))
}

/// The CallTools contact with this phone once it cannot be dialed: flagged and in no bucket.
async fn undialable(t: &TestStack, phone: &str) -> Result<Value> {
    eventually(
        WAIT,
        "the contact flagged and out of every bucket",
        || async {
            Ok(t.calltools_with_phone(phone).await?.into_iter().find(|c| {
                c["do_not_contact"] == true && c["buckets"].as_array().is_some_and(Vec::is_empty)
            }))
        },
    )
    .await
}

fn event_log(t: &TestStack) -> DynamoEventLog {
    DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_put_on_dnd_is_flagged_and_leaves_its_bucket_and_a_tag_change_does_not_put_it_back()
-> Result<()> {
    let t = stack().start().await?;
    // GIVEN a cold lead, dialable from its bucket
    let phone = "+14155550181";
    let id = t.create_tagged_contact("Dora", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    // Every webhook of the tagging delivered and done: one arriving late would read the contact
    // after the DND below and apply it before the DND job does.
    settled(&t, WAIT).await?;
    // WHEN it is put on DND in GHL (ContactDndUpdate)
    set_dnd(&t, &id, json!({"dnd": true})).await?;
    // THEN CallTools flags it and it leaves the bucket, in one write
    undialable(&t, phone).await?;
    let dnd_job = last_job(&t, &id, "ContactDndUpdate").await?;
    assert!(
        matches!(
            t.final_outcome(&dnd_job).await?,
            Outcome::Synced {
                do_not_call: Some(DoNotCall::AllChannels),
                ..
            }
        ),
        "{:#?}",
        t.stack.results()
    );
    let flagging: Vec<Value> = t
        .calltools_writes()
        .await?
        .into_iter()
        .filter(|w| w["request_json"]["do_not_contact"] == true)
        .collect();
    assert_eq!(flagging.len(), 1, "{flagging:#?}");
    assert_eq!(flagging[0]["method"], "PATCH");

    // WHEN a rep tags it again while DND holds
    t.tag(&id, "hot lead").await?;
    let tag_job = last_job(&t, &id, "ContactTagUpdate").await?;
    t.final_outcome(&tag_job).await?;
    drained(&t, WAIT).await?;
    // THEN it is still flagged and in no bucket
    let contact = &t.calltools_with_phone(phone).await?[0];
    assert_eq!(contact["do_not_contact"], true, "{contact}");
    assert_eq!(contact["buckets"], json!([]), "{contact}");

    // AND the trace says where the DND came from
    let found = trace(&event_log(&t), "ghl", &id, 20).await?;
    assert_eq!(found.states[0].do_not_call, Some("dnd"));
    let text = render(&found);
    assert!(text.contains("do not call: dnd"), "{text}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnd_set_without_a_webhook_is_caught_by_the_backfill_which_never_puts_it_back() -> Result<()>
{
    let t = stack().start().await?;
    let phone = "+14155550182";
    let id = t.create_tagged_contact("Ines", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    settled(&t, WAIT).await?;
    // GIVEN the contact replied STOP: inbound DND, for which GHL sends no webhook
    set_dnd(&t, &id, json!({"dnd": true, "webhook": false})).await?;
    webhooks_delivered(&t, WAIT).await?;
    assert!(
        !t.deliveries()
            .await?
            .iter()
            .any(|d| d["kind"] == "ContactDndUpdate"),
        "no webhook for inbound DND"
    );
    // WHEN the backfill runs
    let run = t.run_backfill().await?;
    // THEN it re-reads the contact, sees the DND and takes it out of the dialer
    assert_eq!(run.enqueued, 1, "{run:?}");
    undialable(&t, phone).await?;
    drained(&t, WAIT).await?;
    // AND the next run finds nothing to do: it never puts the contact back
    let again = t.run_backfill().await?;
    assert_eq!(again.enqueued, 0, "{again:?}");
    let contact = &t.calltools_with_phone(phone).await?[0];
    assert_eq!(
        (&contact["do_not_contact"], &contact["buckets"]),
        (&json!(true), &json!([]))
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_dnd_puts_the_contact_back_in_its_bucket_unflagged() -> Result<()> {
    let t = stack().start().await?;
    let phone = "+14155550183";
    let id = t.create_tagged_contact("Lena", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    set_dnd(&t, &id, json!({"dnd": true})).await?;
    undialable(&t, phone).await?;
    // WHEN DND is lifted and the contact is still tagged "cold lead"
    set_dnd(&t, &id, json!({"dnd": false})).await?;
    // THEN it is back in its bucket and no longer flagged
    let contact = in_bucket(&t, phone, COLD_LEADS).await?;
    assert_eq!(contact["do_not_contact"], false, "{contact}");
    // CallTools shows the write before the consumer saves the state: wait for the job to end.
    settled(&t, WAIT).await?;
    let state = t.contact_state(&id).await?.context("a state")?;
    assert_eq!(state.do_not_call, None);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnd_on_calls_alone_is_enough_and_dnd_on_sms_alone_does_not_block() -> Result<()> {
    let t = stack().start().await?;
    let phone = "+14155550184";
    let id = t.create_tagged_contact("Sami", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    // GIVEN DND on SMS only: calls are still allowed
    set_dnd(
        &t,
        &id,
        json!({"dndSettings": {"SMS": {"status": "active", "message": "", "code": ""}}}),
    )
    .await?;
    let sms_job = last_job(&t, &id, "ContactDndUpdate").await?;
    t.final_outcome(&sms_job).await?;
    let contact = in_bucket(&t, phone, COLD_LEADS).await?;
    assert_eq!(contact["do_not_contact"], false, "{contact}");
    // WHEN DND is set on calls alone (dnd stays false)
    set_dnd(&t, &id, call_dnd("active")).await?;
    // THEN that is enough to take it out of the dialer
    undialable(&t, phone).await?;
    assert_eq!(t.ghl_contact(&id).await?["dnd"], false);
    // CallTools shows the write before the consumer saves the state: wait for the job to end.
    settled(&t, WAIT).await?;
    let state = t.contact_state(&id).await?.context("a state")?;
    assert_eq!(state.do_not_call, Some(DoNotCall::Calls));
    let text = render(&trace(&event_log(&t), "ghl", &id, 20).await?);
    assert!(text.contains("do not call      dnd_call"), "{text}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_on_dnd_is_never_created_in_calltools() -> Result<()> {
    let t = stack().start().await?;
    let phone = "+14155550185";
    // GIVEN a new GHL contact, tagged "cold lead" but on DND from the start
    let v = t
        .sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/ghl/contacts",
            Some(json!({"firstName": "Nora", "phone": phone, "dnd": true, "tags": ["cold lead"]})),
        )
        .await?;
    let id = v["contact"]["id"].as_str().context("contact id")?;
    // THEN the change is read once and skipped for DND — by this job, or by the workflow
    // webhook's job for the same change, whose read covers this one (ingress numbered both
    // before it) — and CallTools never hears of it
    let job = last_job(&t, id, "ContactCreate").await?;
    let outcome = t.final_outcome(&job).await?;
    assert!(
        matches!(
            outcome,
            Outcome::Skipped(SkipReason::DoNotCall(DoNotCall::AllChannels) | SkipReason::Covered)
        ),
        "{outcome:?}"
    );
    drained(&t, WAIT).await?;
    assert!(t.calltools_with_phone(phone).await?.is_empty());
    let found = trace(&event_log(&t), "ghl", id, 20).await?;
    assert!(
        found
            .events
            .iter()
            .any(|e| e.outcome == "skipped" && e.reason.as_deref() == Some("dnd")),
        "{found:#?}"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_dnd_flag_the_contact_is_flagged_but_keeps_its_bucket() -> Result<()> {
    let t = stack().setting("LEADSYNC_ON_DND", "flag").start().await?;
    let phone = "+14155550186";
    let id = t.create_tagged_contact("Flo", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    set_dnd(&t, &id, call_dnd("active")).await?;
    let flagged = eventually(WAIT, "the contact flagged", || async {
        Ok(t.calltools_with_phone(phone)
            .await?
            .into_iter()
            .find(|c| c["do_not_contact"] == true))
    })
    .await?;
    assert_eq!(flagged["buckets"], json!([COLD_LEADS]), "{flagged}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_put_on_dnd_after_its_phone_was_erased_still_leaves_the_dialer() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN a cold lead, dialable from its bucket
    let phone = "+14155550187";
    let id = t.create_tagged_contact("Phil", phone, "cold lead").await?;
    in_bucket(&t, phone, COLD_LEADS).await?;
    settled(&t, WAIT).await?;
    // WHEN a rep erases its phone in GHL, then it is put on DND
    t.update_ghl_contact(&id, json!({"phone": ""})).await?;
    set_dnd(&t, &id, json!({"dnd": true})).await?;
    // THEN CallTools still flags it and takes it out of the bucket, though nothing else about
    // it can be written without a phone
    let contact = undialable(&t, phone).await?;
    assert_eq!(contact["_phone_numbers"], json!([phone]), "{contact}");
    t.stop().await;
    Ok(())
}
