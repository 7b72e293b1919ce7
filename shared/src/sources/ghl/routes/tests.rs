//! The order of ingress's writes and its time limits, with in-memory ports that can fail or be
//! slow on demand, on a paused tokio clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use tokio::time::Instant;

use super::*;
use crate::app::INGRESS_TIME_LIMITS;
use crate::domain::contact::ContactKey;
use crate::ingress::allow::AllowList;
use crate::ingress::{Ingress, IngressParts};
use crate::memory::{MemoryEventLog, MemoryLedger, MemoryQueue};
use crate::ports::queue::{JobQueue, QueueError};
use crate::ports::store::{StoreError, WebhookLedger};
use crate::sources::ghl::verify::GhlVerifier;
use crate::sources::meta::routes::MetaRoutes;

const ED25519: &str = include_str!("../../../../../testdata/keys/ghl_test_ed25519.pub.pem");
const ED25519_PRIVATE: &str = include_str!("../../../../../testdata/keys/ghl_test_ed25519.pem");
const RSA: &str = include_str!("../../../../../testdata/keys/ghl_test_rsa4096.pub.pem");
const HANG: Duration = Duration::from_secs(3600);

fn parts(
    queue: Arc<dyn JobQueue>,
    ledger: Arc<dyn WebhookLedger>,
    events: Arc<dyn crate::ports::events::EventLog>,
) -> IngressParts {
    IngressParts {
        max_body_bytes: 131_072,
        allow: AllowList::new(["L1".to_string()], None, []),
        time_limits: INGRESS_TIME_LIMITS,
        queue,
        ledger,
        events,
    }
}

fn routes() -> GhlRoutes {
    GhlRoutes {
        verifier: GhlVerifier::from_pem(ED25519, RSA).expect("test keys"),
        timestamp_tolerance: Duration::from_secs(300),
        workflow_secret: None,
        default_location_id: Some("L1".into()),
    }
}

/// Ingress with GHL's routes, and Meta's (unconfigured) beside them as in a deployment.
fn with(parts: IngressParts, ghl: GhlRoutes) -> Ingress {
    Ingress::new(
        parts,
        vec![Arc::new(ghl), Arc::new(MetaRoutes { meta: None })],
    )
}

fn ingress(
    queue: Arc<dyn JobQueue>,
    ledger: Arc<dyn WebhookLedger>,
    events: Arc<dyn crate::ports::events::EventLog>,
) -> Ingress {
    with(parts(queue, ledger, events), routes())
}

fn tag_update(webhook_id: &str) -> String {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!(
        r#"{{"type":"ContactTagUpdate","locationId":"L1","id":"C1","tags":["cold lead"],"timestamp":"{now}","webhookId":"{webhook_id}"}}"#
    )
}

async fn deliver(i: &Ingress, body: &str) -> Answer {
    deliver_body(i, body.as_bytes()).await
}

/// A queue that refuses while `down`, takes `delay` per call, and can check the ledger at the
/// moment a job is put on it.
#[derive(Default)]
struct TestQueue {
    jobs: MemoryQueue,
    down: AtomicBool,
    delay: Option<Duration>,
    ledger_seen_at_enqueue: std::sync::Mutex<Vec<bool>>,
    ledger: Option<Arc<MemoryLedger>>,
}

#[async_trait]
impl JobQueue for TestQueue {
    async fn enqueue(&self, job: &SyncJob) -> Result<(), QueueError> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError("SQS is unreachable".into()));
        }
        if let Some(ledger) = &self.ledger {
            let open = ledger.retry_allowed("ghl", "wh-1").await.unwrap();
            self.ledger_seen_at_enqueue.lock().unwrap().push(open);
        }
        self.jobs.enqueue(job).await
    }
}

/// A ledger in front of the in-memory one: it can lose its connection after `ok_calls` calls,
/// or take `delay` per call.
#[derive(Default)]
struct TestLedger {
    inner: MemoryLedger,
    calls: AtomicUsize,
    fail_after: Option<usize>,
    restored: AtomicBool,
    delay: Option<Duration>,
}

impl TestLedger {
    async fn step(&self) -> Result<(), StoreError> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fail_after {
            Some(ok) if n >= ok && !self.restored.load(Ordering::SeqCst) => {
                Err(StoreError::transient("DynamoDB is unreachable"))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl WebhookLedger for TestLedger {
    async fn claim_webhook(&self, s: &str, id: &str, at: i64) -> Result<WebhookClaim, StoreError> {
        self.step().await?;
        self.inner.claim_webhook(s, id, at).await
    }
    async fn mark_queued(&self, s: &str, id: &str) -> Result<(), StoreError> {
        self.step().await?;
        self.inner.mark_queued(s, id).await
    }
    async fn retry_allowed(&self, s: &str, id: &str) -> Result<bool, StoreError> {
        self.step().await?;
        self.inner.retry_allowed(s, id).await
    }
    async fn arrived(&self, contact: &ContactKey) -> Result<i64, StoreError> {
        self.step().await?;
        self.inner.arrived(contact).await
    }
}

#[tokio::test]
async fn the_webhook_id_is_accepted_only_after_its_job_is_on_the_queue() {
    let ledger = Arc::new(MemoryLedger::default());
    let queue = Arc::new(TestQueue {
        ledger: Some(ledger.clone()),
        ..TestQueue::default()
    });
    let i = ingress(
        queue.clone(),
        ledger.clone(),
        Arc::new(MemoryEventLog::default()),
    );
    assert_eq!(deliver(&i, &tag_update("wh-1")).await.status, 202);
    assert_eq!(
        *queue.ledger_seen_at_enqueue.lock().unwrap(),
        [true],
        "while the job was being queued, its id was still open to a retry"
    );
    assert!(!ledger.retry_allowed("ghl", "wh-1").await.unwrap());
    let again = deliver(&i, &tag_update("wh-1")).await;
    assert_eq!(again.status, 200, "once queued, a repeat is a duplicate");
    assert_eq!(queue.jobs.len(), 1);
}

#[tokio::test]
async fn a_delivery_answered_429_is_queued_on_ghls_retry_even_when_nothing_could_be_written_after_the_failure()
 {
    // GIVEN the link to AWS lost right after the webhook id was recorded: the enqueue fails,
    // and so would any write to the ledger
    let ledger = Arc::new(TestLedger {
        fail_after: Some(1),
        ..TestLedger::default()
    });
    let queue = Arc::new(TestQueue::default());
    queue.down.store(true, Ordering::SeqCst);
    let i = ingress(
        queue.clone(),
        ledger.clone(),
        Arc::new(MemoryEventLog::default()),
    );
    let first = deliver(&i, &tag_update("wh-1")).await;
    assert_eq!(first.status, 429, "{}", first.body);
    // WHEN AWS is back and GHL retries the delivery
    queue.down.store(false, Ordering::SeqCst);
    ledger.restored.store(true, Ordering::SeqCst);
    let retry = deliver(&i, &tag_update("wh-1")).await;
    // THEN its job is queued, not answered as a duplicate
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(queue.jobs.len(), 1);
    assert_eq!(queue.jobs.jobs()[0].id(), "ghl:wh-1");
}

#[tokio::test]
async fn a_job_queued_whose_id_could_not_be_marked_is_queued_again_on_a_replay() {
    let ledger = Arc::new(TestLedger {
        fail_after: Some(1),
        ..TestLedger::default()
    });
    let queue = Arc::new(TestQueue::default());
    let i = ingress(
        queue.clone(),
        ledger.clone(),
        Arc::new(MemoryEventLog::default()),
    );
    assert_eq!(deliver(&i, &tag_update("wh-1")).await.status, 202);
    ledger.restored.store(true, Ordering::SeqCst);
    assert_eq!(deliver(&i, &tag_update("wh-1")).await.status, 202);
    let ids: Vec<_> = queue
        .jobs
        .jobs()
        .iter()
        .map(|j| j.id().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["ghl:wh-1", "ghl:wh-1"],
        "the same job id twice: the consumer runs it once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_does_not_answer_ends_in_a_429_within_one_call_limit() {
    let queue = Arc::new(TestQueue {
        delay: Some(HANG),
        ..TestQueue::default()
    });
    let i = ingress(
        queue,
        Arc::new(MemoryLedger::default()),
        Arc::new(MemoryEventLog::default()),
    );
    let started = Instant::now();
    let answer = deliver(&i, &tag_update("wh-1")).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(started.elapsed(), INGRESS_TIME_LIMITS.per_call);
}

#[tokio::test(start_paused = true)]
async fn when_every_aws_call_is_slow_the_answer_comes_within_the_total_budget() {
    // GIVEN a ledger and a queue that each take 3/8 of the request's time, and an event log
    // that never answers: claim and enqueue leave a quarter for the bookkeeping writes
    let slow = INGRESS_TIME_LIMITS.total / 8 * 3;
    let ledger = Arc::new(TestLedger {
        delay: Some(slow),
        ..TestLedger::default()
    });
    let queue = Arc::new(TestQueue {
        delay: Some(slow),
        ..TestQueue::default()
    });
    let events = Arc::new(SlowEventLog(HANG));
    let i = ingress(queue.clone(), ledger.clone(), events);
    let started = Instant::now();
    let answer = deliver(&i, &tag_update("wh-1")).await;
    // THEN the job is queued and answered 202 when the budget runs out, not a moment later
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(queue.jobs.len(), 1);
    assert_eq!(started.elapsed(), INGRESS_TIME_LIMITS.total);
    assert!(
        INGRESS_TIME_LIMITS.total < Duration::from_secs(5),
        "inside Meta's 5 s and GHL's 10 s"
    );
}

/// An event log whose writes take `.0`.
struct SlowEventLog(Duration);

#[async_trait]
impl crate::ports::events::EventLog for SlowEventLog {
    async fn received(&self, _: &Received<'_>) -> Result<(), StoreError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
    async fn duplicate_delivery(&self, _: &Received<'_>) -> Result<(), StoreError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
    async fn record(&self, _: &crate::ports::events::EventEntry) -> Result<(), StoreError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
    async fn for_contact(
        &self,
        _: &str,
        _: &str,
        _: usize,
    ) -> Result<Vec<crate::ports::events::LoggedEvent>, StoreError> {
        tokio::time::sleep(self.0).await;
        Ok(Vec::new())
    }
}

#[test]
fn job_ids_collapse_a_retry_of_one_delivery_but_not_a_later_identical_change() {
    let body = br#"{"type":"ContactTagUpdate","id":"C1","tags":["cold lead"],"timestamp":1}"#;
    let later = br#"{"type":"ContactTagUpdate","id":"C1","tags":["cold lead"],"timestamp":2}"#;
    let first = 1_000;
    // A webhookId names the delivery, retries included.
    assert_eq!(marketplace_job_id(Some("wh-1"), body), "ghl:wh-1");
    // Without one, the body's own timestamp is in its hash: a retry carries the same bytes, a
    // later change another time.
    assert_eq!(
        marketplace_job_id(None, body),
        marketplace_job_id(None, body)
    );
    assert_ne!(
        marketplace_job_id(None, body),
        marketplace_job_id(None, later)
    );
    // On the workflow route a later delivery is a later change.
    assert_ne!(
        workflow_job_id(body, first),
        workflow_job_id(body, first + 1)
    );
    assert_eq!(workflow_job_id(body, first), workflow_job_id(body, first));
}

/// Signs `body` with the sandbox's Ed25519 key and posts it to the Marketplace route.
async fn deliver_body(i: &Ingress, body: &[u8]) -> Answer {
    let der = crate::support::pem::decode_pem(ED25519_PRIVATE).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(&der).unwrap();
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(body));
    let mut h = ::http::HeaderMap::new();
    h.insert("x-ghl-signature", sig.parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    i.handle("POST", GHL_MARKETPLACE_PATH, "", &h, body).await
}

#[tokio::test]
async fn a_signed_webhook_for_another_location_or_app_costs_no_write_and_no_job() {
    let ledger = Arc::new(TestLedger::default());
    let queue = Arc::new(TestQueue::default());
    let events = Arc::new(crate::memory::CountingEventLog::default());
    let i = ingress(queue.clone(), ledger.clone(), events.clone());
    let foreign = tag_update("wh-9").replace("\"L1\"", "\"L2\"");
    let a = deliver(&i, &foreign).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":"ignored"}"#)
    );
    let mut other_app = tag_update("wh-8");
    other_app.insert_str(1, r#""appId":"their-app","#);
    let with_app = with(
        IngressParts {
            allow: AllowList::new(["L1".to_string()], Some("our-app".into()), []),
            ..parts(queue.clone(), ledger.clone(), events.clone())
        },
        routes(),
    );
    let a = deliver(&with_app, &other_app).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":"ignored"}"#)
    );
    assert_eq!(ledger.calls.load(Ordering::SeqCst), 0, "no DynamoDB call");
    assert_eq!(events.received(), 0);
    assert!(queue.jobs.is_empty());
    // The same bodies for our location and app are taken.
    let ours = other_app.replace("their-app", "our-app");
    assert_eq!(deliver(&with_app, &ours).await.status, 202);
    assert_eq!(deliver(&i, &tag_update("wh-9")).await.status, 202);
}

#[tokio::test]
async fn a_body_without_a_timestamp_is_refused_and_no_timestamp_can_overflow_the_check() {
    let queue = Arc::new(TestQueue::default());
    let i = ingress(
        queue.clone(),
        Arc::new(MemoryLedger::default()),
        Arc::new(MemoryEventLog::default()),
    );
    let missing = br#"{"type":"ContactTagUpdate","locationId":"L1","id":"C1","webhookId":"w1"}"#;
    let a = deliver_body(&i, missing).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.body.contains("timestamp_missing"), "{}", a.body);
    for ts in [
        "-9223372036854775808",
        "9223372036854775807",
        "-9223372036854",
    ] {
        let body = format!(
            r#"{{"type":"ContactTagUpdate","locationId":"L1","id":"C1","timestamp":{ts}}}"#
        );
        let a = deliver_body(&i, body.as_bytes()).await;
        assert_eq!(a.status, 401, "{ts}: {}", a.body);
        assert!(a.body.contains("timestamp_stale"), "{}", a.body);
    }
    assert!(queue.jobs.is_empty());
}

#[tokio::test]
async fn a_signed_body_with_invalid_utf8_in_a_skipped_field_is_malformed() {
    let queue = Arc::new(TestQueue::default());
    let i = ingress(
        queue.clone(),
        Arc::new(MemoryLedger::default()),
        Arc::new(MemoryEventLog::default()),
    );
    let mut body = tag_update("wh-u").into_bytes();
    let at = body.windows(9).position(|w| w == b"cold lead").unwrap();
    body[at] = 0xff;
    let a = deliver_body(&i, &body).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("malformed"), "{}", a.body);
    assert!(queue.jobs.is_empty());
}

#[tokio::test]
async fn an_unconfigured_workflow_secret_answers_as_a_wrong_one() {
    let queue = Arc::new(TestQueue::default());
    let parts = || {
        parts(
            queue.clone(),
            Arc::new(MemoryLedger::default()),
            Arc::new(MemoryEventLog::default()),
        )
    };
    let i = with(parts(), routes());
    let body = br#"{"contact_id":"C1","location":{"id":"L1"}}"#;
    let mut h = ::http::HeaderMap::new();
    h.insert("authorization", "Bearer guess".parse().unwrap());
    let unconfigured = i
        .handle(
            "POST",
            crate::sources::ghl::routes::GHL_WORKFLOW_PATH,
            "",
            &h,
            body,
        )
        .await;
    let i = with(
        parts(),
        GhlRoutes {
            workflow_secret: Some(crate::support::secret::Secret::new("the-secret")),
            ..routes()
        },
    );
    let wrong = i
        .handle(
            "POST",
            crate::sources::ghl::routes::GHL_WORKFLOW_PATH,
            "",
            &h,
            body,
        )
        .await;
    assert_eq!(unconfigured, wrong, "nothing tells the two apart");
    assert!(
        !unconfigured.body.contains("configured"),
        "{}",
        unconfigured.body
    );
    // The workflow route checks the location too.
    h.insert("authorization", "Bearer the-secret".parse().unwrap());
    let foreign = br#"{"contact_id":"C1","location":{"id":"L2"}}"#;
    let a = i
        .handle(
            "POST",
            crate::sources::ghl::routes::GHL_WORKFLOW_PATH,
            "",
            &h,
            foreign,
        )
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":"ignored"}"#)
    );
    assert!(queue.jobs.is_empty());
    let a = i
        .handle(
            "POST",
            crate::sources::ghl::routes::GHL_WORKFLOW_PATH,
            "",
            &h,
            body,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
}

fn arrival_of(queue: &TestQueue, i: usize) -> Option<i64> {
    queue.jobs.jobs()[i]
        .payload::<GhlContactJob>()
        .expect("a GHL job")
        .arrival
}

#[tokio::test]
async fn each_webhook_is_numbered_for_its_contact_before_its_job_is_queued() {
    let ledger = Arc::new(MemoryLedger::default());
    let queue = Arc::new(TestQueue::default());
    let i = ingress(queue.clone(), ledger, Arc::new(MemoryEventLog::default()));
    assert_eq!(deliver(&i, &tag_update("wh-1")).await.status, 202);
    assert_eq!(deliver(&i, &tag_update("wh-2")).await.status, 202);
    assert_eq!(
        (arrival_of(&queue, 0), arrival_of(&queue, 1)),
        (Some(1), Some(2))
    );
}

#[tokio::test]
async fn a_webhook_that_could_not_be_numbered_is_queued_without_a_number() {
    // The ledger answers the claim, then loses its connection: the count fails.
    let ledger = Arc::new(TestLedger {
        fail_after: Some(1),
        ..TestLedger::default()
    });
    let queue = Arc::new(TestQueue::default());
    let i = ingress(queue.clone(), ledger, Arc::new(MemoryEventLog::default()));
    let answer = deliver(&i, &tag_update("wh-1")).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(arrival_of(&queue, 0), None, "read whatever was read before");
}
