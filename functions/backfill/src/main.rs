//! The backfill Lambda: a schedule tick or `leadsync backfill run` → pages of GoHighLevel
//! contacts until the run ends or the invocation's deadline nears (the checkpoint keeps the rest
//! for the next tick).
#![forbid(unsafe_code)]

use lambda_runtime::{Error, LambdaEvent};
use leadsync::app;
use leadsync::aws::telemetry;
use leadsync::backfill::Request;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("backfill")?;
    let aws = app::aws_from_env();
    let cfg = app::load_config(&aws).await?;
    let backfill = app::build_backfill(&cfg, &aws)?;
    let backfill = &backfill;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            telemetry::begin_invocation(metrics, &event.context.request_id);
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            let ending = match Request::from_event(event.payload) {
                Ok(request) => backfill
                    .handle(&request, deadline_ms)
                    .await
                    .map_err(Error::from),
                Err(e) => Err(Error::from(e)),
            };
            telemetry::end_invocation(metrics);
            ending
        },
    ))
    .await
}
