//! A valid signature proves who sent a webhook, not whose it is: only the stack's own GHL
//! location and Meta Page / Instagram account are acted on. Anything else is answered 200
//! `ignored` and costs nothing: no job, no GHL call, no DynamoDB write.

use anyhow::Result;
use leadsync::domain::clock::now_ms;
use leadsync_local::SANDBOX_WORKFLOW_SECRET;
use leadsync_sandbox::{SandboxConfig, sign_meta};
use leadsync_tests::*;
use serde_json::json;

async fn table_items(t: &TestStack) -> Result<i32> {
    let out = aws_sdk_dynamodb::Client::new(&t.stack.aws)
        .scan()
        .table_name(&t.stack.resources.table)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await?;
    Ok(out.count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validly_signed_webhooks_for_another_account_are_ignored_and_cost_nothing() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let items_before = table_items(&t).await?;
    let ghl_calls_before = t.sandbox_client().calls("ghl").await?.len();

    // Marketplace: another location, signed with the (sandbox's) platform key.
    let foreign = String::from_utf8(marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "foreign-1",
    ))?
    .replace("ve9EPM428h8vShlRW1KT", "someoneElsesLocation");
    let (status, answer) = t.post_signed(foreign.as_bytes()).await?;
    assert_eq!(
        (status, answer.clone()),
        (200, json!({"status": "ignored"}))
    );

    // Marketplace: our location, but another Marketplace app's webhook.
    let other_app = String::from_utf8(marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "foreign-2",
    ))?
    .replacen('{', r#"{"appId":"someoneElsesApp","#, 1);
    let stack_with_app = stack()
        .without_consumer()
        .setting("GHL_APP_ID", "leadsyncApp")
        .start()
        .await?;
    let (status, answer) = stack_with_app.post_signed(other_app.as_bytes()).await?;
    assert_eq!((status, answer), (200, json!({"status": "ignored"})));
    let ours = other_app
        .replace("someoneElsesApp", "leadsyncApp")
        .replace("foreign-2", "ours-2");
    let (status, answer) = stack_with_app.post_signed(ours.as_bytes()).await?;
    assert_eq!(status, 202, "our own app's webhook is taken: {answer}");
    stack_with_app.stop().await;

    // Workflow: the right secret, another location.
    let (status, answer) = t
        .post(
            &t.stack.workflow_url(),
            &[("authorization", format!("Bearer {SANDBOX_WORKFLOW_SECRET}"))],
            br#"{"contact_id":"nmFmQEsNgz6AVpgLVUJ0","location":{"id":"someoneElsesLocation"}}"#,
        )
        .await?;
    assert_eq!((status, answer), (200, json!({"status": "ignored"})));

    // Meta: signed with our app secret, for another Page.
    let played = SandboxConfig::default();
    let body = json!({"object":"page","entry":[{"id":"100000000000999","time":1,"messaging":[
        {"sender":{"id":"24000000000000001"},"recipient":{"id":"100000000000999"},
         "timestamp":now_ms(),"message":{"mid":"m_foreign_1","text":"hi"}}]}]})
    .to_string();
    let (status, answer) = t
        .post(
            &t.stack.meta_webhook_url(),
            &[(
                "x-hub-signature-256",
                sign_meta(&played.meta_app_secret, body.as_bytes()),
            )],
            body.as_bytes(),
        )
        .await?;
    assert_eq!((status, answer), (200, json!({"status": "ignored"})));

    assert_eq!(
        t.queue_depth(&t.stack.resources.queue_url).await?,
        0,
        "nothing enqueued"
    );
    assert_eq!(
        t.sandbox_client().calls("ghl").await?.len(),
        ghl_calls_before,
        "no GHL call"
    );
    assert_eq!(table_items(&t).await?, items_before, "no DynamoDB write");

    // The same deliveries for our own accounts are taken: the test above can fail.
    let ours = foreign.replace("someoneElsesLocation", "ve9EPM428h8vShlRW1KT");
    let (status, answer) = t.post_signed(ours.as_bytes()).await?;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(t.queue_depth(&t.stack.resources.queue_url).await?, 1);
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_marketplace_body_without_a_timestamp_is_refused() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let body = br#"{"type":"ContactTagUpdate","locationId":"ve9EPM428h8vShlRW1KT","id":"nmFmQEsNgz6AVpgLVUJ0","webhookId":"no-time-1"}"#;
    let (status, answer) = t.post_signed(body).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("timestamp_missing")),
        "{answer}"
    );
    assert_eq!(t.queue_depth(&t.stack.resources.queue_url).await?, 0);
    t.stop().await;
    Ok(())
}
