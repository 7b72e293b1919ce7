//! `leadsync stats` after a known run on the local stack: every number it reads back from
//! CloudWatch (moto) equals what the sandbox's own logs and the consumer's record results say.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use leadsync::domain::clock::now_ms;
use leadsync_cli::stats::{collect, html, render};
use leadsync_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reports_exactly_what_the_stack_did() -> Result<()> {
    let started = now_ms();
    let t = stack().start().await?;
    // Three contacts heard by webhook and synced.
    for i in 0..3 {
        let phone = format!("+1415203000{i}");
        t.create_tagged_contact(&format!("Stat{i}"), &phone, "cold lead")
            .await?;
        in_bucket(&t, &phone, COLD_LEADS).await?;
    }
    // One whose webhooks GHL never sent: the backfill finds it.
    t.set_delivery(json!({"drop_rate": 1.0})).await?;
    t.create_tagged_contact("Missed", "+14152030009", "cold lead")
        .await?;
    t.set_delivery(json!({})).await?;
    // One forged webhook, without a signature.
    let body = marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "forged-1",
    );
    let (status, _) = t.post(&t.stack.webhook_url(), &[], &body).await?;
    assert_eq!(status, 401);
    drained(&t, Duration::from_secs(30)).await?;
    let run = t.run_backfill().await?;
    assert_eq!(run.enqueued, 1, "{run:?}");
    in_bucket(&t, "+14152030009", COLD_LEADS).await?;
    // After the run, one CallTools refuses: parked. Every webhook is answered before anything
    // is counted: one still on its way when the queue looks empty would be in the sandbox's log
    // and not yet in the metrics, or the reverse.
    parked_contact(&t, "Refused", "+14155550139").await?;
    t.stack.metrics.settled().await;
    assert_eq!(t.stack.metrics.failures(), 0);

    let stats = collect(&t.stats_target(), started, now_ms() + 60_000).await?;
    let text = render::text(&stats);

    // Webhooks: every request the sandbox's GHL got an answer to, plus the forged one.
    let answered = t
        .deliveries()
        .await?
        .iter()
        .filter(|d| d["status"].is_u64())
        .count() as u64;
    let w = &stats.webhooks["ghl"];
    assert_eq!(w.received, answered + 1, "{text}");
    assert_eq!(w.rejected, 1, "{text}");
    assert_eq!(
        w.rejected_by_reason,
        BTreeMap::from([("signature_missing".to_string(), 1)])
    );
    assert_eq!(w.enqueued + w.duplicate + w.ignored, answered, "{text}");
    assert_eq!(w.verified, answered, "{text}");

    // Jobs: as many of each outcome as the consumer reported records.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in t.stack.results() {
        *expected
            .entry(leadsync::consumer::outcome_dimension(&r.outcome).to_string())
            .or_default() += 1;
    }
    assert_eq!(stats.jobs["ghl"].by_outcome, expected, "{text}");
    assert_eq!(expected["parked"], t.dead_letters().await?.len() as u64);

    // Contacts: three by webhook, one by the backfill (the refused one never reached CallTools).
    assert_eq!(
        stats.contacts_created["ghl"],
        BTreeMap::from([("backfill".to_string(), 1), ("webhook".to_string(), 3)]),
        "{text}"
    );
    let latency = &stats.sync_latency_ms["ghl"];
    assert_eq!(latency.count, expected["synced"], "{text}");
    let (p50, p95, p99) = (
        latency.p50.unwrap(),
        latency.p95.unwrap(),
        latency.p99.unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99, "{text}");

    // CallTools: the answers by class the sandbox logged.
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for c in t.calltools_calls().await? {
        let class = match c["status"].as_u64() {
            Some(200..=299) => "2xx",
            Some(429) => "429",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
            None => continue,
        };
        *classes.entry(class.to_string()).or_default() += 1;
    }
    let sink = &stats.sinks["calltools"];
    assert_eq!(sink.responses_by_class, classes, "{text}");
    assert!(sink.error_rate.unwrap() > 0.0);

    // Backfill and queues.
    assert_eq!(stats.backfill.max_drift["ghl"], 1, "{text}");
    assert_eq!(stats.backfill.runs_finished["ghl"], 1, "{text}");
    assert_eq!(stats.backfill.last_runs[0].drift, 1, "{text}");
    assert_eq!(stats.queues.jobs, Some(0));
    assert_eq!(stats.queues.dlq_depth, Some(expected["parked"]), "{text}");
    assert!(stats.queues.dlq_oldest_age_secs.unwrap() < 600, "{text}");
    t.stop().await;
    Ok(())
}

/// The report page as Debian's Chromium renders it: the DOM it built from the page, and a
/// screenshot that is not blank.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_its_graphs_in_a_real_browser() -> Result<()> {
    if !browser_available()? {
        return Ok(());
    }
    let started = now_ms();
    let t = stack().start().await?;
    for i in 0..2 {
        let phone = format!("+1415204000{i}");
        t.create_tagged_contact(&format!("Page{i}"), &phone, "cold lead")
            .await?;
        in_bucket(&t, &phone, COLD_LEADS).await?;
    }
    webhooks_delivered(&t, Duration::from_secs(30)).await?;
    drained(&t, Duration::from_secs(30)).await?;
    t.stack.metrics.settled().await;
    let target = t.stats_target();
    let stats = collect(&target, started, now_ms() + 60_000).await?;
    let page = html::report(&target, &stats).await?;
    t.stop().await;

    let dir = std::env::temp_dir().join(format!("leadsync-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("report.html");
    std::fs::write(&report, &page)?;
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!doctype html><html><body></body></html>")?;

    let dom = chromium(&dir, &["--dump-dom".into(), url(&report)]).await?;
    assert_eq!(dom.matches("<figure").count(), 5, "five graphs: {dom}");
    assert!(dom.contains("<svg"), "{dom}");
    // Sink answers are drawn per sink and class ("calltools 2xx", "ghl 2xx").
    for line in [
        "received",
        "enqueued",
        "synced",
        "p50",
        "p95",
        "p99",
        "calltools 2xx",
    ] {
        assert!(
            dom.contains(&format!("data-label=\"{line}\"")),
            "a line for {line}: {dom}"
        );
    }
    assert!(dom.contains("jobs synced"), "the tiles are there");

    let shot = |name: &str| dir.join(name);
    for (page, png) in [(&report, "report.png"), (&blank, "blank.png")] {
        chromium(
            &dir,
            &[
                format!("--screenshot={}", shot(png).display()),
                "--window-size=1280,1400".into(),
                "--hide-scrollbars".into(),
                url(page),
            ],
        )
        .await?;
    }
    let size = |p: &str| std::fs::metadata(shot(p)).map(|m| m.len());
    let (report_png, blank_png) = (size("report.png")?, size("blank.png")?);
    assert!(
        report_png > 5 * blank_png,
        "the screenshot shows something: {report_png} bytes against {blank_png} for a blank page"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Whether Debian's Chromium is on the PATH. `make test` installs nothing with `sudo` on a user's
/// machine, so without it this test is skipped, and says so; `make test` prints the same SKIP
/// line where it shows. CI installs Chromium and sets `LEADSYNC_REQUIRE_BROWSER=1`, which turns
/// a missing browser into a failure.
fn browser_available() -> Result<bool> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("chromium").is_file()));
    if on_path {
        return Ok(true);
    }
    anyhow::ensure!(
        std::env::var("LEADSYNC_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "LEADSYNC_REQUIRE_BROWSER=1 but chromium is not on the PATH (`make browser` installs it)"
    );
    eprintln!(
        "SKIP the_html_report_renders_its_graphs_in_a_real_browser: chromium is not installed \
         (`make browser` installs Debian's chromium, with sudo when not root)"
    );
    Ok(false)
}

fn url(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// Runs headless Chromium once (flags that keep it off the network) and returns its stdout.
async fn chromium(dir: &std::path::Path, args: &[String]) -> Result<String> {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let profile = dir.join(format!("profile-{run}"));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("chromium did not finish in 60 s"))?
    .map_err(|e| {
        anyhow::anyhow!(
            "chromium could not start ({e}): install Debian's chromium (`make browser`)"
        )
    })?;
    anyhow::ensure!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
