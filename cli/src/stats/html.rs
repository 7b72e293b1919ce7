//! `leadsync stats --html report.html`: the dashboard's main graphs and the report's numbers in
//! one self-contained page (inline SVG, no script, nothing fetched), to open anywhere or attach.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::metrics::Reading;
use super::render::{at, text};
use super::{Stats, Target};

/// About this many points across a graph.
const POINTS: i64 = 48;
const PALETTE: [&str; 8] = [
    "#2563eb", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed",
];

/// Lines whose colour says what they are: good green, bad red, waiting orange, grey for
/// neither; the rest take the palette in order.
fn colour(label: &str, index: usize) -> &'static str {
    match label {
        "synced" | "enqueued" | "2xx" | "stored" | "p50" => "#16a34a",
        "parked" | "rejected" | "4xx" | "5xx" | "p99" => "#dc2626",
        "retried" | "deferred" | "429" | "timeout" | "network" | "p95" => "#ea580c",
        "skipped" => "#6b7280",
        "received" => "#2563eb",
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// The page for `stats`, with the graphs' points read for the same window.
pub async fn report(target: &Target, stats: &Stats) -> anyhow::Result<String> {
    let (since, until) = (stats.since_ms, stats.until_ms);
    let readings = target
        .metrics
        .read_every(since, until, bucket_secs(since, until))
        .await?;
    Ok(page(stats, &readings))
}

/// Periods of whole minutes giving about [`POINTS`] points.
fn bucket_secs(since_ms: i64, until_ms: i64) -> i32 {
    let secs = ((until_ms - since_ms) / 1000 / POINTS).max(60);
    (((secs + 59) / 60) * 60).min(i64::from(i32::MAX)) as i32
}

/// One graph: a title and named lines.
struct Graph {
    title: &'static str,
    unit: &'static str,
    lines: BTreeMap<String, BTreeMap<i64, f64>>,
}

impl Graph {
    fn new(title: &'static str, unit: &'static str) -> Self {
        Self {
            title,
            unit,
            lines: BTreeMap::new(),
        }
    }

    /// Adds a reading's points to the line `label`, summing where lines share a label.
    fn add(&mut self, label: String, r: &Reading) {
        let line = self.lines.entry(label).or_default();
        for (t, v) in &r.points {
            *line.entry(*t).or_default() += v;
        }
    }
}

pub fn page(stats: &Stats, readings: &[Reading]) -> String {
    let mut webhooks = Graph::new("Webhooks in", "per period");
    let mut jobs = Graph::new("Jobs by outcome", "per period");
    let mut latency = Graph::new("Sync latency, webhook in → applied", "ms");
    let mut answers = Graph::new("Sink answers by class", "per period");
    let mut drift = Graph::new("Backfill drift: contacts the webhooks missed", "per run");
    let several_sources = stats.sync_latency_ms.len() > 1;
    for r in readings {
        match (r.name.as_str(), r.stat) {
            ("webhooks_received", _) => webhooks.add("received".into(), r),
            ("webhooks_enqueued", _) => webhooks.add("enqueued".into(), r),
            ("webhooks_rejected", _) => webhooks.add("rejected".into(), r),
            ("jobs_processed", _) => jobs.add(r.dim("outcome").into(), r),
            ("sync_latency_ms", p) if p.starts_with('p') => {
                let label = if several_sources {
                    format!("{} {p}", r.dim("source"))
                } else {
                    p.to_string()
                };
                latency.add(label, r);
            }
            ("sink_responses", _) => {
                answers.add(format!("{} {}", r.dim("sink"), r.dim("class")), r)
            }
            ("backfill_drift", _) => drift.add(r.dim("source").into(), r),
            _ => {}
        }
    }
    let mut out = String::new();
    out.push_str(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>leadsync stats</title><style>",
        "body{font-family:system-ui,sans-serif;margin:24px;color:#111827;background:#f9fafb}",
        "h1{font-size:20px;margin:0 0 4px}p.window{color:#6b7280;margin:0 0 16px}",
        ".tiles{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}",
        ".tile{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:130px}",
        ".tile b{display:block;font-size:22px}.tile span{color:#6b7280;font-size:12px}",
        ".graphs{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}",
        "figure{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:0;padding:12px}",
        "figcaption{font-weight:600;margin-bottom:6px}.legend{font-size:12px;color:#374151}",
        ".legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}",
        "pre{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px;overflow:auto}",
        "</style></head><body>"
    ));
    let _ = write!(
        out,
        "<h1>leadsync · {}</h1><p class=\"window\">{} → {}</p>",
        escape(&stats.stack),
        at(stats.since_ms),
        at(stats.until_ms)
    );
    out.push_str("<div class=\"tiles\">");
    for (value, what) in tiles(stats) {
        let _ = write!(
            out,
            "<div class=\"tile\"><b>{}</b><span>{}</span></div>",
            escape(&value),
            escape(what)
        );
    }
    out.push_str("</div><div class=\"graphs\">");
    for g in [&webhooks, &jobs, &latency, &answers, &drift] {
        out.push_str(&figure(g, stats.since_ms, stats.until_ms));
    }
    let _ = writeln!(
        out,
        "</div><h2>Numbers</h2><pre>{}</pre></body></html>",
        escape(&text(stats))
    );
    out
}

/// The first numbers a person asks for.
fn tiles(s: &Stats) -> Vec<(String, &'static str)> {
    let sum = |f: &dyn Fn(&super::Jobs) -> u64| s.jobs.values().map(f).sum::<u64>();
    let received: u64 = s.webhooks.values().map(|w| w.received).sum();
    let accepted: u64 = s
        .webhooks
        .values()
        .map(|w| w.enqueued + w.duplicate + w.ignored)
        .sum();
    let outcome = |name: &str| sum(&|j| j.by_outcome.get(name).copied().unwrap_or(0));
    let p95 = s
        .sync_latency_ms
        .values()
        .filter_map(|l| l.p95)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let answers: u64 = s
        .sinks
        .values()
        .flat_map(|k| k.responses_by_class.values())
        .sum();
    let errors: u64 = s
        .sinks
        .values()
        .flat_map(|k| {
            k.responses_by_class
                .iter()
                .filter(|(c, _)| c.as_str() != "2xx")
                .map(|(_, n)| n)
        })
        .sum();
    let rate = |part: u64, whole: u64| {
        if whole == 0 {
            "-".to_string()
        } else {
            format!("{:.1} %", part as f64 * 100.0 / whole as f64)
        }
    };
    vec![
        (rate(accepted, received), "webhooks accepted"),
        (outcome("synced").to_string(), "jobs synced"),
        (outcome("parked").to_string(), "jobs parked"),
        (
            p95.map_or_else(|| "-".into(), |v| format!("{v:.0} ms")),
            "sync latency p95",
        ),
        (rate(errors, answers), "sink errors"),
        (
            s.queues
                .dlq_depth
                .map_or_else(|| "-".into(), |d| d.to_string()),
            "parked in the DLQ",
        ),
        (
            s.backfill
                .max_drift
                .values()
                .max()
                .map_or_else(|| "-".into(), u64::to_string),
            "largest backfill drift",
        ),
    ]
}

/// A graph as an SVG line chart with its legend; a graph without data says so.
fn figure(g: &Graph, since_ms: i64, until_ms: i64) -> String {
    const W: f64 = 540.0;
    const H: f64 = 200.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 22.0;
    let mut out = format!(
        "<figure><figcaption>{} <small>({})</small></figcaption>",
        escape(g.title),
        g.unit
    );
    let max = g
        .lines
        .values()
        .flat_map(|l| l.values())
        .copied()
        .fold(0.0, f64::max);
    if g.lines.is_empty() {
        out.push_str("<p class=\"legend\">no data in this window</p></figure>");
        return out;
    }
    // Four grid steps of a round size.
    let top = 4.0 * nice_ceiling(max / 4.0);
    let span = (until_ms - since_ms).max(1) as f64;
    let x = |t: i64| LEFT + (t - since_ms) as f64 / span * (W - LEFT - 8.0);
    let y = |v: f64| 8.0 + (1.0 - v / top) * (H - BOTTOM - 8.0);
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        escape(g.title)
    );
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#6b7280\">{}</text>",
            W - 8.0,
            LEFT - 4.0,
            y(v) + 3.0,
            short(v),
            y = y(v)
        );
    }
    for (t, anchor) in [(since_ms, "start"), (until_ms, "end")] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"{anchor}\" fill=\"#6b7280\">{}</text>",
            x(t),
            H - 6.0,
            &at(t)[11..16]
        );
    }
    for (i, (label, points)) in g.lines.iter().enumerate() {
        let colour = colour(label, i);
        let path: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"line\" data-label=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            escape(label),
            path.join(" ")
        );
        for p in &path {
            let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                out,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"2.5\" fill=\"{colour}\"/>"
            );
        }
    }
    out.push_str("</svg><div class=\"legend\">");
    for (i, label) in g.lines.keys().enumerate() {
        let _ = write!(
            out,
            "<i style=\"background:{}\"></i>{}",
            colour(label, i),
            escape(label)
        );
    }
    out.push_str("</div></figure>");
    out
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing, never below 1: counts and
/// milliseconds need no fractional steps).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::from_readings;
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.3), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(1234.0), 2000.0);
    }

    #[test]
    fn the_page_draws_one_line_per_series_and_escapes_what_it_prints() {
        let readings = vec![
            Reading {
                name: "jobs_processed".into(),
                dims: [("outcome".to_string(), "synced".to_string())].into(),
                stat: "Sum",
                points: vec![(60_000, 3.0), (120_000, 5.0)],
            },
            Reading {
                name: "jobs_processed".into(),
                dims: [("outcome".to_string(), "parked".to_string())].into(),
                stat: "Sum",
                points: vec![(120_000, 1.0)],
            },
        ];
        let mut stats = from_readings(&readings);
        stats.stack = "<prod>".into();
        stats.since_ms = 0;
        stats.until_ms = 180_000;
        let html = page(&stats, &readings);
        assert_eq!(html.matches("<polyline").count(), 2);
        assert!(html.contains("data-label=\"synced\""));
        assert!(html.contains("&lt;prod&gt;") && !html.contains("<prod>"));
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "self-contained"
        );
        assert_eq!(html.matches("no data in this window").count(), 4);
    }
}
