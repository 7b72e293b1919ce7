//! A create whose answer was lost: CallTools created the contact, leadsync saw a timeout and
//! has no id for it. If the contact leaves the rules (tag removed, deleted in GHL) before a retry
//! learns the id, leadsync must still find it by phone and take it out of its bucket: otherwise
//! it stays dialable though it is no longer a lead. Run in both kinds of account.

use std::time::Duration;

use anyhow::Result;
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::{Value, json};

const MODES: [DuplicateMode; 2] = [DuplicateMode::MergeByPhone, DuplicateMode::AllowDuplicates];

/// A stack whose next create reaches CallTools but whose answer comes after leadsync's 2 s
/// timeout; every CallTools request after it fails with 503 until `faults_cleared`, so no
/// retry can learn the id before the test changes the contact in GHL.
async fn lost_create(mode: DuplicateMode, first: &str, phone: &str) -> Result<(TestStack, String)> {
    let t = stack()
        .duplicate_mode(mode)
        .setting("CALLTOOLS_TIMEOUT_MS", "2000")
        // The breaker would (rightly) hold the retries back through the 503s; the test is about
        // what they do once CallTools answers.
        .setting("LEADSYNC_BREAKER_FAILURES", "0")
        .start()
        .await?;
    // Before the create: the bucket lookup, and in lookup mode the lookup by phone (nobody yet).
    let before_create = match mode {
        DuplicateMode::MergeByPhone => 1,
        DuplicateMode::AllowDuplicates => 2,
    };
    let mut script: Vec<Value> = vec![json!({"hang_ms": 1}); before_create];
    script.push(json!({"hang_ms": 4000}));
    script.extend(std::iter::repeat_n(json!({"status": 503}), 200));
    t.set_faults(json!({ "script": script })).await?;
    let id = t.create_tagged_contact(first, phone, "cold lead").await?;
    // The create was handled: CallTools has the contact in the bucket, leadsync is still waiting.
    in_bucket(&t, phone, COLD_LEADS).await?;
    Ok((t, id))
}

async fn faults_cleared(t: &TestStack) -> Result<()> {
    t.set_faults(json!({})).await
}

/// Waits for the one CallTools contact with `phone` to be in no bucket (and, if `flagged`,
/// marked `do_not_contact`).
async fn out_of_every_bucket(
    t: &TestStack,
    phone: &str,
    mode: DuplicateMode,
    flagged: bool,
) -> Result<()> {
    let left = eventually(
        Duration::from_secs(60),
        &format!("the contact created unseen to leave its bucket ({mode:?})"),
        || async {
            let now = t.calltools_with_phone(phone).await?;
            Ok(now
                .iter()
                .all(|c| {
                    c["buckets"].as_array().is_some_and(Vec::is_empty)
                        && (!flagged || c["do_not_contact"] == true)
                })
                .then_some(now))
        },
    )
    .await?;
    assert_eq!(left.len(), 1, "never deleted, never duplicated: {left:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_unseen_then_untagged_leaves_the_bucket() -> Result<()> {
    for mode in MODES {
        let phone = "+14155550191";
        let (t, id) = lost_create(mode, "Grace", phone).await?;
        t.untag(&id, "cold lead").await?;
        faults_cleared(&t).await?;
        out_of_every_bucket(&t, phone, mode, false).await?;
        t.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_unseen_then_deleted_in_ghl_leaves_the_bucket() -> Result<()> {
    for mode in MODES {
        let phone = "+14155550192";
        let (t, id) = lost_create(mode, "Alan", phone).await?;
        t.http
            .delete(format!("{}/_sandbox/ghl/contacts/{id}", t.sandbox()))
            .send()
            .await?
            .error_for_status()?;
        faults_cleared(&t).await?;
        out_of_every_bucket(&t, phone, mode, false).await?;
        t.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_unseen_then_put_on_dnd_is_flagged_and_leaves_the_bucket() -> Result<()> {
    for mode in MODES {
        let phone = "+14155550193";
        let (t, id) = lost_create(mode, "Edsger", phone).await?;
        t.sandbox_client()
            .call(
                reqwest::Method::POST,
                &format!("/_sandbox/ghl/contacts/{id}/dnd"),
                Some(json!({"dnd": true})),
            )
            .await?;
        faults_cleared(&t).await?;
        out_of_every_bucket(&t, phone, mode, true).await?;
        t.stop().await;
    }
    Ok(())
}
