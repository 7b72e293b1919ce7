//! The ingress Lambda: API Gateway HTTP API → verify → enqueue → answer.
#![forbid(unsafe_code)]

use lambda_http::{Error, Request};
use leadsync::{app, ingress, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("ingress")?;
    let aws = app::load_aws().await;
    let cfg = app::load_config(&aws).await?;
    let ingress = app::build_ingress(&cfg, &aws)?;
    let ingress = &ingress;
    metrics_cloudwatch_embedded::lambda::handler::run_http(
        metrics,
        move |req: Request| async move {
            Ok::<_, Error>(ingress::http::handle_request(ingress, req).await)
        },
    )
    .await
}
