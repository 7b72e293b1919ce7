//! The stack's own metrics from CloudWatch: `ListMetrics` for the series the functions wrote,
//! then `GetMetricData` over the whole window, one period, in as few requests as the limits
//! allow. The same calls work against moto (the local stack) and CloudWatch.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

/// At most this many queries in one `GetMetricData` request.
const MAX_QUERIES: usize = 500;

/// Metrics recorded as distributions: read as percentiles and a sample count.
const HISTOGRAMS: [&str; 4] = [
    "sync_latency_ms",
    "source_to_applied_ms",
    "meta_message_latency_ms",
    "backfill_duration_ms",
];
/// Metrics recorded as a level: read as their maximum in the window.
const GAUGES: [&str; 3] = [
    "backfill_drift",
    "meta_subscribed",
    "meta_enrichment_backlog",
];
/// What a distribution is read as: the percentiles the report shows and its sample count.
const HISTOGRAM_STATS: [&str; 4] = ["p50", "p95", "p99", "SampleCount"];

/// One series' statistic: the metric, its dimensions other than `service` and `function`, and
/// its value per period (period start in ms), oldest first; periods without data are absent.
#[derive(Debug, Clone)]
pub struct Reading {
    pub name: String,
    pub dims: BTreeMap<String, String>,
    pub stat: &'static str,
    pub points: Vec<(i64, f64)>,
}

impl Reading {
    pub fn dim(&self, name: &str) -> &str {
        self.dims.get(name).map_or("", String::as_str)
    }

    /// The statistic over all periods: sums and counts add up, maxima take the largest; a
    /// percentile only exists for a single period (percentiles of periods do not combine).
    pub fn total(&self) -> Option<f64> {
        let values = self.points.iter().map(|(_, v)| *v);
        match (self.stat, self.points.as_slice()) {
            (_, []) => None,
            ("Sum" | "SampleCount", _) => Some(values.sum()),
            ("Maximum", _) => Some(values.fold(f64::MIN, f64::max)),
            (_, [(_, one)]) => Some(*one),
            _ => None,
        }
    }
}

pub struct StackMetrics {
    pub client: Client,
    pub namespace: String,
    /// The `service` dimension: the stack's name.
    pub service: String,
}

impl StackMetrics {
    /// Every series of this stack with its statistics over `[start_ms, end_ms)`, one period.
    pub async fn read(&self, start_ms: i64, end_ms: i64) -> Result<Vec<Reading>> {
        self.read_every(start_ms, end_ms, period_secs(start_ms, end_ms))
            .await
    }

    /// The same, per `period` seconds (a multiple of 60): the points of a graph.
    pub async fn read_every(
        &self,
        start_ms: i64,
        end_ms: i64,
        period: i32,
    ) -> Result<Vec<Reading>> {
        let metrics = self.list().await?;
        let mut wanted: Vec<(Metric, &'static str)> = Vec::new();
        for m in metrics {
            let name = m.metric_name().unwrap_or_default();
            let stats: &[&'static str] = if HISTOGRAMS.contains(&name) {
                &HISTOGRAM_STATS
            } else if GAUGES.contains(&name) {
                &["Maximum"]
            } else {
                &["Sum"]
            };
            wanted.extend(stats.iter().map(|s| (m.clone(), *s)));
        }
        let mut readings = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(MAX_QUERIES) {
            let queries = chunk
                .iter()
                .enumerate()
                .map(|(i, (metric, stat))| {
                    MetricDataQuery::builder()
                        .id(format!("q{i}"))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric.clone())
                                .period(period)
                                .stat(*stat)
                                .build(),
                        )
                        .return_data(true)
                        .build()
                })
                .collect::<Vec<_>>();
            let mut points: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            let mut next = None;
            loop {
                let out = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(DateTime::from_millis(start_ms))
                    .end_time(DateTime::from_millis(end_ms))
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "CloudWatch GetMetricData: {}",
                            leadsync::support::error_line::error_line(&e)
                        )
                    })?;
                for r in out.metric_data_results() {
                    let at = r.timestamps().iter().map(|t| t.to_millis().unwrap_or(0));
                    points
                        .entry(r.id().unwrap_or_default().to_string())
                        .or_default()
                        .extend(at.zip(r.values().iter().copied()));
                }
                next = out.next_token;
                if next.is_none() {
                    break;
                }
            }
            for (i, (metric, stat)) in chunk.iter().enumerate() {
                let mut points = points.remove(&format!("q{i}")).unwrap_or_default();
                points.sort_by_key(|(at, _)| *at);
                readings.push(Reading {
                    name: metric.metric_name().unwrap_or_default().to_string(),
                    dims: metric
                        .dimensions()
                        .iter()
                        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                        .filter(|(k, _)| k != "service" && k != "function")
                        .collect(),
                    stat,
                    points,
                });
            }
        }
        Ok(readings)
    }

    /// The stack's series: every metric in the namespace whose `service` is this stack.
    async fn list(&self) -> Result<Vec<Metric>> {
        // Once per series: moto lists a series once per data point.
        let mut out = BTreeMap::new();
        let mut next = None;
        loop {
            let page = self
                .client
                .list_metrics()
                .namespace(&self.namespace)
                .dimensions(
                    aws_sdk_cloudwatch::types::DimensionFilter::builder()
                        .name("service")
                        .value(&self.service)
                        .build(),
                )
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "CloudWatch ListMetrics: {}",
                        leadsync::support::error_line::error_line(&e)
                    )
                })?;
            for m in page.metrics() {
                if has(m.dimensions(), "service", &self.service) {
                    out.insert(series_key(m), m.clone());
                }
            }
            next = page.next_token;
            if next.is_none() {
                return Ok(out.into_values().collect());
            }
        }
    }
}

/// A series' identity: its name and its dimensions in any order.
fn series_key(m: &Metric) -> (String, Vec<(String, String)>) {
    let mut dims: Vec<(String, String)> = m
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    dims.sort();
    (m.metric_name().unwrap_or_default().to_string(), dims)
}

fn has(dims: &[Dimension], name: &str, value: &str) -> bool {
    dims.iter()
        .any(|d| d.name() == Some(name) && d.value() == Some(value))
}

/// One period covering the window, in whole minutes (whole hours past 15 days, as
/// `GetMetricData` requires for old data).
pub fn period_secs(start_ms: i64, end_ms: i64) -> i32 {
    let secs = ((end_ms - start_ms).max(1) + 999) / 1000;
    let unit = if secs > 15 * 86_400 { 3600 } else { 60 };
    ((secs + unit - 1) / unit * unit).min(i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_period_covers_the_window_in_whole_minutes_or_hours() {
        assert_eq!(period_secs(0, 1), 60);
        assert_eq!(period_secs(0, 86_400_000), 86_400);
        assert_eq!(period_secs(0, 86_400_001), 86_460);
        assert_eq!(period_secs(0, 20 * 86_400_000 + 1), 20 * 86_400 + 3600);
    }
}
