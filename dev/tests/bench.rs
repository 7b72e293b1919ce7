//! `leadsync-dev bench --quick` produces every figure. Timings are never asserted: tests assert
//! behaviour, the benchmark reports numbers. Needs moto (`make venv`), like the end-to-end tests.

use leadsync_dev::bench::{BenchArgs, Sizes, measure, print_table};
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

    assert_eq!(report.latency.contacts, 3);
    assert!(report.latency.tag_to_dialable_p50_ms > 0.0 && report.latency.floor_p50_ms > 0.0);

    let binaries: Vec<_> = report.binaries.iter().map(|b| b.name).collect();
    assert_eq!(binaries, ["ingress", "consumer", "backfill"]);
    assert!(
        report.cold_start.build_ingress_p50_us > 0.0 && report.cold_start.key_parse_p50_us > 0.0
    );

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
