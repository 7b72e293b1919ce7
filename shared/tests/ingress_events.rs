//! The events/ fixtures through the real lambda_http entry point, with the queue and webhook
//! ledger in memory: what `cargo lambda invoke --data-file events/…` would do.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use leadsync::domain::clock::now_ms;
use leadsync::domain::contact::ContactKey;
use leadsync::domain::job::SyncJob;
use leadsync::domain::sink::SinkId;
use leadsync::ingress::allow::AllowList;
use leadsync::ingress::{Ingress, IngressParts, http::handle_request};
use leadsync::memory::{MemoryLedger, MemoryQueue};
use leadsync::ports::store::{SinkIndex, StoreError};
use leadsync::sources::calltools::job::CallToolsJob;
use leadsync::sources::calltools::routes::CallToolsRoutes;
use leadsync::sources::ghl::job::{GhlContactJob, GhlTrigger};
use leadsync::sources::ghl::routes::GhlRoutes;
use leadsync::sources::ghl::verify::GhlVerifier;
use leadsync::sources::meta::routes::{MetaIngress, MetaRoutes};
use leadsync::sources::meta::verify::MetaVerifier;
use leadsync::support::pem::decode_pem;
use leadsync::support::secret::Secret;
use serde_json::Value;

const ED25519_PUBLIC: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pub.pem");
const RSA_PUBLIC: &str = include_str!("../../testdata/keys/ghl_test_rsa4096.pub.pem");
const ED25519_PRIVATE: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pem");

fn ingress(queue: Arc<MemoryQueue>, ledger: Arc<MemoryLedger>) -> Ingress {
    ingress_with_tolerance(queue, ledger, Duration::from_secs(300))
}

/// The Marketplace fixtures carry a fixed `timestamp` (a regenerated file must not change), so
/// they are read with a tolerance wide enough for any day the tests run.
const FIXTURE_TOLERANCE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn ingress_with_tolerance(
    queue: Arc<MemoryQueue>,
    ledger: Arc<MemoryLedger>,
    timestamp_tolerance: Duration,
) -> Ingress {
    Ingress::new(
        IngressParts {
            max_body_bytes: 131_072,
            // The sandbox's location, Page and Instagram account (local/src, sandbox/).
            allow: AllowList::new(
                ["ve9EPM428h8vShlRW1KT".to_string(), "L1".to_string()],
                None,
                [
                    "100000000000001".to_string(),
                    "17841400000000001".to_string(),
                ],
            ),
            time_limits: leadsync::app::INGRESS_TIME_LIMITS,
            queue,
            ledger,
            events: Arc::new(leadsync::memory::MemoryEventLog::default()),
        },
        vec![
            Arc::new(GhlRoutes {
                verifier: GhlVerifier::from_pem(ED25519_PUBLIC, RSA_PUBLIC)
                    .expect("sandbox keys parse"),
                timestamp_tolerance,
                workflow_secret: Some(Secret::new("sandbox-workflow-secret")),
                default_location_id: None,
            }),
            Arc::new(CallToolsRoutes {
                token: Some(Secret::new(LOCAL_CALLTOOLS_HOOK_TOKEN)),
                placed: Arc::new(PlacedOne),
            }),
            Arc::new(MetaRoutes {
                // The sandbox's Meta app (sandbox/: SandboxConfig::default()).
                meta: Some(MetaIngress {
                    verifier: MetaVerifier::new(&Secret::new("sandbox-meta-app-secret")),
                    verify_token: Some(Secret::new("sandbox-meta-verify-token")),
                }),
            }),
        ],
    )
}

/// The local stack's CallTools hook token (local/src/lib.rs), which the fixture's URL carries.
const LOCAL_CALLTOOLS_HOOK_TOKEN: &str = "local-calltools-hook-token-5f0c2a9e71d84b36";

/// The state store's index, as it is once leadsync placed GHL contact `nmFmQEsNgz6AVpgLVUJ0` as
/// CallTools contact 123 (the contact the fixture's call is about).
struct PlacedOne;

#[async_trait::async_trait]
impl SinkIndex for PlacedOne {
    async fn placed_as(&self, sink: SinkId, id: i64) -> Result<Vec<ContactKey>, StoreError> {
        Ok(if sink == SinkId::CallTools && id == 123 {
            vec![ContactKey::ghl(
                "ve9EPM428h8vShlRW1KT",
                "nmFmQEsNgz6AVpgLVUJ0",
            )]
        } else {
            Vec::new()
        })
    }
}

async fn invoke(ingress: &Ingress, fixture: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(fixture).expect("an API Gateway v2 event");
    let response = handle_request(ingress, request).await;
    let status = response.status().as_u16();
    let body = leadsync::ingress::http::body_bytes(response.body()).to_vec();
    (status, serde_json::from_slice(&body).expect("JSON answer"))
}

fn the_job(queue: &MemoryQueue) -> GhlContactJob {
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let Some(j) = jobs[0].payload::<GhlContactJob>().cloned() else {
        panic!("a GHL job")
    };
    j
}

#[tokio::test]
async fn the_marketplace_fixtures_are_enqueued_as_one_job_each() {
    for fixture in [
        include_str!("../../events/apigw-ghl-contact-tag-update.json"),
        include_str!("../../events/apigw-ghl-contact-tag-update-legacy-rsa.json"),
    ] {
        let queue = Arc::new(MemoryQueue::default());
        let ingress = ingress_with_tolerance(
            queue.clone(),
            Arc::new(MemoryLedger::default()),
            FIXTURE_TOLERANCE,
        );
        let (status, answer) = invoke(&ingress, fixture).await;
        assert_eq!(status, 202, "{answer}");
        let job = the_job(&queue);
        assert_eq!(answer["job_id"], job.job_id.as_str());
        assert_eq!(job.trigger, GhlTrigger::ContactTagUpdate);
        assert_eq!(
            (job.location_id.as_str(), job.contact_id.as_str()),
            ("ve9EPM428h8vShlRW1KT", "nmFmQEsNgz6AVpgLVUJ0")
        );
        assert!(
            job.payload.contains(r#""tags":["cold lead","newsletter"]"#),
            "the exact body travels"
        );
    }
}

#[tokio::test]
async fn the_workflow_fixture_is_enqueued_as_a_workflow_job() {
    let queue = Arc::new(MemoryQueue::default());
    let ingress = ingress(queue.clone(), Arc::new(MemoryLedger::default()));
    let fixture = include_str!("../../events/apigw-ghl-workflow.json");
    let (status, answer) = invoke(&ingress, fixture).await;
    assert_eq!(status, 202, "{answer}");
    let job = the_job(&queue);
    assert_eq!(answer["job_id"], job.job_id.as_str());
    assert_eq!(job.trigger, GhlTrigger::Workflow);
    assert_eq!(job.version_ms, None);
}

#[tokio::test]
async fn the_meta_fixtures_answer_the_handshake_and_enqueue_one_job_per_item() {
    let queue = Arc::new(MemoryQueue::default());
    let ingress = ingress(queue.clone(), Arc::new(MemoryLedger::default()));
    let handshake = include_str!("../../events/apigw-meta-handshake.json");
    let response =
        handle_request(&ingress, lambda_http::request::from_str(handshake).unwrap()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(
        leadsync::ingress::http::body_bytes(response.body()),
        b"1158201444",
        "the challenge, as-is"
    );
    for (fixture, items, source) in [
        (
            include_str!("../../events/apigw-meta-messenger.json"),
            4,
            "messenger",
        ),
        (
            include_str!("../../events/apigw-meta-instagram.json"),
            2,
            "instagram",
        ),
    ] {
        queue.clear();
        let (status, answer) = invoke(&ingress, fixture).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["jobs"], items);
        let jobs = queue.jobs();
        assert_eq!(jobs.len(), items);
        assert!(jobs.iter().all(|j| j.source().as_str() == source));
    }
    // A fixture whose body is changed by one byte no longer verifies.
    let tampered = include_str!("../../events/apigw-meta-messenger.json").replace("Sure", "sure");
    let (status, _) = invoke(&ingress, &tampered).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_calltools_fixture_is_enqueued_for_the_ghl_contact_placed_as_its_contact() {
    let queue = Arc::new(MemoryQueue::default());
    let ingress = ingress(queue.clone(), Arc::new(MemoryLedger::default()));
    let fixture = include_str!("../../events/apigw-calltools-call.json");
    let (status, body) = invoke(&ingress, fixture).await;
    assert_eq!(status, 202, "{body}");
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = jobs[0].payload::<CallToolsJob>().expect("a CallTools job");
    assert!(
        job.job_id.starts_with("calltools:call:9001:1:"),
        "{}",
        job.job_id
    );
    assert_eq!(job.calltools_contact_id, 123);
    assert_eq!(
        job.ghl,
        ContactKey::ghl("ve9EPM428h8vShlRW1KT", "nmFmQEsNgz6AVpgLVUJ0")
    );

    // The token is the proof: without it, nothing is enqueued.
    let stolen = fixture.replace(LOCAL_CALLTOOLS_HOOK_TOKEN, "guessed-token");
    let (status, _) = invoke(&ingress, &stolen).await;
    assert_eq!(status, 401);
    assert_eq!(queue.jobs().len(), 1);
}

fn signed_event(body: &str) -> String {
    let der = decode_pem(ED25519_PRIVATE).expect("PEM");
    let key = Ed25519KeyPair::from_pkcs8(&der).expect("the sandbox's Ed25519 key");
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(body.as_bytes()));
    serde_json::json!({
        "version": "2.0", "routeKey": "POST /webhooks/ghl", "rawPath": "/webhooks/ghl", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-ghl-signature": sig},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/ghl", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                           "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "requestId": "r",
                           "routeKey": "POST /webhooks/ghl", "stage": "$default", "time": "", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::test]
async fn when_the_queue_is_down_ghl_gets_429_and_its_late_retry_is_let_in_once() {
    // GHL retries a 429 up to six times ten minutes apart, possibly with the original timestamp.
    let seventy_minutes_ago = now_ms() - 70 * 60_000;
    let ts = time::OffsetDateTime::from_unix_timestamp(seventy_minutes_ago / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let fresh = format!(
        r#"{{"type":"ContactTagUpdate","locationId":"L1","id":"C1","timestamp":"{}","webhookId":"retry-me"}}"#,
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let late = format!(
        r#"{{"type":"ContactTagUpdate","locationId":"L1","id":"C1","timestamp":"{ts}","webhookId":"retry-me"}}"#
    );
    let ledger = Arc::new(MemoryLedger::default());

    let down = ingress(Arc::new(MemoryQueue::unavailable()), ledger.clone());
    let request = lambda_http::request::from_str(&signed_event(&fresh)).unwrap();
    let response = handle_request(&down, request).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "60");

    let queue = Arc::new(MemoryQueue::default());
    let up = ingress(queue.clone(), ledger.clone());
    let (status, answer) = invoke(&up, &signed_event(&late)).await;
    assert_eq!(
        status, 202,
        "the retry of a delivery we answered 429 is accepted: {answer}"
    );
    assert_eq!(the_job(&queue).job_id, "ghl:retry-me");
    let (status, answer) = invoke(&up, &signed_event(&late)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("timestamp_stale")),
        "but only once"
    );

    let (status, answer) =
        invoke(&up, &signed_event(&late.replace("retry-me", "never-429d"))).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("timestamp_stale")),
        "other late deliveries are stale"
    );
}

#[test]
fn the_sqs_fixture_holds_one_job_and_one_unreadable_body() {
    let event: SqsEvent =
        serde_json::from_str(include_str!("../../events/sqs-batch.json")).expect("an SQS event");
    assert_eq!(event.records.len(), 2);
    let job = SyncJob::from_json(event.records[0].body.as_deref().unwrap()).expect("a job");
    assert_eq!(job.id(), "ghl:sample-webhook-0001");
    assert!(SyncJob::from_json(event.records[1].body.as_deref().unwrap()).is_err());
}
