//! The consumer Lambda: SQS batch → idempotent sync → partial batch failures.
#![forbid(unsafe_code)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use leadsync::app;
use leadsync::aws::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs();
    let metrics = telemetry::init_metrics("consumer")?;
    let aws = app::aws_from_env();
    let cfg = app::load_config(&aws).await?;
    let consumer = app::build_consumer(&cfg, &aws)?;
    // What the first job would look up, looked up during init (bounded: init has 10 s).
    consumer.prepare(std::time::Duration::from_secs(2)).await;
    let consumer = &consumer;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<SqsEvent>| async move {
            telemetry::begin_invocation(metrics, &event.context.request_id);
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            let answer = consumer.handle_batch(event.payload, deadline_ms).await;
            telemetry::end_invocation(metrics);
            Ok::<SqsBatchResponse, Error>(answer)
        },
    ))
    .await
}
