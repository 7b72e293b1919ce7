//! Logs and metrics setup: JSON logs for CloudWatch, metrics as Embedded Metric Format.
//!
//! Metrics are flushed to stdout after each invocation (CloudWatch Logs turns EMF lines into
//! metrics: no API call on the hot path), through [`emf::Limited`], which keeps every document
//! within CloudWatch's limits.

pub mod emf;

use std::sync::Once;

use metrics_cloudwatch_embedded::Collector;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// JSON logs filtered by `RUST_LOG` (default `info`), without ANSI colours or the time
/// (CloudWatch stamps every line).
pub fn init_json_logs() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = json_logs(filter, std::io::stdout).try_init();
}

/// `RUST_LOG` as a list of `level` and `target=level` directives (`info,leadsync=debug`); `info`
/// when unset or not such a list. A `Targets` filter, not env-filter's: the span and field
/// directives env-filter adds would link a regex engine into every function.
pub fn log_filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// The functions' log format, written to `writer`: one JSON object per line, the event's fields
/// under `fields`, the innermost span's under `span` (the consumer's `record`: job, source,
/// contact hash, outcome) and every open span's under `spans`; no target or time. The local
/// stack writes the same lines.
pub fn json_logs<W>(filter: Targets, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .with_current_span(true)
        .without_time()
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// The EMF collector: namespace and service from the Powertools variables, `function` as the
/// only other default dimension. [`begin_invocation`] adds the request id and `ColdStart`.
pub fn init_metrics(function: &'static str) -> Result<&'static Collector, String> {
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "leadsync".into());
    let service = std::env::var("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|_| "leadsync".into());
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("service", service)
        .with_dimension("function", function)
        .init()
        .map_err(|e| e.to_string())
}

/// Starts an invocation's metrics: its request id as a property (a contact id or request id is a
/// property, never a dimension) and `ColdStart` once per execution environment.
pub fn begin_invocation(collector: &Collector, request_id: &str) {
    collector.set_property("RequestId", request_id.to_string());
    static COLD: Once = Once::new();
    COLD.call_once(|| metrics::counter!("ColdStart").increment(1));
}

/// Writes the invocation's metrics to stdout as EMF, split to CloudWatch's limits.
pub fn end_invocation(collector: &Collector) {
    let mut out = emf::Limited::new(std::io::stdout().lock());
    if let Err(e) = collector.flush(&mut out) {
        tracing::warn!(error = %e, "metrics not written");
    }
    if let Err(e) = std::io::Write::flush(&mut out) {
        tracing::warn!(error = %e, "metrics not written");
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_anything_else_means_info() {
        let f = log_filter(Some("warn,leadsync=trace"));
        assert!(f.would_enable("leadsync::consumer", &Level::TRACE));
        assert!(f.would_enable("hyper", &Level::WARN));
        assert!(!f.would_enable("hyper", &Level::INFO));

        for unset_or_unreadable in [None, Some("leadsync[span{x=1}]=debug=")] {
            let f = log_filter(unset_or_unreadable);
            assert!(
                f.would_enable("leadsync", &Level::INFO),
                "{unset_or_unreadable:?}"
            );
            assert!(
                !f.would_enable("leadsync", &Level::DEBUG),
                "{unset_or_unreadable:?}"
            );
        }
    }
}
