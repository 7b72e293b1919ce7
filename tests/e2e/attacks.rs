//! The attack suite (leadsync_dev::attacks) through the local stack's HTTP API: every route,
//! every attack, no bypass and nothing queued but the suite's own legitimate deliveries.

use anyhow::Result;
use leadsync_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attack_gets_through_any_route() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let table = leadsync_dev::attacks::run(&t.stack).await?;
    println!("{}", table.render());
    leadsync_dev::attacks::assert_held(&table)?;
    assert!(
        table.rows.len() >= 30,
        "the suite covers every route: {}",
        table.render()
    );
    t.stop().await;
    Ok(())
}
