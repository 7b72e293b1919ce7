//! The real backfill binary, started as Lambda starts it (Lambda's variables and no others, a
//! Runtime API to ask for events), answers the schedule fixtures in `events/` against the local
//! stack and its sandbox's GHL.

use std::time::Duration;

use anyhow::Result;
use leadsync_local::runtime_api::{FunctionProcess, FunctionSpec, fixture};
use leadsync_local::{Stack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_answers_both_schedule_fixtures() -> Result<()> {
    let stack = Stack::start(StackOptions::for_one_function("backfill")).await?;
    let timeout = Duration::from_secs(stack.resources.backfill_timeout_secs);
    let spec = FunctionSpec::of_stack(&stack, env!("CARGO_BIN_EXE_backfill"), "backfill", timeout);
    let cold = FunctionProcess::cold_start(spec, &fixture("backfill-schedule.json")?).await?;
    let mut process = cold.process;
    let run = cold.answer.json()?;
    let resumed = process
        .invoke(&fixture("backfill-resume.json")?)
        .await?
        .json()?;
    let output = process.output();
    println!("{run}\n{resumed}");
    assert!(run.is_object(), "{run}\n{output}");
    assert!(resumed.is_object(), "{resumed}\n{output}");
    process.stop().await;
    stack.stop().await;
    Ok(())
}
