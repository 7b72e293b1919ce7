//! The subscription check against a Page that other apps are subscribed to as well: the
//! sandbox's `subscribed_apps` lists them beside leadsync's app (or instead of it). The daily
//! backfill run and `leadsync meta check` judge leadsync's own app (`META_APP_ID`) only, and
//! say they cannot tell when no app id is configured.

use anyhow::{Context, Result, bail};
use leadsync::backfill::{Ending, Request, Run};
use leadsync::domain::clock::now_ms;
use leadsync::sources::meta::subscription::{REQUIRED_FIELDS, SubscriptionHealth};
use leadsync_sandbox::SandboxConfig;
use leadsync_tests::*;
use serde_json::{Value, json};

/// A CRM on the same Page, subscribed to every field leadsync reads (and more).
fn crm_with_every_field() -> Value {
    let mut fields: Vec<&str> = REQUIRED_FIELDS.to_vec();
    fields.push("feed");
    json!({"id": "2000000000000001", "name": "Some CRM", "subscribed_fields": fields})
}

/// The Messenger backfill through the local Lambda, as the schedule runs it, and the
/// `meta_subscribed` gauge it left in CloudWatch.
async fn messenger_run(t: &TestStack) -> Result<(Run, f64)> {
    let started = now_ms();
    let request = Request {
        source: Some("messenger".into()),
        full: true,
        ..Request::default()
    };
    let run = match t.backfill_function()?.run_to_end(&request, |_| {}).await? {
        Ending::Finished(run) => run,
        other => bail!("the run did not finish: {other:?}"),
    };
    t.stack.metrics.settled().await;
    let readings = t
        .stats_target()
        .metrics
        .read(started - 60_000, now_ms() + 60_000)
        .await?;
    let gauge = readings
        .iter()
        .find(|r| r.name == "meta_subscribed" && r.dim("source") == "messenger")
        .and_then(|r| r.total())
        .context("no meta_subscribed gauge after the run")?;
    Ok((run, gauge))
}

/// What `leadsync meta check` concludes, with the app id the stack is configured with.
async fn meta_check(t: &TestStack) -> Result<SubscriptionHealth> {
    let played = SandboxConfig::default();
    leadsync_cli::commands::meta::subscription(
        &t.stack.config,
        leadsync::support::secret::Secret::new(played.meta_page_token),
        &played.meta_page_id,
        t.stack.config.meta.app_id.as_deref(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_app_subscribed_to_the_page_does_not_make_leadsync_subscribed() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    // GIVEN Meta dropped leadsync's app while a CRM on the Page keeps every field.
    t.meta(
        "subscription",
        json!({"subscribed": false, "other_apps": [crm_with_every_field()]}),
    )
    .await?;
    // WHEN the backfill runs and the operator checks.
    let (run, gauge) = messenger_run(&t).await?;
    let check = meta_check(&t).await?;
    // THEN both say leadsync's app is not subscribed.
    assert_eq!(gauge, 0.0);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("is not subscribed") && w.contains("Some CRM")),
        "{:?}",
        run.warnings
    );
    assert!(
        matches!(check, SubscriptionHealth::NotSubscribed { .. }),
        "{check:?}"
    );
    let page = SandboxConfig::default().meta_page_id;
    let text = check.describe(&page, t.stack.config.meta.app_id.as_deref());
    assert!(text.contains("NOT SUBSCRIBED"), "{text}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadsync_subscribed_with_every_field_is_healthy_whatever_other_apps_have() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    // GIVEN leadsync's app with its default fields, and a CRM on the Page with `feed` only.
    t.meta(
        "subscription",
        json!({"subscribed": true, "other_apps": [
            {"id": "2000000000000001", "name": "Some CRM", "subscribed_fields": ["feed"]}
        ]}),
    )
    .await?;
    let (run, gauge) = messenger_run(&t).await?;
    assert_eq!(gauge, 1.0);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    // The fields reported are leadsync's own, not the union with the CRM's.
    let SubscriptionHealth::Subscribed { fields } = meta_check(&t).await? else {
        bail!("leadsync's app is subscribed with every field")
    };
    assert!(!fields.iter().any(|f| f == "feed"), "{fields:?}");
    assert!(
        REQUIRED_FIELDS
            .iter()
            .all(|r| fields.iter().any(|f| f == r))
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadsync_subscribed_without_fields_it_reads_is_reported_even_if_another_app_has_them()
-> Result<()> {
    let t = stack().without_consumer().start().await?;
    // GIVEN leadsync's app receives `messages` only; the CRM has everything.
    t.meta(
        "subscription",
        json!({"subscribed": true, "fields": ["messages"], "other_apps": [crm_with_every_field()]}),
    )
    .await?;
    let (run, gauge) = messenger_run(&t).await?;
    assert_eq!(gauge, 0.0);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("without") && w.contains("message_echoes")),
        "{:?}",
        run.warnings
    );
    let check = meta_check(&t).await?;
    let SubscriptionHealth::MissingFields { missing, .. } = &check else {
        bail!("fields are missing: {check:?}")
    };
    assert_eq!(missing, &REQUIRED_FIELDS[1..].to_vec());
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_meta_app_id_the_check_says_it_cannot_tell_rather_than_healthy() -> Result<()> {
    let t = stack()
        .without_consumer()
        .setting("META_APP_ID", "")
        .start()
        .await?;
    // GIVEN leadsync's app and a CRM both subscribed with every field: the list alone cannot
    // say which entry is leadsync's.
    t.meta(
        "subscription",
        json!({"subscribed": true, "other_apps": [crm_with_every_field()]}),
    )
    .await?;
    let (run, gauge) = messenger_run(&t).await?;
    assert_eq!(gauge, -1.0);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("cannot tell") && w.contains("META_APP_ID")),
        "{:?}",
        run.warnings
    );
    let check = meta_check(&t).await?;
    assert_eq!(check.status(), "unknown");
    let text = check.describe(&SandboxConfig::default().meta_page_id, None);
    assert!(text.contains("CANNOT TELL"), "{text}");
    t.stop().await;
    Ok(())
}
