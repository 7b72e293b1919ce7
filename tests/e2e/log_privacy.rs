//! No personal data in the functions' logs. Every `TestStack` checks its own lines when its life
//! ends (`leadsync_tests::log_leaks`); this test drives the path most likely to leak, a CallTools
//! refusal that quotes the contact's email back, and shows the lines are really kept.

use std::time::Duration;

use anyhow::Result;
use leadsync_tests::{log_leaks, settled, stack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_quotes_the_contacts_email_is_logged_and_parked_without_it() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN a contact whose email leadsync finds plausible and CallTools refuses, quoting it
    // back (§5.7's wording)
    let email = "ada.lovelace@example-.com";
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/ghl/contacts",
            Some(
                json!({"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550177",
                        "email": email, "tags": ["cold lead"]}),
            ),
        )
        .await?;
    // WHEN its jobs are parked
    leadsync_tests::eventually(Duration::from_secs(30), "a parked job", || async {
        Ok((!t.dead_letters().await?.is_empty()).then_some(()))
    })
    .await?;
    settled(&t, Duration::from_secs(30)).await?;
    // THEN the functions' log lines, which were kept, name neither the email nor the contact
    let lines = t.stack.logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("job processed") && l.contains("parked")),
        "the consumer's lines are kept: {lines:#?}"
    );
    let known = t
        .stack
        .sandbox
        .as_ref()
        .expect("the sandbox")
        .personal_data()();
    assert!(known.emails.contains(email), "{known:?}");
    let found = log_leaks::leaks(&lines, &known);
    assert!(found.is_empty(), "{found:#?}");
    // AND the parked job keeps what an operator needs, the email masked
    for message in t.dead_letters().await? {
        let attrs = message.message_attributes.unwrap_or_default();
        let attr = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.string_value.clone())
                .unwrap_or_default()
        };
        assert_eq!(attr("http_status"), "400");
        assert!(
            attr("reason").contains("fields: email"),
            "{}",
            attr("reason")
        );
        let excerpt = attr("response_excerpt");
        assert!(
            excerpt.contains("a***@example-.com is a invalid email address"),
            "{excerpt}"
        );
    }
    t.stop().await;
    Ok(())
}
