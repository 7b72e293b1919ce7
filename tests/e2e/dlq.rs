//! The dead-letter queue from the operator's side: `leadsync dlq list` shows what is parked and
//! why without consuming it, and `replay` puts it back through the consumer once the cause is
//! fixed.

use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use leadsync_cli::dlq::{self, Filter, ReplayOptions};
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::json;

const PHONE: &str = "+14155550141";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_job_is_listed_with_its_reason_and_replayed_once_the_cause_is_fixed() -> Result<()>
{
    // An account that allows duplicates: two replayed jobs creating twice would show.
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .start()
        .await?;
    let sqs = aws_sdk_sqs::Client::new(&t.stack.aws);
    let (queue, dead) = (
        t.stack.resources.queue_url.clone(),
        t.stack.resources.dlq_url.clone(),
    );
    let replay = |dry_run| {
        let (sqs, queue, dead) = (sqs.clone(), queue.clone(), dead.clone());
        async move {
            let opts = ReplayOptions {
                rate: NonZeroU32::new(50).expect("non-zero"),
                dry_run,
            };
            dlq::replay(
                &sqs,
                &queue,
                &dead,
                &Filter::default(),
                opts,
                &ProgressBar::hidden(),
            )
            .await
        }
    };

    // GIVEN a contact CallTools refuses, parked in the DLQ (one job per GHL webhook route)
    let id = parked_contact(&t, "Grace", PHONE).await?;

    // WHEN it is listed THEN it shows with its reason, and the DLQ is left as it was
    let listing = dlq::list(&sqs, &dead, &Filter::default()).await?;
    assert!(!listing.selected.is_empty(), "{listing:?}");
    assert_eq!(listing.total, listing.selected.len());
    for m in &listing.selected {
        assert!(m.reason.contains("CallTools"), "{}", m.reason);
        assert!(!m.redriven);
        assert_eq!(m.http_status, Some(400));
        assert!(
            m.contact.as_deref().is_some_and(|c| c.ends_with(&id)),
            "{m:?}"
        );
        assert!(m.parked_at_ms.is_some() && m.job_id.is_some(), "{m:?}");
    }
    assert_eq!(
        t.dead_letters().await?.len(),
        listing.total,
        "listing made every message visible again at once"
    );
    let by_contact = Filter {
        contact: Some(id.clone()),
        reason: Some("calltools".into()),
        since_ms: Some(
            dlq::filter::parse_time("1h", leadsync::domain::clock::now_ms())
                .map_err(anyhow::Error::msg)?,
        ),
        ..Filter::default()
    };
    assert_eq!(
        dlq::list(&sqs, &dead, &by_contact).await?.selected.len(),
        listing.total
    );
    let elsewhere = Filter {
        contact: Some("someone-else".into()),
        ..Filter::default()
    };
    assert!(
        dlq::list(&sqs, &dead, &elsewhere)
            .await?
            .selected
            .is_empty()
    );

    // WHEN a dry run replays THEN nothing changes
    let dry = replay(true).await?;
    assert_eq!((dry.selected, dry.replayed), (listing.total, 0));
    assert_eq!(t.dead_letters().await?.len(), listing.total);
    assert!(t.calltools_with_phone(PHONE).await?.is_empty());

    // WHEN the cause is fixed and the DLQ replayed THEN the contact reaches its bucket
    t.set_faults(json!({})).await?;
    let done = replay(false).await?;
    assert_eq!(
        (done.selected, done.replayed, done.failed),
        (listing.total, listing.total, 0),
        "{done:?}"
    );
    assert!(
        t.dead_letters().await?.is_empty(),
        "replayed messages left the DLQ"
    );
    in_bucket(&t, PHONE, COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    assert_eq!(
        t.calltools_with_phone(PHONE).await?.len(),
        1,
        "no duplicate"
    );
    assert!(t.dead_letters().await?.is_empty());

    // AND replaying again is a no-op
    let again = replay(false).await?;
    assert_eq!((again.selected, again.replayed, again.failed), (0, 0, 0));
    t.stop().await;
    Ok(())
}
