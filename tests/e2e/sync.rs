//! The happy path and the idempotency promises: one contact, one write, never stale data.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use leadsync::consumer::{Outcome, SkipReason};
use leadsync::domain::sink::SinkId;
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::json;

/// In both account modes: where CallTools merges a second create by phone, the creates sent show
/// a duplicate attempt; where it allows duplicates, the contacts do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_tagged_cold_lead_lands_once_in_the_bucket_with_its_mapping() -> Result<()> {
    for mode in [DuplicateMode::MergeByPhone, DuplicateMode::AllowDuplicates] {
        let t = stack().duplicate_mode(mode).start().await?;
        // GIVEN a GoHighLevel contact without tags
        let id = t.create_ghl_contact("Ada", "+14155550132").await?;
        // WHEN a rep tags it "cold lead" (GHL sends the Marketplace ContactTagUpdate and the
        // workflow Custom Webhook for the same change)
        t.tag(&id, "Cold Lead ").await?;
        // THEN it is in the Cold Leads bucket
        let contact = in_bucket(&t, "+14155550132", COLD_LEADS).await?;
        settled(&t, Duration::from_secs(30)).await?;
        let kinds: BTreeSet<String> = t
            .deliveries()
            .await?
            .iter()
            .filter(|d| d["status"] == 202)
            .map(|d| d["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            kinds.contains("Workflow") && kinds.contains("ContactTagUpdate"),
            "{mode:?}: both webhooks were accepted before the writes are counted: {kinds:?}"
        );
        assert_eq!(
            t.calltools_with_phone("+14155550132").await?.len(),
            1,
            "{mode:?}: exactly one CallTools contact"
        );
        assert_eq!(contact["first_name"], "Ada");
        let writes = t.calltools_writes().await?;
        assert_eq!(
            writes.len(),
            1,
            "{mode:?}: one write for two webhooks of one change: {writes:#?}"
        );
        assert_eq!(writes[0]["method"], "POST");
        let state = t.contact_state(&id).await?.expect("contact state stored");
        assert_eq!(
            state.sink(SinkId::CallTools).id,
            contact["id"].as_i64(),
            "GHL id → CallTools id mapping stored"
        );
        assert_eq!(
            state.sink(SinkId::CallTools).buckets,
            BTreeSet::from([COLD_LEADS])
        );
        t.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_delivered_twice_is_answered_once_queued_and_writes_nothing_more()
-> Result<()> {
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .start()
        .await?;
    let id = t
        .create_tagged_contact("Grace", "+14155550133", "cold lead")
        .await?;
    in_bucket(&t, "+14155550133", COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    let first = t
        .deliveries()
        .await?
        .into_iter()
        .find(|d| d["kind"] == "ContactCreate" && d["contactId"] == id.as_str())
        .expect("GHL delivered ContactCreate");
    // WHEN GHL (or anyone) delivers exactly the same signed body again
    let (status, answer) = t
        .post_signed(first["body"].as_str().unwrap_or_default().as_bytes())
        .await?;
    // THEN it is answered as a duplicate and nothing new happens in CallTools
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");
    drained(&t, Duration::from_secs(30)).await?;
    assert_eq!(t.calltools_with_phone("+14155550133").await?.len(), 1);
    let writes = t.calltools_writes().await?;
    assert_eq!(writes.len(), 1, "{writes:#?}\n{:#?}", t.stack.results());
    // AND the event log counts the dropped delivery on the original's entry
    let body: serde_json::Value = serde_json::from_str(first["body"].as_str().unwrap_or("{}"))?;
    let job_id = format!("ghl:{}", body["webhookId"].as_str().unwrap_or_default());
    let log = leadsync::aws::dynamo::events::DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let events = leadsync::ports::events::EventLog::for_contact(&log, "ghl", &id, 20).await?;
    let original = events
        .iter()
        .find(|e| e.job_id == job_id)
        .expect("the original job is logged");
    assert_ne!(original.outcome, "queued", "{original:?}");
    assert_eq!(original.duplicate_deliveries, 1, "{original:?}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_older_than_the_applied_version_is_skipped_as_stale() -> Result<()> {
    let t = stack().start().await?;
    let id = t
        .create_tagged_contact("Linus", "+14155550134", "cold lead")
        .await?;
    in_bucket(&t, "+14155550134", COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    let applied = t
        .contact_state(&id)
        .await?
        .and_then(|s| s.version_ms)
        .expect("a version was applied");
    let calls_before = t.calltools_calls().await?.len();
    // WHEN an update from a minute before the applied version arrives late
    let body = marketplace_body("ContactUpdate", &id, applied - 60_000, "late-update-1");
    let (status, _) = t.post_signed(&body).await?;
    assert_eq!(status, 202);
    // THEN it is skipped as stale, without a call to GHL or CallTools
    assert_eq!(
        t.final_outcome("ghl:late-update-1").await?,
        Outcome::Skipped(SkipReason::Stale)
    );
    assert_eq!(t.calltools_calls().await?.len(), calls_before);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_already_in_calltools_by_phone_is_merged_not_duplicated() -> Result<()> {
    for mode in [DuplicateMode::MergeByPhone, DuplicateMode::AllowDuplicates] {
        let t = stack().duplicate_mode(mode).start().await?;
        // GIVEN CallTools already has someone with this phone (entered by hand, say)
        let seeded = t
            .seed_calltools_contact(json!({"first_name": "Old", "last_name": "Entry", "mobile_phone_number": "+14155550135"}))
            .await?;
        let existing = seeded["id"].as_i64().expect("seeded id");
        // WHEN the same person is tagged in GoHighLevel
        let id = t
            .create_tagged_contact("Margaret", "+14155550135", "cold lead")
            .await?;
        let contact = in_bucket(&t, "+14155550135", COLD_LEADS).await?;
        settled(&t, Duration::from_secs(30)).await?;
        // THEN the existing contact is updated and put in the bucket; no second contact
        assert_eq!(
            t.calltools_with_phone("+14155550135").await?.len(),
            1,
            "{mode:?}"
        );
        assert_eq!(contact["id"].as_i64(), Some(existing), "{mode:?}");
        assert_eq!(contact["first_name"], "Margaret", "{mode:?}");
        assert_eq!(contact["last_name"], "Tester", "{mode:?}");
        assert_eq!(
            t.contact_state(&id)
                .await?
                .and_then(|s| s.sink(SinkId::CallTools).id),
            Some(existing)
        );
        let creates = t.calltools_creates_for("+14155550135").await?;
        match mode {
            // The create is answered MERGE and the membership set by one PATCH.
            DuplicateMode::MergeByPhone => assert_eq!(creates.len(), 1, "{creates:#?}"),
            // The lookup found the contact, so nothing was created.
            DuplicateMode::AllowDuplicates => assert!(creates.is_empty(), "{creates:#?}"),
        }
        assert!(t.calltools_writes().await?.len() <= 2, "{mode:?}");
        t.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_tag_takes_the_contact_out_of_the_bucket() -> Result<()> {
    let t = stack().start().await?;
    let id = t
        .create_tagged_contact("Barbara", "+14155550136", "cold lead")
        .await?;
    let contact = in_bucket(&t, "+14155550136", COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    t.untag(&id, "cold lead").await?;
    eventually(
        Duration::from_secs(30),
        "the contact to leave the bucket",
        || async {
            let now = t.calltools_with_phone("+14155550136").await?;
            Ok(now
                .first()
                .filter(|c| c["buckets"].as_array().is_some_and(Vec::is_empty))
                .cloned())
        },
    )
    .await?;
    assert_eq!(
        t.calltools_with_phone("+14155550136").await?[0]["id"],
        contact["id"],
        "never deleted"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_without_a_phone_is_skipped_with_that_reason() -> Result<()> {
    let t = stack().start().await?;
    let v = t
        .http
        .post(format!("{}/_sandbox/ghl/contacts", t.sandbox()))
        .json(
            &json!({"firstName": "Nophone", "email": "nophone@example.com", "tags": ["cold lead"]}),
        )
        .send()
        .await?
        .error_for_status()?
        .json::<serde_json::Value>()
        .await?;
    let id = v["contact"]["id"].as_str().unwrap_or_default().to_string();
    let delivery = eventually(
        Duration::from_secs(10),
        "the ContactCreate delivery",
        || async {
            Ok(t.deliveries().await?.into_iter().find(|d| {
                d["kind"] == "ContactCreate" && d["contactId"] == id.as_str() && d["status"] == 202
            }))
        },
    )
    .await?;
    let job_id = format!("ghl:{}", delivery["webhookId"].as_str().unwrap_or_default());
    // The workflow webhook for the same change may get there first; then this job finds the
    // contact already read after it arrived (covered), and that read was skipped for no phone.
    let outcome = t.final_outcome(&job_id).await?;
    assert!(
        matches!(
            outcome,
            Outcome::Skipped(SkipReason::NoPhone | SkipReason::Covered)
        ),
        "{outcome:?}"
    );
    drained(&t, Duration::from_secs(30)).await?;
    let outcomes: Vec<Outcome> = t.stack.results().into_iter().map(|r| r.outcome).collect();
    assert!(
        outcomes.contains(&Outcome::Skipped(SkipReason::NoPhone)),
        "{outcomes:?}"
    );
    assert!(t.calltools_writes().await?.is_empty());
    t.stop().await;
    Ok(())
}
