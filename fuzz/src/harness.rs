//! The one place the fuzz targets build an ingress, and the TEST-ONLY keys they sign with.
//!
//! The GHL key pair is the sandbox's committed one (`testdata/keys/`); the Meta app
//! secret and the workflow secret are written below. Each input is signed with them, so the
//! fuzzer gets past verification to the parsers and decisions behind it.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use leadsync::app::INGRESS_TIME_LIMITS;
use leadsync::domain::clock::Millis;
use leadsync::domain::contact::ContactKey;
use leadsync::domain::sink::SinkId;
use leadsync::ingress::allow::AllowList;
use leadsync::ingress::{Answer, Ingress, IngressParts};
use leadsync::memory::{CountingEventLog, MemoryLedger, MemoryQueue};
use leadsync::ports::store::{ContactState, SinkState};
use leadsync::sources::calltools::routes::CallToolsRoutes;
use leadsync::sources::ghl::routes::GhlRoutes;
use leadsync::sources::ghl::verify::GhlVerifier;
use leadsync::sources::meta::routes::{MetaIngress, MetaRoutes};
use leadsync::sources::meta::verify::MetaVerifier;
use leadsync::support::pem::decode_pem;
use leadsync::support::secret::Secret;
use leadsync::testing::clock::ManualClock;
use leadsync::testing::store::MemoryStateStore;

const GHL_ED25519_PUBLIC_PEM: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pub.pem");
const GHL_ED25519_PRIVATE_PEM: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pem");
const GHL_RSA_PUBLIC_PEM: &str = include_str!("../../testdata/keys/ghl_test_rsa4096.pub.pem");

pub const WORKFLOW_SECRET: &str = "fuzz-workflow-secret";
pub const CALLTOOLS_HOOK_TOKEN: &str = "fuzz-calltools-hook-token";
/// The CallTools contact leadsync placed (as GHL contact `FUZZ_GHL_CONTACT`); any other is
/// nobody's.
pub const PLACED_CALLTOOLS_CONTACT: i64 = 123;
pub const FUZZ_GHL_CONTACT: &str = "FuzzContact00000001";
pub const META_APP_SECRET: &str = "fuzz-meta-app-secret";
pub const META_VERIFY_TOKEN: &str = "fuzz-verify-token";
/// The location the seeds name and the ingress is configured for.
pub const LOCATION_ID: &str = "FuzzLocation0000001";
/// The Page and Instagram account the Meta seeds are for: the only ones ingress acts on.
pub const META_PAGE_ID: &str = "100000000000001";
pub const META_IG_ACCOUNT_ID: &str = "17841400000000001";

/// Wide enough that a seed's fixed `timestamp` stays fresh for decades, so signed seeds reach
/// the webhook-id ledger and the queue; timestamps far off still reach the stale branch.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// An ingress on in-memory ports, and the ports to look into afterwards.
pub struct Stack {
    pub ingress: Ingress,
    pub queue: Arc<MemoryQueue>,
    pub events: Arc<CountingEventLog>,
}

/// A fresh ingress with an empty queue and webhook ledger, so inputs never see each other's
/// webhook ids. `default_location` configures `GHL_LOCATION_ID` (the workflow route's fallback).
/// The only place the fuzz crate constructs `Ingress`.
pub fn stack(default_location: bool) -> Stack {
    let queue = Arc::new(MemoryQueue::default());
    let events = Arc::new(CountingEventLog::default());
    let ingress = Ingress::new(
        IngressParts {
            max_body_bytes: 131_072,
            // Every seed is for this location and the sandbox's Page or Instagram account.
            allow: AllowList::new(
                [LOCATION_ID.to_string()],
                None,
                [META_PAGE_ID.to_string(), META_IG_ACCOUNT_ID.to_string()],
            ),
            time_limits: INGRESS_TIME_LIMITS,
            queue: queue.clone(),
            ledger: Arc::new(MemoryLedger::default()),
            events: events.clone(),
        },
        vec![
            Arc::new(GhlRoutes {
                verifier: GhlVerifier::from_pem(GHL_ED25519_PUBLIC_PEM, GHL_RSA_PUBLIC_PEM)
                    .expect("the sandbox's committed test keys parse"),
                timestamp_tolerance: TIMESTAMP_TOLERANCE,
                workflow_secret: Some(Secret::new(WORKFLOW_SECRET)),
                default_location_id: default_location.then(|| LOCATION_ID.to_string()),
            }),
            Arc::new(MetaRoutes {
                meta: Some(MetaIngress {
                    verifier: MetaVerifier::new(&Secret::new(META_APP_SECRET)),
                    verify_token: Some(Secret::new(META_VERIFY_TOKEN)),
                }),
            }),
            Arc::new(CallToolsRoutes {
                token: Some(Secret::new(CALLTOOLS_HOOK_TOKEN)),
                placed: placed(),
            }),
        ],
    );
    Stack {
        ingress,
        queue,
        events,
    }
}

/// A store where GHL contact `FUZZ_GHL_CONTACT` was placed as CallTools contact
/// `PLACED_CALLTOOLS_CONTACT`.
fn placed() -> Arc<MemoryStateStore> {
    let store = MemoryStateStore::new(Arc::new(ManualClock::new(Millis(0))));
    let state = ContactState::default().with_sink(
        SinkId::CallTools,
        SinkState {
            id: Some(PLACED_CALLTOOLS_CONTACT),
            ..SinkState::default()
        },
    );
    store.put_state(&ContactKey::ghl(LOCATION_ID, FUZZ_GHL_CONTACT), state);
    Arc::new(store)
}

// One runtime per fuzzing process: building one per input would dominate the run.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
});

impl Stack {
    /// POSTs `body` as JSON with the given headers.
    pub fn post(&self, path: &str, headers: &[(&'static str, String)], body: &[u8]) -> Answer {
        self.post_query(path, "", headers, body)
    }

    /// POSTs `body` as JSON to `path?query`.
    pub fn post_query(
        &self,
        path: &str,
        query: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Answer {
        let mut map = HeaderMap::new();
        map.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).expect("harness header values are ASCII");
            map.insert(HeaderName::from_static(name), value);
        }
        RUNTIME.block_on(self.ingress.handle("POST", path, query, &map, body))
    }

    pub fn get(&self, path: &str, query: &str) -> Answer {
        RUNTIME.block_on(
            self.ingress
                .handle("GET", path, query, &HeaderMap::new(), b""),
        )
    }
}

static GHL_KEY: LazyLock<Ed25519KeyPair> = LazyLock::new(|| {
    let der = decode_pem(GHL_ED25519_PRIVATE_PEM).expect("the committed Ed25519 PEM decodes");
    Ed25519KeyPair::from_pkcs8(&der).expect("the committed Ed25519 key is PKCS#8")
});
static META_SIGNER: LazyLock<MetaVerifier> =
    LazyLock::new(|| MetaVerifier::new(&Secret::new(META_APP_SECRET)));
static META_FORGER: LazyLock<MetaVerifier> =
    LazyLock::new(|| MetaVerifier::new(&Secret::new("not-the-app-secret")));

/// `x-ghl-signature` for `body`, as GoHighLevel (here: the sandbox's key) signs it.
pub fn sign_ghl(body: &[u8]) -> String {
    STANDARD.encode(GHL_KEY.sign(body).as_ref())
}

/// `X-Hub-Signature-256` for `body` with the configured app secret.
pub fn sign_meta(body: &[u8]) -> String {
    META_SIGNER.sign(body)
}

/// A well-formed `X-Hub-Signature-256` made with another app's secret.
pub fn forge_meta(body: &[u8]) -> String {
    META_FORGER.sign(body)
}

/// Bytes that differ from `body`: a real signature over them is a forgery for `body`.
pub fn other_bytes(body: &[u8]) -> Vec<u8> {
    let mut other = body.to_vec();
    other.push(b' ');
    other
}

/// Asserts an answer refused the request as unauthenticated and left nothing behind.
pub fn assert_refused(stack: &Stack, answer: &Answer, attempt: &str) {
    assert_eq!(
        answer.status, 401,
        "{attempt} was not refused: {}",
        answer.body
    );
    assert!(
        stack.queue.is_empty(),
        "{attempt} enqueued a job: {}",
        answer.body
    );
    assert_eq!(stack.events.received(), 0, "{attempt} wrote the event log");
}

/// Asserts the queue holds exactly the jobs the answer claims, and one event-log entry each.
pub fn assert_queue_matches(stack: &Stack, answer: &Answer, expected_jobs: usize) {
    assert_eq!(
        stack.queue.len(),
        expected_jobs,
        "the queue does not hold the {expected_jobs} job(s) answered for: {}",
        answer.body
    );
    assert_eq!(
        stack.events.received(),
        expected_jobs,
        "one event-log entry per enqueued job"
    );
}
