//! Bad input gets a defined answer and is never enqueued.

use anyhow::Result;
use leadsync::domain::clock::now_ms;
use leadsync_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_documented_status_and_are_not_enqueued() -> Result<()> {
    // No consumer: anything ingress queued would stay on the queue to be counted.
    let t = stack().without_consumer().start().await?;
    let url = t.stack.webhook_url();
    let signed = |body: &[u8]| {
        vec![(
            "x-ghl-signature",
            leadsync_sandbox::keys::sign_ghl(body).ed25519_b64,
        )]
    };

    let malformed = b"{\"type\": \"ContactCreate\", ".to_vec();
    let (status, answer) = t.post(&url, &signed(&malformed), &malformed).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("malformed")),
        "{answer}"
    );

    let no_contact = format!(
        r#"{{"type":"ContactCreate","locationId":"L1","timestamp":{}}}"#,
        now_ms()
    )
    .into_bytes();
    let (status, answer) = t.post(&url, &signed(&no_contact), &no_contact).await?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("id"),
        "{answer}"
    );

    let unknown = format!(
        r#"{{"type":"NoteCreate","locationId":"L1","id":"n1","timestamp":{}}}"#,
        now_ms()
    )
    .into_bytes();
    let (status, answer) = t.post(&url, &signed(&unknown), &unknown).await?;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );

    let invalid_utf8 = b"{\"type\":\"ContactCreate\",\"id\":\"\xff\"}".to_vec();
    let (status, _) = t.post(&url, &signed(&invalid_utf8), &invalid_utf8).await?;
    assert_eq!(status, 400);

    let empty: Vec<u8> = Vec::new();
    let (status, answer) = t.post(&url, &signed(&empty), &empty).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("malformed")),
        "empty body: {answer}"
    );

    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes();
    let (status, answer) = t.post(&url, &signed(&deep), &deep).await?;
    assert_eq!(status, 400, "deeply nested JSON: {answer}");

    let ten_mb = vec![b' '; 10 * 1024 * 1024];
    let (status, answer) = t.post(&url, &[], &ten_mb).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (413, Some("body_too_large")),
        "10 MB reaches ingress and is refused"
    );
    let over_gateway = vec![b' '; 10 * 1024 * 1024 + 1];
    let (status, _) = t.post(&url, &[], &over_gateway).await?;
    assert_eq!(status, 413, "API Gateway refuses more than 10 MB itself");

    let big = vec![b' '; 200_000];
    let (status, answer) = t.post(&url, &signed(&big), &big).await?;
    assert_eq!(
        (status, answer["error"].as_str()),
        (413, Some("body_too_large"))
    );

    let (status, _) = t
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))?;
    assert_eq!(status, 415);

    let (status, _) = t
        .post(&format!("{}/webhooks/nope", t.stack.api.url), &[], b"{}")
        .await?;
    assert_eq!(
        status, 404,
        "routes outside the template are API Gateway 404s"
    );

    // Ingress answers after the enqueue, so the queue (visible, in flight or delayed) already
    // holds anything it queued.
    assert_eq!(
        t.queue_depth(&t.stack.resources.queue_url).await?,
        0,
        "nothing was enqueued"
    );
    t.stop().await;
    Ok(())
}
