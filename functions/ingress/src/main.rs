//! The ingress Lambda: API Gateway HTTP API → verify → enqueue → answer.
#![forbid(unsafe_code)]

use lambda_http::{Error, Request, RequestExt};
use leadsync::aws::telemetry;
use leadsync::{app, ingress};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("ingress")?;
    let aws = app::aws_from_env();
    let cfg = app::load_config(&aws).await?;
    let ingress = app::build_ingress(&cfg, &aws)?;
    let ingress = &ingress;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        telemetry::begin_invocation(metrics, &request_id);
        let response = ingress::http::handle_request(ingress, req).await;
        telemetry::end_invocation(metrics);
        Ok::<_, Error>(response)
    }))
    .await
}
