//! The real ingress binary, started as Lambda starts it (Lambda's variables and no others, a
//! Runtime API to ask for events), answers every API Gateway fixture in `events/` against the
//! local stack's table and queue: what `cargo lambda invoke --data-file events/…` does.

use std::time::Duration;

use anyhow::Result;
use leadsync_local::runtime_api::{FunctionProcess, FunctionSpec, fixture, http_status};
use leadsync_local::{Stack, StackOptions};

/// Each API Gateway fixture and the status ingress answers it with.
const FIXTURES: [(&str, u16); 7] = [
    ("apigw-ghl-contact-tag-update.json", 202),
    ("apigw-ghl-contact-tag-update-legacy-rsa.json", 202),
    ("apigw-ghl-workflow.json", 202),
    ("apigw-meta-handshake.json", 200),
    ("apigw-meta-messenger.json", 200),
    ("apigw-meta-instagram.json", 200),
    // No GHL contact is placed as CallTools contact 123 in this table: answered, not queued.
    ("apigw-calltools-call.json", 200),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_answers_every_api_gateway_fixture() -> Result<()> {
    let stack = Stack::start(StackOptions {
        settings: [
            // The Marketplace fixtures' fixed timestamp (docs/development.md, "Tests").
            ("GHL_WEBHOOK_TOLERANCE_SECS", "3153600000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..StackOptions::for_one_function("ingress")
    })
    .await?;
    let spec = FunctionSpec::of_stack(
        &stack,
        env!("CARGO_BIN_EXE_ingress"),
        "ingress",
        Duration::from_secs(10),
    );
    let (first, expected) = FIXTURES[0];
    let cold = FunctionProcess::cold_start(spec, &fixture(first)?).await?;
    let mut process = cold.process;
    let mut answers = vec![(first, http_status(&cold.answer.json()?), expected)];
    for (name, expected) in &FIXTURES[1..] {
        let answer = process.invoke(&fixture(name)?).await?.json()?;
        answers.push((name, http_status(&answer), *expected));
    }
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(_, got, expected)| *got != Some(*expected))
        .collect();
    assert!(
        wrong.is_empty(),
        "answered otherwise (fixture, status, expected): {wrong:?}\n{}",
        process.output()
    );
    // Two Marketplace deliveries of one body, the workflow's, one Messenger and one Instagram
    // item: each a job on the stack's queue.
    let queued = stack.queue_depth(&stack.resources.queue_url).await?;
    assert!(queued >= 5, "{queued} jobs queued\n{}", process.output());
    process.stop().await;
    stack.stop().await;
    Ok(())
}
