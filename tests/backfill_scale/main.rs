//! The backfill at the size the issue names: 25,000 tagged GHL contacts, 5 % of which never got a
//! webhook. One run, cut short and resumed, enqueues exactly those 1,250 at ceil(25,000/500) = 50
//! GHL search calls; once they are synced, a second run enqueues nothing and costs CallTools
//! nothing. Its own test binary, so its own moto.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, bail};
use leadsync::backfill::{Ending, Request, Status};
use leadsync::domain::clock::now_ms;
use leadsync_tests::*;
use serde_json::{Value, json};

const CONTACTS: usize = 25_000;
/// Every 20th contact is one whose webhooks GHL lost.
const MISSED_EVERY: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_25000_contacts_the_backfill_enqueues_exactly_the_never_synced_5_percent() -> Result<()>
{
    let t = stack().start().await?;
    let http = reqwest::Client::new();

    // GIVEN 25,000 tagged contacts in GHL, of which leadsync applied all but every 20th
    let imported: Value = http
        .post(format!("{}/_sandbox/ghl/contacts/import", t.sandbox()))
        .json(&json!({"count": CONTACTS, "tags": ["cold lead"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ids: Vec<String> = serde_json::from_value(imported["ids"].clone())?;
    assert_eq!(ids.len(), CONTACTS);
    let missed: BTreeSet<&str> = ids
        .iter()
        .step_by(MISSED_EVERY)
        .map(String::as_str)
        .collect();
    let seeded = leadsync_local::seed::applied_states(&t.stack, &missed).await?;
    assert_eq!(seeded, CONTACTS - missed.len());

    // WHEN a full run is cut short after a few seconds and resumed
    let backfill = leadsync::app::build_backfill(&t.stack.config, &t.stack.aws)?;
    let full = Request {
        full: true,
        ..Request::default()
    };
    let searches_before = ghl_searches(&t).await?;
    let cut_short = now_ms() + 30_000 + 4_000; // the run keeps a 30 s reserve
    let Ending::Paused(paused) = backfill.handle(&full, cut_short).await? else {
        bail!("the run was expected to pause at its deadline");
    };
    assert!(paused.pages < 50, "{paused:?}");
    let resume = Request {
        resume: true,
        ..Request::default()
    };
    let Ending::Finished(run) = backfill.handle(&resume, now_ms() + 600_000).await? else {
        bail!("the resumed run did not finish");
    };

    // THEN it saw every contact once, enqueued exactly the missed ones, in 50 searches
    assert_eq!(run.status, Status::Done, "{run:?}");
    assert_eq!(run.invocations, 2);
    assert_eq!(
        (run.pages, run.seen, run.enqueued, run.unchanged),
        (50, 25_000, 1_250, 23_750),
        "{run:?}"
    );
    // (The consumer's reads share GHL's burst limit with the run: a search answered 429 was
    // waited out and asked again; only the answered ones are the run's cost.)
    let (answered, rate_limited) = ghl_searches(&t).await?;
    assert_eq!(answered - searches_before.0, 50);
    println!(
        "searches answered 200: 50; answered 429 and retried: {}",
        rate_limited - searches_before.1
    );

    // AND the consumer syncs them: 1,250 contacts in CallTools, one each
    drained(&t, Duration::from_secs(900)).await?;
    let in_calltools: BTreeSet<String> = t
        .calltools_contacts()
        .await?
        .iter()
        .filter_map(|c| c["first_name"].as_str().map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = (0..CONTACTS)
        .step_by(MISSED_EVERY)
        .map(|i| format!("Import{i}"))
        .collect();
    assert_eq!(in_calltools, expected);

    // AND a second run enqueues nothing and costs CallTools nothing (for the 23,750 seeded states
    // this holds by construction, their hash being the backfill's own; the 1,250 were saved by
    // the consumer, and e2e `backfill::…_and_then_finds_nothing` checks the same for all)
    let calltools_calls = t.calltools_calls().await?.len();
    let Ending::Finished(again) = backfill.handle(&full, now_ms() + 600_000).await? else {
        bail!("the second run did not finish");
    };
    assert_eq!((again.seen, again.enqueued), (25_000, 0), "{again:?}");
    drained(&t, Duration::from_secs(60)).await?;
    assert_eq!(t.calltools_calls().await?.len(), calltools_calls);
    t.stop().await;
    Ok(())
}

/// `POST /contacts/search` calls GHL answered 200, and those it answered 429.
async fn ghl_searches(t: &TestStack) -> Result<(usize, usize)> {
    let counts = t
        .sandbox_client()
        .calls_by_status("ghl", Some("/contacts/search"))
        .await?;
    let (ok, limited) = (counts.get(&200), counts.get(&429));
    let (ok, limited) = (ok.copied().unwrap_or(0), limited.copied().unwrap_or(0));
    assert_eq!(
        ok + limited,
        counts.values().sum::<usize>(),
        "searches answered neither 200 nor 429: {counts:?}"
    );
    Ok((ok, limited))
}
