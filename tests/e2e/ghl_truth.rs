//! GoHighLevel as it really answers: a refused read is not a deletion, a real one is undone by
//! the backfill when the contact comes back, tags are found whatever case a rule is written in,
//! `null` fields parse everywhere, and two changes stamped in the same second are both applied.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync::backfill::Status;
use leadsync::consumer::Outcome;
use leadsync::domain::sink::SinkId;
use leadsync_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A tagged contact synced into Cold Leads, with every job of its creation settled.
async fn synced(t: &TestStack, first: &str, phone: &str) -> Result<String> {
    let id = t.create_tagged_contact(first, phone, "cold lead").await?;
    in_bucket(t, phone, COLD_LEADS).await?;
    webhooks_delivered(t, WAIT).await?;
    drained(t, WAIT).await?;
    Ok(id)
}

/// Sends GoHighLevel's ContactUpdate for `id` as a signed Marketplace webhook; answers its job id.
async fn contact_update(t: &TestStack, id: &str, webhook_id: &str) -> Result<String> {
    let body = marketplace_body(
        "ContactUpdate",
        id,
        leadsync::domain::clock::now_ms(),
        webhook_id,
    );
    let (status, answer) = t.post_signed(&body).await?;
    anyhow::ensure!(status == 202, "ingress answered {status}: {answer}");
    Ok(format!("ghl:{webhook_id}"))
}

async fn buckets_of(t: &TestStack, phone: &str) -> Result<Vec<Value>> {
    let found = t.calltools_with_phone(phone).await?;
    let contact = found.first().context("the CallTools contact")?;
    Ok(contact["buckets"].as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_read_that_is_not_a_not_found_parks_with_its_reason_and_leaves_the_bucket_alone()
-> Result<()> {
    let t = stack().start().await?;
    for (answer, phone, reason) in [
        (
            "invalid_version_400",
            "+14152050001",
            "Version header is invalid",
        ),
        ("unprocessable_422", "+14152050002", "Unprocessable Entity"),
    ] {
        // GIVEN a synced contact whose reads GoHighLevel now refuses without saying it is gone
        let id = synced(&t, answer, phone).await?;
        t.refuse_reads(&id, Some(answer)).await?;

        // WHEN a change to it arrives
        let job = contact_update(&t, &id, &format!("truth-{answer}")).await?;

        // THEN the job is parked with GoHighLevel's reason, not taken for a deletion: its words
        // stay with the parked job, the logged reason names the answer's fields only
        let Outcome::Park {
            reason: why,
            excerpt,
            ..
        } = t.final_outcome(&job).await?
        else {
            anyhow::bail!("{answer}: the job was not parked");
        };
        assert!(excerpt.contains(reason), "{answer}: {excerpt}");
        assert!(
            why.contains("(fields: ") && !why.contains(reason),
            "{answer}: {why}"
        );
        // AND the contact stays in its bucket, in CallTools and in leadsync's state
        assert_eq!(
            buckets_of(&t, phone).await?,
            [json!(COLD_LEADS)],
            "{answer}"
        );
        let state = t.contact_state(&id).await?.context("state")?;
        assert!(
            !state.sink(SinkId::CallTools).buckets.is_empty() && state.source_hash.is_some(),
            "{answer}"
        );
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_ghl_does_not_find_leaves_its_bucket_and_the_backfill_puts_it_back_when_restored()
-> Result<()> {
    let t = stack().start().await?;
    let phone = "+14152050011";
    let id = synced(&t, "Restored", phone).await?;

    // WHEN GoHighLevel answers 404 for the contact (deleted) and a change to it arrives
    t.refuse_reads(&id, Some("not_found_404")).await?;
    let job = contact_update(&t, &id, "truth-gone-1").await?;
    assert!(matches!(
        t.final_outcome(&job).await?,
        Outcome::Synced { .. }
    ));
    // THEN it leaves its bucket and leadsync forgets the source hash it was synced from
    eventually(WAIT, "the contact out of its bucket", || async {
        Ok(buckets_of(&t, phone).await?.is_empty().then_some(()))
    })
    .await?;
    let state = t.contact_state(&id).await?.context("state")?;
    assert_eq!(state.source_hash, None);

    // WHEN GoHighLevel shows the contact again, unchanged (restored), and the backfill runs
    t.refuse_reads(&id, None).await?;
    let run = t.run_backfill().await?;

    // THEN the backfill sees it as changed and it is back in its bucket
    assert_eq!(
        (run.status.clone(), run.enqueued),
        (Status::Done, 1),
        "{run:?}"
    );
    in_bucket(&t, phone, COLD_LEADS).await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_written_cold_lead_finds_the_contacts_ghl_holds_as_cold_lead() -> Result<()> {
    // GIVEN a rule written in title case, and a GoHighLevel that keeps tags lower-case and
    // searches them case-sensitively with only the documented operators (the sandbox default)
    let t = stack()
        .setting(
            "LEADSYNC_RULES",
            r#"[{"tag":"Cold Lead","bucket":"Cold Leads"}]"#,
        )
        .start()
        .await?;
    let account = t.ghl_account(json!({})).await?;
    assert_eq!(
        (account["tag_search"].as_str(), account["tag_case"].as_str()),
        (Some("documented"), Some("lower"))
    );
    // AND two contacts tagged "Cold Lead" whose webhooks were lost
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    for (i, phone) in ["+14152050021", "+14152050022"].iter().enumerate() {
        let id = t
            .create_tagged_contact(&format!("Case{i}"), phone, "Cold Lead")
            .await?;
        assert_eq!(t.ghl_contact(&id).await?["tags"], json!(["cold lead"]));
    }
    t.set_delivery(json!({})).await?;

    // WHEN the backfill runs THEN it finds both and they are synced
    let run = t.run_backfill().await?;
    assert_eq!(
        (run.status.clone(), run.seen, run.enqueued),
        (Status::Done, 2, 2),
        "{run:?}"
    );
    in_bucket(&t, "+14152050021", COLD_LEADS).await?;
    in_bucket(&t, "+14152050022", COLD_LEADS).await?;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_fields_parse_in_webhooks_contact_reads_and_search_pages() -> Result<()> {
    let t = stack().start().await?;
    let account = t.ghl_account(json!({})).await?;
    assert_eq!(account["empty_fields"], "null", "GoHighLevel's default");
    // GIVEN a contact with a phone only: email, last name and tags are null wherever GHL sends it
    let phone = "+14152050031";
    let v = t
        .sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/ghl/contacts",
            Some(json!({"firstName": "Nulla", "phone": phone})),
        )
        .await?;
    let id = v["contact"]["id"].as_str().context("id")?.to_string();
    webhooks_delivered(&t, WAIT).await?;
    drained(&t, WAIT).await?;
    // THEN its read parses (not in any rule yet, nothing parked)
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");
    assert!(
        t.contact_state(&id)
            .await?
            .and_then(|s| s.read_at_ms)
            .is_some(),
        "the read was applied"
    );

    // AND once tagged it is synced
    t.tag(&id, "cold lead").await?;
    let c = in_bucket(&t, phone, COLD_LEADS).await?;
    assert_eq!(c["first_name"], "Nulla");
    webhooks_delivered(&t, WAIT).await?;
    drained(&t, WAIT).await?;

    // AND backfill runs read search pages holding null fields: the tagged contact in a full
    // run, an untagged one (null tags) in the incremental run after it
    let full = t.run_backfill().await?;
    assert_eq!(
        (full.status.clone(), full.seen),
        (Status::Done, 1),
        "{full:?}"
    );
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/ghl/contacts",
            Some(json!({"firstName": "Nullb", "phone": "+14152050032"})),
        )
        .await?;
    let since = t.run_backfill().await?;
    assert_eq!(since.status, Status::Done, "{since:?}");
    assert!(since.seen >= 1, "{since:?}");
    assert!(t.dead_letters().await?.is_empty(), "nothing parked");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_changes_within_one_second_both_reach_calltools_in_order() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN GoHighLevel's clock held inside one second (half past it), so both changes below
    // are stamped with the same whole-second webhook timestamp, as GHL documents it
    let second = leadsync::domain::clock::now_ms() / 1000 * 1000;
    t.ghl_account(json!({"frozen_at_ms": second + 500})).await?;

    // WHEN a contact is created, tagged, and synced
    let phone = "+14152050041";
    let id = synced(&t, "First", phone).await?;
    assert_eq!(
        t.calltools_with_phone(phone).await?[0]["first_name"],
        "First"
    );
    let applied = t.contact_state(&id).await?.context("state")?;
    assert_eq!(applied.webhook_ms, Some(second), "the webhook's clock");
    assert_eq!(applied.version_ms, Some(second + 500), "GHL's dateUpdated");

    // AND changed again within the same second
    t.update_ghl_contact(&id, json!({"firstName": "Second"}))
        .await?;

    // THEN the second change reaches CallTools too, after the first
    eventually(WAIT, "the second change in CallTools", || async {
        let now = t.calltools_with_phone(phone).await?;
        Ok((now.first().is_some_and(|c| c["first_name"] == "Second")).then_some(()))
    })
    .await?;
    webhooks_delivered(&t, WAIT).await?;
    drained(&t, WAIT).await?;
    let names: Vec<Value> = t
        .calltools_writes()
        .await?
        .iter()
        .filter_map(|w| w["request_json"].get("first_name").cloned())
        .collect();
    assert_eq!(names.last(), Some(&json!("Second")), "{names:?}");
    assert_eq!(names.first(), Some(&json!("First")), "{names:?}");
    let state = t.contact_state(&id).await?.context("state")?;
    assert_eq!(state.version_ms, Some(second + 501));
    t.stop().await;
    Ok(())
}
