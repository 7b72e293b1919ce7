//! The real consumer binary, started as Lambda starts it (Lambda's variables and no others, a
//! Runtime API to ask for events), answers the SQS fixture in `events/` against the local stack.

use std::time::Duration;

use anyhow::Result;
use leadsync_local::runtime_api::{FunctionProcess, FunctionSpec, fixture};
use leadsync_local::{Stack, StackOptions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_answers_the_sqs_fixture() -> Result<()> {
    let stack = Stack::start(StackOptions::for_one_function("consumer")).await?;
    let timeout = Duration::from_secs(stack.resources.consumer_timeout_secs);
    let spec = FunctionSpec::of_stack(&stack, env!("CARGO_BIN_EXE_consumer"), "consumer", timeout);
    let cold = FunctionProcess::cold_start(spec, &fixture("sqs-batch.json")?).await?;
    let answer = cold.answer.json()?;
    let output = cold.process.output();
    // The job's contact is not in the sandbox's GHL and the other body is not a job: both end
    // here, nothing to retry (the unreadable body is parked in the DLQ, not failed back).
    assert_eq!(answer, json!({"batchItemFailures": []}), "{output}");
    assert!(
        output.contains("\"outcome\""),
        "the consumer logs each record's outcome:\n{output}"
    );
    let parked = stack.queue_depth(&stack.resources.dlq_url).await?;
    assert_eq!(parked, 1, "the unreadable body is parked\n{output}");
    cold.process.stop().await;
    stack.stop().await;
    Ok(())
}
