//! Fuzzes what an attacker controls on the GHL routes: the body and the signature headers.
//! Nothing may panic; nothing unsigned may be enqueued.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use leadsync::config::{GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY};
use leadsync::ghl::verify::GhlVerifier;
use leadsync::ghl::webhook::{parse_marketplace, parse_workflow};
use leadsync::ingress::{GHL_MARKETPLACE_PATH, GHL_WORKFLOW_PATH, Ingress, IngressSettings};
use leadsync::memory::{MemoryLedger, MemoryQueue};
use leadsync::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_marketplace(data);
    let _ = parse_workflow(data);

    // The first byte picks the route, the next up to 100 bytes are the signature header value.
    let (route, rest) = data.split_first().unwrap_or((&0, &[]));
    let split = rest.len().min(100);
    let (signature, body) = rest.split_at(split);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(signature) {
        let name = if route & 1 == 0 { "x-ghl-signature" } else { "x-wh-signature" };
        headers.insert(name, v.clone());
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let queue = Arc::new(MemoryQueue::default());
    let ingress = Ingress::new(
        IngressSettings {
            max_body_bytes: 131_072,
            timestamp_tolerance: Duration::from_secs(300),
            workflow_secret: Some(Secret::new("fuzz-secret-that-random-bytes-will-not-hit")),
            default_location_id: Some("L".into()),
        },
        GhlVerifier::from_pem(GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY).expect("GHL keys parse"),
        queue.clone(),
        Arc::new(MemoryLedger::default()),
    );
    let path = if route & 2 == 0 { GHL_MARKETPLACE_PATH } else { GHL_WORKFLOW_PATH };
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let answer = rt.block_on(ingress.handle("POST", path, &headers, body));
    // Random bytes cannot carry a valid GHL signature or the workflow secret.
    assert!(queue.is_empty(), "enqueued without a valid signature: {answer:?}");
});
