//! The local stack's moto behaves as DynamoDB does where leadsync relies on it: a request
//! applies to an item atomically. (moto alone puts a new item's key in the table before an
//! UpdateItem sets its other attributes, and a Query in between reads a key-only item; a test
//! that waited for a stored message once read it without its text.) And it counts the requests
//! it answers, for the ledger's figures.

use std::time::Duration;

use anyhow::{Result, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use leadsync_local::moto::{requests_answered, requests_between};
use leadsync_tests::stack;

/// New items written by UpdateItem, each under its own key of one partition.
const WRITES: usize = 100;
/// Attributes each UpdateItem sets: enough that moto spends longer on one than Python's thread
/// switch interval (5 ms), so a read is answered in the middle of a write, not only between two.
const ATTRIBUTES: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_never_reads_half_of_an_update() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&t.stack.aws);
    let table = t.stack.resources.table.clone();
    let pk = AttributeValue::S("test#moto-fidelity".into());

    // GIVEN a writer creating items with UpdateItem, every item with the same attributes
    let names: Vec<String> = (0..ATTRIBUTES).map(|k| format!("a{k}")).collect();
    let expression = format!(
        "SET {}",
        names
            .iter()
            .map(|n| format!("{n} = :v"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let last = names[ATTRIBUTES - 1].clone();
    let writer = {
        let (dynamo, table, pk) = (dynamo.clone(), table.clone(), pk.clone());
        let expression = expression.clone();
        tokio::spawn(async move {
            for i in 0..WRITES {
                dynamo
                    .update_item()
                    .table_name(&table)
                    .key("pk", pk.clone())
                    .key("sk", AttributeValue::S(format!("item#{i:04}")))
                    .update_expression(&expression)
                    .expression_attribute_values(":v", AttributeValue::S("x".into()))
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    // WHEN a reader queries the partition while it writes
    let mut reads = 0;
    loop {
        // Checked before the read: the last read starts after the last write.
        let written = writer.is_finished();
        let out = dynamo
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", pk.clone())
            // The first and the last attribute set: a half-written item lacks the last. Only
            // these are answered, so a read costs little however many attributes are set.
            .projection_expression("sk, a0, #last")
            .expression_attribute_names("#last", last.as_str())
            .consistent_read(true)
            .send()
            .await?;
        reads += 1;
        // THEN every item it reads has all of its attributes
        for item in out.items() {
            if !(item.contains_key("a0") && item.contains_key(&last)) {
                bail!(
                    "read {reads} saw a half-written item: {:?}",
                    item.keys().collect::<Vec<_>>()
                );
            }
        }
        if written {
            assert_eq!(out.items().len(), WRITES, "every write read back");
            break;
        }
    }
    tokio::time::timeout(Duration::from_secs(60), writer).await???;
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_counts_each_request_it_answers_by_service_and_action() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&t.stack.aws);
    let before = requests_answered(&t.stack.moto_url).await?;
    for _ in 0..3 {
        dynamo
            .describe_table()
            .table_name(&t.stack.resources.table)
            .send()
            .await?;
    }
    let counted = requests_between(&before, &requests_answered(&t.stack.moto_url).await?);
    // Other tests share this moto and add their own requests; these three are among them.
    assert!(
        counted.get("dynamodb.DescribeTable").copied().unwrap_or(0) >= 3,
        "{counted:?}"
    );
    t.stop().await;
    Ok(())
}
