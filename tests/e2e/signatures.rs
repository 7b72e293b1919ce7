//! Attacks on the Marketplace route: each is answered 401 and nothing reaches the queue.

use anyhow::Result;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine;
use leadsync::domain::clock::now_ms;
use leadsync_tests::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_attacks_are_refused_and_nothing_is_enqueued() -> Result<()> {
    // No consumer: every job ingress queued stays on the queue to be counted.
    let t = stack().without_consumer().start().await?;
    let url = t.stack.webhook_url();
    let body = marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "attack-1",
    );
    let good = leadsync_sandbox::keys::sign_ghl(&body);

    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
    let other_key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    assert_ne!(other_key.public_key().as_ref().len(), 0);
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body)?)?;
    let stale = marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms() - 10 * 60_000,
        "attack-2",
    );
    let stale_sig = leadsync_sandbox::keys::sign_ghl(&stale).ed25519_b64;

    // (what, headers, body, expected error)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        ("no signature", vec![], body.clone(), "signature_missing"),
        (
            "empty signature",
            vec![("x-ghl-signature", String::new())],
            body.clone(),
            "signature_malformed",
        ),
        (
            "signature that is not base64",
            vec![("x-ghl-signature", format!("{}!", &good.ed25519_b64[..41]))],
            body.clone(),
            "signature_malformed",
        ),
        (
            "truncated signature",
            vec![("x-ghl-signature", good.ed25519_b64[..40].to_string())],
            body.clone(),
            "signature_invalid",
        ),
        (
            "signature by another key",
            vec![("x-ghl-signature", b64(other_key.sign(&body).as_ref()))],
            body.clone(),
            "signature_invalid",
        ),
        (
            "valid signature over a re-serialised body",
            vec![("x-ghl-signature", good.ed25519_b64.clone())],
            reserialised,
            "signature_invalid",
        ),
        (
            "bad Ed25519 with a valid RSA signature (no fallback)",
            vec![
                ("x-ghl-signature", b64(&[0u8; 64])),
                ("x-wh-signature", good.rsa_b64.clone()),
            ],
            body.clone(),
            "signature_invalid",
        ),
        (
            "stale timestamp",
            vec![("x-ghl-signature", stale_sig)],
            stale,
            "timestamp_stale",
        ),
    ];
    for (what, headers, payload, reason) in cases {
        let (status, answer) = t.post(&url, &headers, &payload).await?;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["error"], reason, "{what}");
    }

    // A replay of a valid delivery: the first is accepted, the second refused.
    let (status, answer) = t
        .post(
            &url,
            &[("x-ghl-signature", good.ed25519_b64.clone())],
            &body,
        )
        .await?;
    assert_eq!(
        (status, answer["job_id"].as_str()),
        (202, Some("ghl:attack-1")),
        "{answer}"
    );
    let (status, answer) = t
        .post(
            &url,
            &[("x-ghl-signature", good.ed25519_b64.clone())],
            &body,
        )
        .await?;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "a replay within the tolerance is answered, and dropped"
    );

    // Only the one valid delivery became a job: ingress answers after the enqueue, so the queue
    // (visible, in flight or delayed) already holds everything it queued.
    assert_eq!(
        t.queue_depth(&t.stack.resources.queue_url).await?,
        1,
        "nothing unverified was enqueued"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_rsa_signature_is_accepted_when_it_is_the_only_one() -> Result<()> {
    let t = stack().start().await?;
    let body = marketplace_body(
        "ContactTagUpdate",
        "nmFmQEsNgz6AVpgLVUJ0",
        now_ms(),
        "legacy-1",
    );
    let sig = leadsync_sandbox::keys::sign_ghl(&body);
    let (status, answer) = t
        .post(
            &t.stack.webhook_url(),
            &[("x-wh-signature", sig.rsa_b64)],
            &body,
        )
        .await?;
    assert_eq!(status, 202, "{answer}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_route_needs_its_secret() -> Result<()> {
    let t = stack().start().await?;
    let url = t.stack.workflow_url();
    let body = br#"{"contact_id":"nmFmQEsNgz6AVpgLVUJ0","tags":"cold lead","location":{"id":"ve9EPM428h8vShlRW1KT"}}"#;
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong".to_string())],
        vec![("authorization", "Bearer sandbox-workflow-secre".to_string())],
        vec![("x-api-key", String::new())],
    ] {
        let (status, answer) = t.post(&url, &headers, body).await?;
        assert_eq!(status, 401, "{headers:?}: {answer}");
    }
    let (status, _) = t
        .post(
            &url,
            &[(
                "authorization",
                "Bearer sandbox-workflow-secret".to_string(),
            )],
            body,
        )
        .await?;
    assert_eq!(status, 202);
    let (status, _) = t
        .post(
            &url,
            &[("x-api-key", "sandbox-workflow-secret".to_string())],
            body,
        )
        .await?;
    assert_eq!(status, 202, "the API-key header form works too");
    t.stop().await;
    Ok(())
}
