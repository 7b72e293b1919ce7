//! GHL through OAuth on the local stack: the configured refresh token starts the chain, every
//! rotation is saved in DynamoDB before its access token is sent, a refused access token is
//! refreshed, and jobs that need a new token at the same moment spend the refresh token once.

use std::time::Duration;

use anyhow::Result;
use leadsync::aws::dynamo::tokens::DynamoTokenStore;
use leadsync::sources::ghl::auth::TokenStore;
use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_sandbox::ghl::oauth::{CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN};
use leadsync_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_rotate_are_saved_before_use_and_are_refreshed_once() -> Result<()> {
    let t = stack()
        .setting("GHL_OAUTH_CLIENT_ID", CLIENT_ID)
        .setting("GHL_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
        .setting("GHL_OAUTH_REFRESH_TOKEN", FIRST_REFRESH_TOKEN)
        .start()
        .await?;
    let store = DynamoTokenStore::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
        "ghl",
    );
    let saved_matches_ghl = || async {
        let ghl = t.oauth(json!({})).await?;
        let saved = store
            .load(SANDBOX_LOCATION_ID)
            .await?
            .expect("tokens are stored");
        anyhow::Ok((
            saved.refresh_token.expose() == ghl["refresh_token"].as_str().unwrap_or_default(),
            saved.version,
            ghl["refreshes"].as_u64().unwrap_or_default(),
            ghl["refused"].as_u64().unwrap_or_default(),
        ))
    };

    // GIVEN a tagged contact WHEN it syncs THEN the seed was spent once, its successor saved
    t.create_tagged_contact("Olivia", "+14152030001", "cold lead")
        .await?;
    in_bucket(&t, "+14152030001", COLD_LEADS).await?;
    assert_eq!(saved_matches_ghl().await?, (true, 1, 1, 0));

    // WHEN GHL revokes every access token THEN the next job's 401 leads to one refresh
    t.oauth(json!({"revoke_access": true})).await?;
    t.create_tagged_contact("Liam", "+14152030002", "cold lead")
        .await?;
    in_bucket(&t, "+14152030002", COLD_LEADS).await?;
    let (same, _, refreshes, refused) = saved_matches_ghl().await?;
    assert!(same, "the rotated refresh token is the one saved");
    assert_eq!((refreshes, refused), (2, 0));

    // WHEN access tokens live 10 s past the refresh margin and six contacts change at once THEN every job still
    // syncs, and no spent refresh token is ever sent
    t.oauth(json!({"expires_in": 310})).await?;
    t.oauth(json!({"revoke_access": true})).await?;
    for i in 3..9 {
        t.create_tagged_contact(
            &format!("Burst{i}"),
            &format!("+1415203000{i}"),
            "cold lead",
        )
        .await?;
    }
    for i in 3..9 {
        in_bucket(&t, &format!("+1415203000{i}"), COLD_LEADS).await?;
    }
    drained(&t, Duration::from_secs(30)).await?;
    let (same, _, refreshes, refused) = saved_matches_ghl().await?;
    assert!(same);
    assert!(refreshes >= 3, "{refreshes}");
    assert_eq!(refused, 0, "a refresh token was sent twice");
    t.stop().await;
    Ok(())
}
