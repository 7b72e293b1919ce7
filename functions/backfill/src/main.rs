//! The backfill Lambda: a schedule tick or `leadsync backfill run` → pages of GoHighLevel
//! contacts until the run ends or the invocation's deadline nears (the checkpoint keeps the rest
//! for the next tick).
#![forbid(unsafe_code)]

use lambda_runtime::{Error, LambdaEvent};
use leadsync::backfill::{Ending, Request};
use leadsync::{app, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("backfill")?;
    let aws = app::load_aws().await;
    let cfg = app::load_config(&aws).await?;
    let backfill = app::build_backfill(&cfg, &aws)?;
    let backfill = &backfill;
    metrics_cloudwatch_embedded::lambda::handler::run(
        metrics,
        move |event: LambdaEvent<serde_json::Value>| async move {
            let request = Request::from_event(event.payload)?;
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            Ok::<Ending, Error>(backfill.handle(&request, deadline_ms).await?)
        },
    )
    .await
}
