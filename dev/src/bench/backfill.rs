//! The backfill on the local stack at 50,000 contacts: a full run's GHL calls beside
//! ceil(N/500), and its wall time beside the limit measured in the same run — paging through
//! the same contacts with the same client and nothing else; CallTools calls of a run that finds
//! nothing changed (target 0); jobs enqueued per contact changed without a webhook (target 1).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use leadsync::backfill::{Ending, Request};
use leadsync::domain::clock::now_ms;
use leadsync::sources::ghl::search::MAX_PAGE_LIMIT;
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use super::progress;
use leadsync_local::{Stack, StackOptions, seed};
use leadsync_sandbox::SandboxClient;

/// A full run over unchanged contacts within this multiple of paging alone (issue 19, target 6).
pub const TARGET_RATIO: f64 = 1.5;

#[derive(Debug, Clone, Serialize)]
pub struct BackfillFigure {
    pub contacts: usize,
    /// `POST /contacts/search` calls of one full run that GHL answered (429s not counted), and
    /// ceil(contacts / 500).
    pub ghl_calls: usize,
    pub ghl_calls_target: usize,
    /// A full run that finds every contact unchanged, start to finish.
    pub run_secs: f64,
    /// The same pages read with the same client and nothing else: the run's floor.
    pub paging_only_secs: f64,
    /// CallTools calls caused by the unchanged run (target 0).
    pub unchanged_calltools_calls: usize,
    /// Contacts changed while GHL sent no webhook, and the jobs the next run enqueued.
    pub changed: usize,
    pub enqueued_for_changed: u64,
    pub jobs_per_changed: f64,
    /// Filling GHL and the state table before the runs (not part of any figure).
    pub setup_secs: f64,
}

pub async fn measure(moto_url: &str, contacts: usize, changed: usize) -> Result<BackfillFigure> {
    let stack = Stack::start(StackOptions {
        moto_url: Some(moto_url.to_string()),
        stack_name: "leadsync-bench-backfill".into(),
        ..StackOptions::default()
    })
    .await?;
    let measured = run(&stack, contacts, changed).await;
    stack.stop().await;
    measured
}

async fn run(stack: &Stack, contacts: usize, changed: usize) -> Result<BackfillFigure> {
    let sandbox = SandboxClient::new(
        reqwest::Client::new(),
        stack.sandbox_url().unwrap_or_default(),
    );
    let setup = Instant::now();
    progress(&format!(
        "backfill: {contacts} GHL contacts, all applied before"
    ));
    let imported = sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/contacts/import",
            Some(json!({"count": contacts, "tags": ["cold lead"]})),
        )
        .await?;
    let ids: Vec<String> = serde_json::from_value(imported["ids"].clone())?;
    seed::applied_states(stack, &BTreeSet::new()).await?;
    let setup_secs = setup.elapsed().as_secs_f64();

    progress("backfill: paging alone, then a full run over unchanged contacts");
    let paging_only_secs = page_through(stack).await?;
    let backfill = leadsync::app::build_backfill(&stack.config, &stack.aws)?;
    let full = Request {
        full: true,
        ..Request::default()
    };
    let searches = count_calls(&sandbox, "ghl", Some("/contacts/search")).await?;
    let calltools = count_calls(&sandbox, "calltools", None).await?;
    let start = Instant::now();
    let unchanged = finished(backfill.handle(&full, now_ms() + 3_600_000).await?)?;
    let run_secs = start.elapsed().as_secs_f64();
    drained(stack).await?;
    let ghl_calls = count_calls(&sandbox, "ghl", Some("/contacts/search")).await? - searches;
    let unchanged_calltools_calls = count_calls(&sandbox, "calltools", None).await? - calltools;
    if unchanged.enqueued != 0 {
        bail!("an unchanged run enqueued {} jobs", unchanged.enqueued);
    }

    progress(&format!(
        "backfill: {changed} contacts changed without webhooks, then a run"
    ));
    sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/delivery",
            Some(json!({"drop_rate": 1.0})),
        )
        .await?;
    let step = (ids.len() / changed.max(1)).max(1);
    for (i, id) in ids.iter().step_by(step).take(changed).enumerate() {
        sandbox
            .call(
                Method::PATCH,
                &format!("/_sandbox/ghl/contacts/{id}"),
                Some(json!({"firstName": format!("Changed{i}")})),
            )
            .await?;
    }
    sandbox
        .call(Method::POST, "/_sandbox/ghl/delivery", Some(json!({})))
        .await?;
    let after_change = finished(backfill.handle(&full, now_ms() + 3_600_000).await?)?;
    drained(stack).await?;
    Ok(BackfillFigure {
        contacts,
        ghl_calls,
        ghl_calls_target: contacts.div_ceil(MAX_PAGE_LIMIT as usize),
        run_secs,
        paging_only_secs,
        unchanged_calltools_calls,
        changed,
        enqueued_for_changed: after_change.enqueued,
        jobs_per_changed: after_change.enqueued as f64 / changed.max(1) as f64,
        setup_secs,
    })
}

fn finished(e: Ending) -> Result<leadsync::backfill::Run> {
    match e {
        Ending::Finished(run) => Ok(run),
        other => bail!("the backfill run did not finish: {other:?}"),
    }
}

/// Reads every page the full run reads, with the same client settings, and does nothing else.
async fn page_through(stack: &Stack) -> Result<f64> {
    let start = Instant::now();
    leadsync_local::seed::tagged_pages(stack, |_| ()).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// Calls to a sandbox API (to `path`, if given), except those refused with 429: a rate limit
/// waited out costs time, which the wall time shows, not a call that did work.
async fn count_calls(sandbox: &SandboxClient, api: &str, path: Option<&str>) -> Result<usize> {
    let counts = sandbox.calls_by_status(api, path).await?;
    Ok(counts
        .iter()
        .filter(|(s, _)| **s != 429)
        .map(|(_, n)| n)
        .sum())
}

/// Until the job queue has stayed empty (visible, in flight and delayed) for a second.
async fn drained(stack: &Stack) -> Result<()> {
    let give_up = Instant::now() + Duration::from_secs(1800);
    let mut empty_since: Option<Instant> = None;
    while Instant::now() < give_up {
        if stack.queue_depth(&stack.resources.queue_url).await? == 0 {
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(1) {
                return Ok(());
            }
        } else {
            empty_since = None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the job queue did not drain within 30 minutes")
}
