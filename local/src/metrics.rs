//! The functions' metrics on the local stack, as CloudWatch gets them on AWS.
//!
//! On AWS each function writes Embedded Metric Format lines to stdout after every invocation
//! (metrics_cloudwatch_embedded's collector, one per execution environment) and CloudWatch Logs
//! turns them into metrics. The local stack runs the three functions of every stack in one
//! process, where that process-global collector cannot tell them apart. So here each invocation
//! runs in its function's scope, a global recorder hands every metric to the registry of the
//! function whose invocation is running, and when the invocation ends its metrics are put into
//! moto with `PutMetricData`: the same names, labels and `service`/`function` dimensions the
//! EMF documents give CloudWatch on AWS (`tests/emf` checks those documents). `leadsync stats`
//! reads them back with the same `GetMetricData` calls as on AWS.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use tokio::sync::{Notify, mpsc};

use super::logs::StackLogs;

/// Data points per `PutMetricData` request. CloudWatch takes up to 1,000, but moto parses a
/// query-protocol request in time quadratic in its fields (each list element scans every key):
/// under a ledger's load, 1,000-point puts took more than half of moto's time, ingress's calls
/// behind them timed out, and the backlog made the next puts bigger. Twenty keep it linear.
const MAX_DATUMS_PER_PUT: usize = 20;

tokio::task_local! {
    static CURRENT: Arc<Registry>;
}

/// Sends each metric to the registry of the invocation it is recorded in; a metric recorded
/// outside any invocation (a test's own setup) is not a function's and goes nowhere.
struct Routing;

impl metrics::Recorder for Routing {
    // leadsync describes no metric (no units), as in the Lambda's EMF.
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        CURRENT
            .try_with(|r| Counter::from_arc(r.counter(key)))
            .unwrap_or_else(|_| Counter::noop())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        CURRENT
            .try_with(|r| Gauge::from_arc(r.gauge(key)))
            .unwrap_or_else(|_| Gauge::noop())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        CURRENT
            .try_with(|r| Histogram::from_arc(r.histogram(key)))
            .unwrap_or_else(|_| Histogram::noop())
    }
}

/// Installs the routing recorder once per process. False when another recorder was installed
/// first (a test of the Lambda's own EMF collector): the local stack then has no metrics.
fn install_routing() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| metrics::set_global_recorder(Routing).is_ok())
}

/// One function's metrics between two flushes, as the EMF collector keeps them: counters as
/// deltas, gauges as their last value (written at every flush once set), histograms as values.
#[derive(Default)]
struct Registry {
    slots: Mutex<HashMap<Key, Slot>>,
}

enum Slot {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<Values>),
}

#[derive(Default)]
struct Values(Mutex<Vec<f64>>);

impl HistogramFn for Values {
    fn record(&self, value: f64) {
        if let Ok(mut v) = self.0.lock() {
            v.push(value);
        }
    }
}

impl Registry {
    /// The slot of `key`, made by `new` the first time; `None` when the name was registered as
    /// another kind (then it is recorded nowhere, as the EMF collector does).
    fn slot<T>(&self, key: &Key, new: fn() -> Slot, kind: fn(&Slot) -> Option<T>) -> Option<T> {
        let mut slots = self.slots.lock().ok()?;
        kind(slots.entry(key.clone()).or_insert_with(new))
    }

    fn counter(&self, key: &Key) -> Arc<AtomicU64> {
        let kind = |s: &Slot| match s {
            Slot::Counter(c) => Some(c.clone()),
            _ => None,
        };
        self.slot(key, || Slot::Counter(Arc::default()), kind)
            .unwrap_or_default()
    }

    fn gauge(&self, key: &Key) -> Arc<AtomicU64> {
        let kind = |s: &Slot| match s {
            Slot::Gauge(g) => Some(g.clone()),
            _ => None,
        };
        self.slot(key, || Slot::Gauge(Arc::default()), kind)
            .unwrap_or_default()
    }

    fn histogram(&self, key: &Key) -> Arc<Values> {
        let kind = |s: &Slot| match s {
            Slot::Histogram(h) => Some(h.clone()),
            _ => None,
        };
        self.slot(key, || Slot::Histogram(Arc::default()), kind)
            .unwrap_or_default()
    }

    /// What a flush writes: every key with something to say, and its value(s).
    fn drain(&self) -> Vec<(Key, Vec<f64>)> {
        let Ok(slots) = self.slots.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, slot) in slots.iter() {
            let values = match slot {
                Slot::Counter(c) => match c.swap(0, Ordering::AcqRel) {
                    0 => continue,
                    n => vec![n as f64],
                },
                Slot::Gauge(g) => vec![f64::from_bits(g.load(Ordering::Acquire))],
                Slot::Histogram(h) => match h.0.lock() {
                    Ok(mut v) if !v.is_empty() => std::mem::take(&mut *v),
                    _ => continue,
                },
            };
            out.push((key.clone(), values));
        }
        out
    }
}

/// One function of a local stack: its registry, its `service`/`function` dimensions, and
/// whether its execution environment has started (`ColdStart`).
pub struct FunctionMetrics {
    name: &'static str,
    service: String,
    registry: Arc<Registry>,
    started: AtomicBool,
    shipper: Arc<Shipper>,
    /// The stack's log, where the Lambda's EMF documents would be: the metric names and label
    /// values it writes are checked for personal data like any other line.
    logs: Arc<StackLogs>,
}

impl FunctionMetrics {
    /// Runs one invocation in this function's scope, then flushes its metrics as the Lambda
    /// does. The flush holds whatever concurrent invocations of the same function recorded so
    /// far too: the counts add up the same.
    pub async fn invoke<F: Future>(&self, invocation: F) -> F::Output {
        let cold = !self.started.swap(true, Ordering::SeqCst);
        let out = self
            .logs
            .capture(CURRENT.scope(self.registry.clone(), async {
                if cold {
                    metrics::counter!("ColdStart").increment(1);
                }
                invocation.await
            }))
            .await;
        self.flush();
        out
    }

    fn flush(&self) {
        let at = DateTime::from_millis(leadsync::domain::clock::now_ms());
        let datums: Vec<MetricDatum> = self
            .registry
            .drain()
            .into_iter()
            .map(|(key, values)| {
                let mut dimensions = vec![
                    dimension("service", &self.service),
                    dimension("function", self.name),
                ];
                dimensions.extend(key.labels().map(|l| dimension(l.key(), l.value())));
                self.logs.push(metric_line(self.name, &key));
                datum(key.name(), at, &values, dimensions)
            })
            .collect();
        if !datums.is_empty() {
            self.shipper.send(datums);
        }
    }
}

/// A metric as its EMF document names it: the name and every label, without the values.
fn metric_line(function: &str, key: &Key) -> String {
    let labels: serde_json::Map<String, serde_json::Value> = key
        .labels()
        .map(|l| (l.key().to_string(), l.value().into()))
        .collect();
    serde_json::json!({"function": function, "metric": key.name(), "labels": labels}).to_string()
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The three functions' metrics of one local stack and the shipper that puts them into moto.
pub struct LocalMetrics {
    pub ingress: FunctionMetrics,
    pub consumer: FunctionMetrics,
    pub backfill: FunctionMetrics,
    pub namespace: String,
    pub service: String,
    shipper: Arc<Shipper>,
}

impl LocalMetrics {
    pub fn start(
        cloudwatch: aws_sdk_cloudwatch::Client,
        namespace: &str,
        service: &str,
        logs: Arc<StackLogs>,
    ) -> Self {
        let enabled = install_routing();
        if !enabled {
            tracing::warn!(
                "another metrics recorder is installed: the local stack's metrics are off"
            );
        }
        let shipper = Shipper::start(cloudwatch, namespace.to_string(), enabled);
        let function = |name: &'static str| FunctionMetrics {
            name,
            service: service.to_string(),
            registry: Arc::default(),
            started: AtomicBool::new(false),
            shipper: shipper.clone(),
            logs: logs.clone(),
        };
        Self {
            ingress: function("ingress"),
            consumer: function("consumer"),
            backfill: function("backfill"),
            namespace: namespace.to_string(),
            service: service.to_string(),
            shipper,
        }
    }

    /// Waits until every metric flushed so far is in moto.
    pub async fn settled(&self) {
        self.shipper.settled().await;
    }

    /// `PutMetricData` requests that failed (none, in a healthy stack).
    pub fn failures(&self) -> usize {
        self.shipper.failed.load(Ordering::SeqCst)
    }
}

struct Shipper {
    tx: mpsc::UnboundedSender<Vec<MetricDatum>>,
    pending: AtomicUsize,
    failed: AtomicUsize,
    idle: Notify,
}

impl Shipper {
    fn start(
        cloudwatch: aws_sdk_cloudwatch::Client,
        namespace: String,
        enabled: bool,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shipper = Arc::new(Self {
            tx,
            pending: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        if enabled {
            tokio::spawn(ship(Arc::downgrade(&shipper), rx, cloudwatch, namespace));
        }
        shipper
    }

    fn send(&self, datums: Vec<MetricDatum>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(datums).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            self.idle.notify_waiters();
        }
    }

    async fn settled(&self) {
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Puts what arrives into moto, everything waiting at once in requests of
/// [`MAX_DATUMS_PER_PUT`]: one request per invocation would add thousands of calls to a large
/// local run.
async fn ship(
    shipper: std::sync::Weak<Shipper>,
    mut rx: mpsc::UnboundedReceiver<Vec<MetricDatum>>,
    cloudwatch: aws_sdk_cloudwatch::Client,
    namespace: String,
) {
    while let Some(first) = rx.recv().await {
        let mut flushes = 1;
        let mut datums = first;
        while let Ok(more) = rx.try_recv() {
            flushes += 1;
            datums.extend(more);
        }
        let mut failed = 0;
        for chunk in datums.chunks(MAX_DATUMS_PER_PUT) {
            if let Err(e) = cloudwatch
                .put_metric_data()
                .namespace(&namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
            {
                tracing::warn!(error = %leadsync::support::error_line::error_line(&e), "PutMetricData failed");
                failed += 1;
            }
        }
        let Some(shipper) = shipper.upgrade() else {
            return;
        };
        shipper.failed.fetch_add(failed, Ordering::SeqCst);
        shipper.pending.fetch_sub(flushes, Ordering::SeqCst);
        shipper.idle.notify_waiters();
    }
}

/// One datum: a single value as `Value`, several as `Values` with `Counts` (repeated values
/// counted once each, as the CloudWatch agent sends histograms).
fn datum(name: &str, at: DateTime, values: &[f64], dimensions: Vec<Dimension>) -> MetricDatum {
    let b = MetricDatum::builder()
        .metric_name(name)
        .timestamp(at)
        .set_dimensions(Some(dimensions));
    if let [one] = values {
        return b.value(*one).build();
    }
    let mut counted: BTreeMap<u64, f64> = BTreeMap::new();
    for v in values {
        *counted.entry(v.to_bits()).or_default() += 1.0;
    }
    let (values, counts): (Vec<f64>, Vec<f64>) = counted
        .into_iter()
        .map(|(bits, n)| (f64::from_bits(bits), n))
        .unzip();
    b.set_values(Some(values)).set_counts(Some(counts)).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_s_metrics_carry_its_function_and_labels_and_are_drained_once() {
        let registry = Arc::new(Registry::default());
        let r = Routing;
        CURRENT
            .scope(registry.clone(), async {
                let key =
                    Key::from_parts("jobs_processed", vec![metrics::Label::new("source", "ghl")]);
                let meta = Metadata::new("t", metrics::Level::INFO, None);
                metrics::Recorder::register_counter(&r, &key, &meta).increment(2);
                metrics::Recorder::register_counter(&r, &key, &meta).increment(1);
                let h = Key::from_name("sync_latency_ms");
                metrics::Recorder::register_histogram(&r, &h, &meta).record(5.0);
                metrics::Recorder::register_histogram(&r, &h, &meta).record(5.0);
                metrics::Recorder::register_histogram(&r, &h, &meta).record(7.0);
            })
            .await;
        let mut drained = registry.drain();
        drained.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(drained.len(), 2);
        assert_eq!(drained[0].0.name(), "jobs_processed");
        assert_eq!(drained[0].1, [3.0]);
        assert_eq!(drained[1].1, [5.0, 5.0, 7.0]);
        assert!(registry.drain().is_empty(), "deltas are written once");
    }

    #[test]
    fn a_metric_outside_any_invocation_goes_nowhere() {
        let key = Key::from_name("x");
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        metrics::Recorder::register_counter(&Routing, &key, &meta).increment(1);
    }

    #[test]
    fn a_histogram_keeps_every_value_with_repeats_counted() {
        let at = DateTime::from_millis(1_700_000_000_000);
        let d = datum(
            "sync_latency_ms",
            at,
            &[5.0, 7.0, 5.0],
            vec![dimension("function", "consumer")],
        );
        assert_eq!(d.values(), [5.0, 7.0]);
        assert_eq!(d.counts(), [2.0, 1.0]);
        let one = datum("webhooks_received", at, &[3.0], vec![]);
        assert_eq!(one.value(), Some(3.0));
        assert!(one.values().is_empty());
    }
}
