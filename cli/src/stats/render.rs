//! The report as text for a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use time::OffsetDateTime;
use time::macros::format_description;

use super::Stats;

pub fn text(s: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "leadsync {} · {} → {}",
        s.stack,
        at(s.since_ms),
        at(s.until_ms)
    );
    out.push_str("\nWebhooks\n");
    if s.webhooks.is_empty() {
        out.push_str("  none received\n");
    }
    for (source, w) in &s.webhooks {
        let _ = writeln!(
            out,
            "  {source:<10} {} received · {} enqueued · {} duplicate · {} ignored · {} rejected{} · success {}",
            w.received,
            w.enqueued,
            w.duplicate,
            w.ignored,
            w.rejected,
            reasons(&w.rejected_by_reason),
            percent(w.success_rate)
        );
    }
    out.push_str("\nJobs\n");
    if s.jobs.is_empty() {
        out.push_str("  none processed\n");
    }
    for (source, j) in &s.jobs {
        let _ = writeln!(out, "  {source:<10} {}", counts(&j.by_outcome));
        if !j.skipped_by_reason.is_empty() {
            let _ = writeln!(
                out,
                "  {:<10} skipped: {}",
                "",
                counts(&j.skipped_by_reason)
            );
        }
    }
    out.push_str("\nContacts created\n");
    if s.contacts_created.is_empty() {
        out.push_str("  none\n");
    }
    for (source, by_origin) in &s.contacts_created {
        let _ = writeln!(out, "  {source:<10} {}", counts(by_origin));
    }
    out.push_str("\nSync latency, webhook in → applied\n");
    if s.sync_latency_ms.is_empty() {
        out.push_str("  no samples\n");
    }
    for (source, l) in &s.sync_latency_ms {
        let _ = writeln!(
            out,
            "  {source:<10} p50 {} · p95 {} · p99 {} ({} samples)",
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            l.count
        );
    }
    out.push_str("\nSinks (calltools: contacts placed; ghl: call outcomes carried back)\n");
    if s.sinks.is_empty() {
        out.push_str("  no calls\n");
    }
    for (sink, k) in &s.sinks {
        let _ = writeln!(
            out,
            "  {sink:<10} {} calls · answers {} · error rate {}{}",
            k.calls,
            counts(&k.responses_by_class),
            percent(k.error_rate),
            // Only CallTools is audited.
            if sink == "calltools" {
                format!(" · drift found by the audit {}", k.drift)
            } else {
                String::new()
            }
        );
    }
    out.push_str("\nBackfill\n");
    if s.backfill.last_runs.is_empty() && s.backfill.max_drift.is_empty() {
        out.push_str("  no runs\n");
    }
    for (source, drift) in &s.backfill.max_drift {
        let runs = s.backfill.runs_finished.get(source).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {source:<10} {runs} run(s) finished in the window, largest drift {drift}"
        );
    }
    for r in &s.backfill.last_runs {
        let _ = writeln!(
            out,
            "  {:<10} {} {} · {} seen · drift {}{}",
            r.source,
            r.finished_at_ms.map_or_else(|| "-".into(), at),
            r.status,
            r.seen,
            r.drift,
            r.error
                .as_deref()
                .map(|e| format!(" · {e}"))
                .unwrap_or_default()
        );
    }
    out.push_str("\nQueues\n");
    let q = &s.queues;
    let _ = writeln!(
        out,
        "  jobs waiting {} · parked (DLQ) {}{}",
        opt(q.jobs),
        opt(q.dlq_depth),
        q.dlq_oldest_age_secs
            .map(|a| format!(", oldest {}", age(a)))
            .unwrap_or_default()
    );
    out
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn reasons(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return String::new();
    }
    format!(
        " ({})",
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.1} %", r * 100.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0} ms"))
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub(crate) fn at(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{Latency, Webhooks, from_readings};
    use super::*;

    #[test]
    fn the_text_names_each_number_with_what_it_counts() {
        let mut s = from_readings(&[]);
        s.stack = "prod".into();
        s.webhooks.insert(
            "ghl".into(),
            Webhooks {
                received: 4,
                enqueued: 3,
                rejected: 1,
                rejected_by_reason: [("signature_invalid".to_string(), 1)].into(),
                success_rate: Some(0.75),
                ..Webhooks::default()
            },
        );
        s.sync_latency_ms.insert(
            "ghl".into(),
            Latency {
                count: 3,
                p50: Some(80.0),
                p95: Some(150.0),
                p99: Some(151.0),
            },
        );
        s.queues.dlq_depth = Some(2);
        s.queues.dlq_oldest_age_secs = Some(7300);
        let t = text(&s);
        assert!(t.contains("4 received · 3 enqueued"), "{t}");
        assert!(
            t.contains("1 rejected (signature_invalid 1) · success 75.0 %"),
            "{t}"
        );
        assert!(
            t.contains("p50 80 ms · p95 150 ms · p99 151 ms (3 samples)"),
            "{t}"
        );
        assert!(t.contains("parked (DLQ) 2, oldest 2 h"), "{t}");
    }
}
