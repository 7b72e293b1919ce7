//! Logs and metrics setup: JSON logs for CloudWatch, metrics as Embedded Metric Format.

use metrics_cloudwatch_embedded::Collector;

/// JSON logs filtered by `RUST_LOG` (default `info`), without ANSI colours or the time
/// (CloudWatch stamps every line).
pub fn init_json_logs() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_current_span(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}

/// The EMF collector: namespace and service from the Powertools variables, `function` as the
/// only other default dimension, a `ColdStart` metric and the request id as a property.
pub fn init_metrics(function: &'static str) -> Result<&'static Collector, String> {
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "leadsync".into());
    let service = std::env::var("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|_| "leadsync".into());
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("service", service)
        .with_dimension("function", function)
        .lambda_cold_start_metric("ColdStart")
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|e| e.to_string())
}
