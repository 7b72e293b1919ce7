//! The consumer Lambda: SQS batch → idempotent sync → partial batch failures.
#![forbid(unsafe_code)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use leadsync::{app, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("consumer")?;
    let aws = app::load_aws().await;
    let cfg = app::load_config(&aws).await?;
    let consumer = app::build_consumer(&cfg, &aws)?;
    let consumer = &consumer;
    metrics_cloudwatch_embedded::lambda::handler::run(
        metrics,
        move |event: LambdaEvent<SqsEvent>| async move {
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            Ok::<SqsBatchResponse, Error>(consumer.handle_batch(event.payload, deadline_ms).await)
        },
    )
    .await
}
