//! `leadsync-dev bench --quick` produces every figure. Timings are never asserted: tests assert
//! behaviour, the benchmark reports numbers. Needs moto (`make venv`), like the end-to-end tests.

use leadsync_dev::bench::{BenchArgs, Part, Sizes, measure, measure_part, print_table};
use serde_json::Value;

/// Fields that are legitimately empty: a binary that is not built, pinning that `taskset` could
/// not do, a comparison figure the sources do not give.
const OPTIONAL: [&str; 5] = ["path", "bytes", "arch", "pinned_cpu", "public_impl_calls"];

fn nulls(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(at.to_string()),
        Value::Object(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !OPTIONAL.contains(&k.as_str())) {
                nulls(v, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                nulls(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_bench_produces_every_figure() -> anyhow::Result<()> {
    let args = BenchArgs {
        quick: true,
        ..BenchArgs::default()
    };
    let report = measure(Sizes::from_args(&args)).await?;

    let schemes: Vec<_> = report
        .ingress
        .iter()
        .map(|f| (f.scheme, f.header))
        .collect();
    assert_eq!(
        schemes,
        [
            ("Ed25519", "x-ghl-signature"),
            ("RSA-4096", "x-wh-signature")
        ]
    );
    for f in &report.ingress {
        assert!(
            f.ingress_per_sec > 0.0 && f.raw_verify_per_sec > 0.0 && f.ratio > 0.0,
            "{f:?}"
        );
        assert!(f.ingress_p50_us > 0.0 && f.raw_p50_us > 0.0, "{f:?}");
    }

    let scenarios: Vec<_> = report
        .calls
        .scenarios
        .iter()
        .map(|s| (s.scenario, s.account))
        .collect();
    assert_eq!(
        scenarios,
        [
            ("new", "merge"),
            ("new", "lookup"),
            ("changed", "merge"),
            ("unchanged", "merge")
        ]
    );
    assert!(report.calls.scenarios.iter().all(|s| s.contacts > 0));
    // The deterministic verdicts: CallTools 1 / 2 / 1 / 0 calls (new merge, new lookup, changed,
    // unchanged) and one GHL read per contact, though a tag sends two webhooks.
    for s in &report.calls.scenarios {
        assert!(s.pass && s.ghl_pass, "{s:?}");
    }
    let ghl: Vec<_> = report.calls.scenarios.iter().map(|s| s.ghl_max).collect();
    assert_eq!(ghl, [1, 1, 1, 1]);
    let calltools: Vec<_> = report
        .calls
        .scenarios
        .iter()
        .map(|s| s.calltools_max)
        .collect();
    assert_eq!(calltools, [1, 2, 1, 0]);

    // The backfill: one search per 500 contacts, nothing written for unchanged contacts, one job
    // per contact changed without a webhook.
    let b = &report.backfill;
    assert!(b.ghl_calls <= b.ghl_calls_target, "{b:?}");
    assert_eq!(b.unchanged_calltools_calls, 0, "{b:?}");
    assert_eq!(b.enqueued_for_changed, b.changed as u64, "{b:?}");

    assert_eq!(report.latency.contacts, 3);
    assert!(report.latency.tag_to_dialable_p50_ms > 0.0 && report.latency.floor_p50_ms > 0.0);

    let binaries: Vec<_> = report.binaries.iter().map(|b| b.name).collect();
    assert_eq!(binaries, ["ingress", "consumer", "backfill"]);
    assert!(
        report.cold_start.build_ingress_p50_us > 0.0 && report.cold_start.key_parse_p50_us > 0.0
    );
    // Each real binary answered its events through the Runtime API (the bench stops on any
    // error answer), and its process was measured.
    let functions: Vec<_> = report.lambda.functions.iter().map(|f| f.function).collect();
    assert_eq!(functions, ["ingress", "consumer", "backfill"]);
    assert!(report.lambda.empty_p50_ms > 0.0);
    for f in &report.lambda.functions {
        assert!(f.cold_p50_ms > 0.0 && f.warm_p50_ms > 0.0, "{f:?}");
        assert!(f.peak_rss_bytes.is_some_and(|b| b > 0), "{f:?}");
    }

    // Bulk tagging: every contact dialable once, one CallTools call each, GHL never over its
    // limit; one read per contact when one webhook announces each tag. (The time ratio is not
    // asserted: with --quick's 20 contacts the batching window alone is a fifth of the ideal.)
    let runs: Vec<_> = report.bulk.runs.iter().map(|r| r.webhooks).collect();
    assert_eq!(runs, ["marketplace", "marketplace + workflow"]);
    for r in &report.bulk.runs {
        assert_eq!((r.contacts, r.duplicates, r.ghl_429s), (20, 0, 0), "{r:?}");
        assert_eq!(r.calltools_per_contact, 1.0, "{r:?}");
        assert!((1.0..=2.0).contains(&r.ghl_reads_per_contact), "{r:?}");
        // 20 creates, the first after the first tag and the last before all were dialable.
        let p = &r.pace;
        assert!(
            0.0 < p.first_call_secs
                && p.first_call_secs < p.last_call_secs
                && p.last_call_secs <= r.secs,
            "{r:?}"
        );
        assert!(p.calls_per_sec > 0.0, "{r:?}");
        // Every contact read more than once is counted, and explained at most once.
        let twice = &r.second_reads;
        let extra_reads =
            (r.ghl_reads_per_contact * r.contacts as f64).round() as usize - r.contacts;
        assert!(
            twice.contacts <= extra_reads && twice.notified_after_first_read <= twice.contacts,
            "{r:?}"
        );
        assert_eq!(twice.contacts == 0, extra_reads == 0, "{r:?}");
    }
    assert_eq!(report.bulk.runs[0].ghl_reads_per_contact, 1.0);
    assert_eq!(report.bulk.runs[0].webhooks_delivered, 20);
    assert_eq!(report.bulk.runs[1].webhooks_delivered, 40);

    // Call outcomes: the deterministic verdicts. Tags + note is two GHL writes, the field adds
    // the update; one CallTools read carries each disposition and nothing is written back.
    let o = &report.outcomes;
    assert_eq!(o.dispositions, 3);
    assert!(o.hook_to_ghl_p50_ms > 0.0 && o.floor_p50_ms > 0.0, "{o:?}");
    let writes: Vec<_> = o
        .calls
        .iter()
        .map(|c| (c.effects, c.ghl_writes_max, c.pass))
        .collect();
    assert_eq!(
        writes,
        [("tags + note", 2, true), ("tags + field + note", 3, false)]
    );
    for c in &o.calls {
        assert!(c.hooks >= c.dispositions, "{c:?}");
        assert!(
            c.calltools_reads_per_hook > 0.0 && c.calltools_reads_per_hook <= 1.0,
            "{c:?}"
        );
        assert_eq!(c.calltools_writes, 0, "{c:?}");
    }

    let mut missing = Vec::new();
    nulls(&serde_json::to_value(&report)?, "report", &mut missing);
    assert!(missing.is_empty(), "figures without a value: {missing:?}");
    print_table(&report);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_part_measures_that_part_alone() -> anyhow::Result<()> {
    let args = BenchArgs {
        quick: true,
        only: Some(Part::Lambda),
        ..BenchArgs::default()
    };
    let figure = measure_part(Part::Lambda, Sizes::from_args(&args)).await?;
    let functions: Vec<&str> = figure["functions"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["function"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(functions, ["ingress", "consumer", "backfill"], "{figure}");
    for f in figure["functions"].as_array().into_iter().flatten() {
        assert_eq!(f["samples"], 3, "{f}");
        assert!(f["cold_p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{f}");
    }
    assert!(figure.get("runs").is_none(), "no other part: {figure}");
    Ok(())
}
