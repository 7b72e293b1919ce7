//! The ledger as a person reads it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ledger::Ledger;
use crate::ledger::timing::per_sec;

fn breakdown(by_reason: &BTreeMap<String, usize>) -> String {
    let mut parts: Vec<(&String, &usize)> = by_reason.iter().collect();
    parts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    parts
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `n` for each `per`, 0 for none.
fn ratio(n: usize, per: usize) -> f64 {
    per_sec(n as f64, per as f64)
}

pub fn render(l: &Ledger) -> String {
    let mut out = String::new();
    let skipped: usize = l.skipped.values().sum();
    let parked: usize = l.parked.values().sum();
    let mut row = |label: &str, n: usize, note: String| {
        let _ = writeln!(out, "  {label:<26} {n:>8}   {note}");
    };
    row(
        "webhooks sent by GHL",
        l.sent,
        "delivery attempts: duplicates and 429 retries included".into(),
    );
    row("  accepted (202)", l.accepted, "queued as jobs".into());
    row(
        "  duplicates at ingress",
        l.duplicates_at_ingress,
        "same webhookId: answered 200 duplicate, not queued".into(),
    );
    row(
        "  answered 429, retried",
        l.busy_retried,
        "GHL delivered them again".into(),
    );
    row("  refused", l.refused, "must be 0".into());
    row(
        "consumer attempts",
        l.attempts,
        format!(
            "{:.2} per job: retries, deferrals and redeliveries included",
            ratio(l.attempts, l.accepted)
        ),
    );
    row("jobs synced", l.synced, String::new());
    row("jobs skipped", skipped, breakdown(&l.skipped));
    row("jobs parked", parked, breakdown(&l.parked));
    row("jobs unsettled", l.unsettled, "must be 0".into());
    row(
        "DLQ before replay",
        l.parked_before_replay + l.redriven_before_replay,
        format!(
            "{} parked by the consumer, {} moved by SQS redrive",
            l.parked_before_replay, l.redriven_before_replay
        ),
    );
    row("replayed from the DLQ", l.replayed, String::new());
    row(
        "GHL contacts",
        l.contacts,
        format!(
            "{} in CallTools; {} untagged and {} deleted by the run (out of the bucket)",
            l.calltools_contacts, l.untagged, l.deleted
        ),
    );
    row(
        "CallTools calls",
        l.calltools_calls,
        format!(
            "{} failed (injected); {:.2} per contact, {:.2} per accepted webhook",
            l.calltools_calls_failed,
            ratio(l.calltools_calls, l.contacts),
            ratio(l.calltools_calls, l.accepted)
        ),
    );
    row(
        "GHL API calls",
        l.ghl_calls,
        format!(
            "{:.2} per accepted webhook (a burst for one contact costs one read)",
            ratio(l.ghl_calls, l.accepted)
        ),
    );
    let _ = writeln!(
        out,
        "  {:<26} p50 {:.1} s · p99 {:.1} s · max {:.1} s   (received → applied, synced jobs)",
        "latency",
        l.latency_p50_ms as f64 / 1000.0,
        l.latency_p99_ms as f64 / 1000.0,
        l.latency_max_ms as f64 / 1000.0
    );
    let _ = writeln!(out, "  {:<26} {:.0} s", "run time", l.elapsed_secs);
    out.push_str(&throughput(l));
    if l.balances() {
        let _ = writeln!(
            out,
            "BALANCED: every webhook is accounted for exactly once; one current CallTools contact per phone; only refused phones parked"
        );
    } else {
        let _ = writeln!(out, "NOT BALANCED:");
        for v in &l.violations {
            let _ = writeln!(out, "  - {v}");
        }
    }
    out
}

/// Webhooks in and jobs applied per second, and where the run's time went.
fn throughput(l: &Ledger) -> String {
    let t = &l.timing;
    // Every job had settled (synced, skipped or parked) when the queue first drained; the
    // replay only runs the parked ones again.
    let settled = l.synced + l.skipped.values().sum::<usize>() + l.parked.values().sum::<usize>();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<26} {:.1} webhooks/s delivered while changing · {:.1} jobs/s settled until the queue drained",
        "throughput",
        per_sec(t.delivered_while_changing as f64, t.changes_secs),
        per_sec(settled as f64, t.changes_secs + t.drain_secs),
    );
    let _ = writeln!(
        out,
        "  {:<26} changes {:.0} s ({} at {:.1}/s, paced at {}/s) · drain {:.0} s · replay {:.0} s · balance {:.0} s",
        "where the time went",
        t.changes_secs,
        t.changes,
        t.changes_per_sec(),
        t.paced_at,
        t.drain_secs,
        t.replay_secs,
        t.balance_secs,
    );
    let cpu = |secs: Option<f64>| {
        secs.map_or("unread".to_string(), |s| {
            format!(
                "{s:.0} s ({:.0} % of a core)",
                100.0 * per_sec(s, l.elapsed_secs)
            )
        })
    };
    let _ = writeln!(
        out,
        "  {:<26} moto {} · leadsync functions, sandbox and driver {}",
        "CPU over the run",
        cpu(t.moto_cpu_secs),
        cpu(t.own_cpu_secs),
    );
    let by_service = t.aws_requests_by_service();
    let total: u64 = by_service.iter().map(|(_, n)| n).sum();
    let per_webhook = |n: u64| ratio(n as usize, l.accepted);
    let requests = if total == 0 {
        "unread (this moto does not count them)".to_string()
    } else {
        format!(
            "{total} to moto, {:.1} per accepted webhook: {}",
            per_webhook(total),
            by_service
                .iter()
                .map(|(service, n)| format!("{service} {n} ({:.1})", per_webhook(*n)))
                .collect::<Vec<_>>()
                .join(" · ")
        )
    };
    let _ = writeln!(out, "  {:<26} {requests}", "AWS requests");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balanced_ledger_says_so_and_breaks_skips_down_by_reason() {
        let l = Ledger {
            sent: 10,
            accepted: 9,
            synced: 3,
            skipped: BTreeMap::from([("covered".into(), 4), ("stale".into(), 2)]),
            ..Ledger::default()
        };
        let text = render(&l);
        assert!(text.contains("covered 4 · stale 2"), "{text}");
        assert!(text.contains("AWS requests               unread"), "{text}");
        assert!(text.contains("BALANCED"), "{text}");
    }

    #[test]
    fn throughput_and_where_the_time_went_are_per_phase() {
        let l = Ledger {
            sent: 1_300,
            accepted: 1_000,
            synced: 600,
            skipped: BTreeMap::from([("stale".into(), 300)]),
            parked: BTreeMap::from([("CallTools 400".into(), 100)]),
            elapsed_secs: 200.0,
            timing: crate::ledger::Timing {
                changes: 750,
                paced_at: 5,
                delivered_while_changing: 1_100,
                changes_secs: 160.0,
                drain_secs: 40.0,
                moto_cpu_secs: Some(100.0),
                aws_requests: BTreeMap::from([
                    ("sqs.SendMessage".into(), 500),
                    ("dynamodb.GetItem".into(), 1_000),
                    ("dynamodb.UpdateItem".into(), 2_000),
                ]),
                ..Default::default()
            },
            ..Ledger::default()
        };
        let text = render(&l);
        assert!(text.contains("6.9 webhooks/s delivered"), "{text}");
        assert!(text.contains("5.0 jobs/s settled"), "{text}");
        assert!(text.contains("750 at 4.7/s, paced at 5/s"), "{text}");
        assert!(text.contains("moto 100 s (50 % of a core)"), "{text}");
        assert!(text.contains("driver unread"), "{text}");
        assert!(
            text.contains(
                "3500 to moto, 3.5 per accepted webhook: dynamodb 3000 (3.0) · sqs 500 (0.5)"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_unbalanced_ledger_lists_what_is_wrong() {
        let l = Ledger {
            violations: vec!["job ghl:w1: still queued".into()],
            ..Ledger::default()
        };
        let text = render(&l);
        assert!(text.contains("NOT BALANCED"), "{text}");
        assert!(text.contains("still queued"), "{text}");
    }
}
