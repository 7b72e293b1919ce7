//! A contact state saved before the per-sink `sinks` map keeps working after the upgrade: its
//! CallTools mapping is read from the old attributes, so the next change updates the same
//! CallTools contact (no second create), and the state is saved again in the new shape.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use leadsync::domain::sink::SinkId;
use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_saved_before_the_sinks_map_still_maps_the_contact_and_is_rewritten() -> Result<()>
{
    // Duplicates allowed: a lost mapping would show as a second CallTools contact.
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .start()
        .await?;
    let phone = "+14155550177";
    let id = t.create_tagged_contact("Mira", phone, "cold lead").await?;
    let contact = in_bucket(&t, phone, COLD_LEADS).await?;
    settled(&t, Duration::from_secs(30)).await?;
    let calltools_id = contact["id"].as_i64().context("CallTools id")?;

    // GIVEN the state item as the previous release left it: the CallTools attributes only.
    let dynamo = aws_sdk_dynamodb::Client::new(&t.stack.aws);
    let pk = format!("C#ghl#{SANDBOX_LOCATION_ID}#{id}");
    let item_key =
        |d: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
            d.table_name(&t.stack.resources.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S("STATE".into()))
        };
    item_key(dynamo.update_item())
        .update_expression("REMOVE sinks")
        .send()
        .await?;
    let raw = read_item(&t, &pk).await?;
    assert!(!raw.contains_key("sinks"), "the old shape: {raw:?}");
    assert_eq!(
        raw.get("calltools_id").and_then(|v| v.as_n().ok()),
        Some(&calltools_id.to_string())
    );
    let calls_before = t.calltools_calls().await?.len();

    // WHEN the contact changes in GoHighLevel
    t.update_ghl_contact(&id, json!({"firstName": "Miranda"}))
        .await?;
    let updated = eventually(
        Duration::from_secs(30),
        "the name reaches CallTools",
        || async {
            let found = t.calltools_with_phone(phone).await?;
            Ok(found
                .iter()
                .any(|c| c["first_name"] == "Miranda")
                .then_some(found))
        },
    )
    .await?;
    settled(&t, Duration::from_secs(30)).await?;

    // THEN the same CallTools contact was updated by its id: no lookup by phone, no create
    assert_eq!(updated.len(), 1, "one CallTools contact: {updated:#?}");
    assert_eq!(updated[0]["id"].as_i64(), Some(calltools_id));
    let calls = t.calltools_calls().await?;
    let new_calls = &calls[calls_before..];
    let by_id = format!("/api/contacts/{calltools_id}/");
    assert!(
        !new_calls.is_empty() && new_calls.iter().all(|c| c["path"] == by_id.as_str()),
        "only calls to the mapped contact: {new_calls:#?}"
    );
    // AND the state is saved in the new shape, with the old attributes mirrored
    let raw = read_item(&t, &pk).await?;
    let entry = raw
        .get("sinks")
        .and_then(|v| v.as_m().ok())
        .and_then(|m| m.get("calltools"))
        .and_then(|v| v.as_m().ok())
        .context("the sinks map after the next save")?;
    assert_eq!(
        entry.get("id").and_then(|v| v.as_n().ok()),
        Some(&calltools_id.to_string())
    );
    let state = t.contact_state(&id).await?.context("state")?;
    assert_eq!(state.sink(SinkId::CallTools).id, Some(calltools_id));
    t.stop().await;
    Ok(())
}

async fn read_item(
    t: &TestStack,
    pk: &str,
) -> Result<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&t.stack.aws)
        .get_item()
        .table_name(&t.stack.resources.table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S("STATE".into()))
        .consistent_read(true)
        .send()
        .await?
        .item
        .context("the state item")
}
