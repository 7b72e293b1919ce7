//! The ledger test at the size `make test` runs it (`make ledger` runs 10,000 webhooks and a
//! 60 s outage): 1,000 GHL webhooks with duplicates and late deliveries, tags removed and
//! contacts deleted, CallTools failing at random and for 10 s outright and refusing 1 % of the
//! phones, in an account that allows duplicate phones — and every webhook accounted for.
//! Its own test binary, so its own moto: the other end-to-end tests do not slow it down.

use std::time::Duration;

use anyhow::Result;
use leadsync_dev::ledger::{self, LedgerOptions};
use leadsync_tests::{moto_pid, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_webhooks_under_failures_all_end_synced_skipped_or_parked() -> Result<()> {
    let mut builder = stack().duplicate_mode(ledger::DUPLICATE_MODE);
    for (k, v) in ledger::stack_settings(None) {
        builder = builder.setting(&k, &v);
    }
    let t = builder.start().await?;
    let opts = LedgerOptions {
        webhooks: 1_000,
        outage: Duration::from_secs(10),
        moto_pid: Some(moto_pid()),
        ..LedgerOptions::default()
    };
    let result = ledger::run(&t.stack, &opts).await;
    t.stop().await;
    let l = result?;
    println!("{}", ledger::render::render(&l));
    assert!(l.balances(), "{:#?}", l.violations);
    // What the run must have gone through for the balance to mean something.
    assert!(
        l.duplicates_at_ingress > 0,
        "GHL delivered some webhooks twice"
    );
    assert!(
        l.skipped.get("stale").is_some_and(|n| *n > 0),
        "{:?}",
        l.skipped
    );
    assert!(l.calltools_calls_failed > 0, "CallTools failed at times");
    assert!(
        l.untagged > 0 && l.deleted > 0,
        "contacts left the rule: tags removed, contacts deleted"
    );
    assert!(
        l.parked_before_replay > 0 && l.replayed > 0,
        "refused phones were parked and replayed"
    );
    assert!(
        l.parked.keys().all(|r| r.contains("CallTools")),
        "{:?}",
        l.parked
    );
    // Where the time went: every phase timed, deliveries counted while the changes were made,
    // and both processes' CPU read.
    let t = &l.timing;
    assert!(
        t.drain_secs > 0.0 && t.replay_secs > 0.0 && t.balance_secs > 0.0,
        "{t:?}"
    );
    assert!(
        t.delivered_while_changing > 0 && t.delivered_while_changing <= l.sent,
        "{t:?}"
    );
    assert!(
        t.moto_cpu_secs.is_some_and(|s| s > 0.0) && t.own_cpu_secs.is_some_and(|s| s > 0.0),
        "{t:?}"
    );
    // moto's requests counted: each accepted webhook was sent to SQS once and logged with an
    // UpdateItem, whatever else the run cost.
    let answered = |action: &str| t.aws_requests.get(action).copied().unwrap_or(0);
    assert!(
        answered("sqs.SendMessage") >= l.accepted as u64
            && answered("dynamodb.UpdateItem") >= l.accepted as u64,
        "{:?}",
        t.aws_requests
    );
    Ok(())
}
