//! Sends webhooks the way GoHighLevel does (§2.4): asynchronously after the write, with a 10 s
//! timeout, retrying a Marketplace webhook only when the receiver answers 429 (up to 6 retries,
//! `ghl_retry_interval` apart plus jitter, identical bytes). Any other status, a timeout or a
//! connection error is final: the event is lost, exactly the hazard leadsync must live with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::delivery::{self, InFlight, Retries, RetryOn, Wire, post};
use crate::faults::delivery::Fate;
use crate::ghl::store::Event;
use crate::ghl::webhooks::{Outbound, outbound};
use crate::state::AppState;
use crate::support::{iso_ms, lock, now_ms, sleep_or_shutdown};

pub(crate) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The first attempt plus six retries.
pub(crate) const MAX_ATTEMPTS: u32 = 7;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Delivery {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    pub webhook_id: Option<String>,
    pub contact_id: String,
    pub url: String,
    /// 1 for the first try, up to 7.
    pub attempt: u32,
    /// `null` when no HTTP answer came (timeout, connection refused) or it was dropped.
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The receiver's answer (its first 300 bytes), as GHL's webhook logs show it.
    pub answer: Option<String>,
    /// A second delivery of the same bytes (at-least-once), not a retry.
    pub duplicate: bool,
    /// How long it was held back so later webhooks overtook it.
    pub held_ms: u64,
    /// The exact body sent, for tests that compare retries byte for byte.
    pub body: String,
}

#[derive(Default, Clone)]
pub(crate) struct DeliveryLog {
    log: Arc<Mutex<(u64, Vec<Delivery>)>>,
    /// Webhooks dispatched whose delivery has not ended: held back, on the wire, or waiting to
    /// retry a 429. A test waits for 0 before it counts what the receiver was sent.
    in_flight: Arc<AtomicUsize>,
    /// At most this many attempts on the wire at once (`ghl_delivery_concurrency`).
    wire: Option<Arc<tokio::sync::Semaphore>>,
}

/// How one attempt went, as logged.
#[derive(Default)]
struct Attempt {
    number: u32,
    status: Option<u16>,
    error: Option<String>,
    answer: Option<String>,
    duplicate: bool,
    held_ms: u64,
}

impl DeliveryLog {
    pub fn bounded(concurrency: Option<usize>) -> Self {
        Self {
            wire: concurrency.map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1)))),
            ..Self::default()
        }
    }

    fn push(&self, out: &Outbound, a: Attempt) {
        let mut log = lock(&self.log);
        log.0 += 1;
        let seq = log.0;
        log.1.push(Delivery {
            seq,
            at: iso_ms(now_ms()),
            kind: out.kind.clone(),
            webhook_id: out.webhook_id.clone(),
            contact_id: out.contact_id.clone(),
            url: out.url.clone(),
            attempt: a.number,
            status: a.status,
            error: a.error,
            answer: a.answer,
            duplicate: a.duplicate,
            held_ms: a.held_ms,
            body: String::from_utf8_lossy(&out.body).into_owned(),
        });
    }

    pub fn all(&self) -> Vec<Delivery> {
        lock(&self.log).1.clone()
    }

    pub fn clear(&self) {
        lock(&self.log).1.clear();
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Starts delivering the events' webhooks in the background and returns at once: GoHighLevel
/// answers the write before its webhooks go out.
pub(crate) fn dispatch(st: &AppState, events: Vec<Event>) {
    let generation = st.generation();
    let account = lock(&st.ghl).account.clone();
    for out in outbound(&st.cfg, &account, events) {
        let fate = lock(&st.chaos).next();
        let st = st.clone();
        let in_flight = InFlight::start(&st.deliveries.in_flight);
        tokio::spawn(async move {
            deliver(&st, &out, generation, fate).await;
            drop(in_flight);
        });
    }
}

async fn deliver(st: &AppState, out: &Outbound, generation: u64, fate: Fate) {
    let held_ms = u64::try_from(fate.hold.as_millis()).unwrap_or(u64::MAX);
    if fate.dropped {
        st.deliveries.push(
            out,
            Attempt {
                error: Some("dropped".to_owned()),
                ..Attempt::default()
            },
        );
        return;
    }
    if !fate.hold.is_zero() && !sleep_or_shutdown(fate.hold, &st.shutdown).await {
        return;
    }
    let retries = Retries {
        on: RetryOn::TooManyRequests,
        // Workflow webhooks are never retried.
        max_attempts: if out.retry_on_429 { MAX_ATTEMPTS } else { 1 },
        interval: st.cfg.ghl_retry_interval,
        jitter: true,
    };
    let wire = Wire {
        url: &out.url,
        body: &out.body,
        headers: &out.headers,
    };
    let attempt = |number: u32, duplicate: bool| {
        let wire = &wire;
        async move {
            let permit = match &st.deliveries.wire {
                Some(gate) => Some(gate.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let answer = post(&st.http, wire, &st.shutdown).await?;
            drop(permit);
            st.deliveries.push(
                out,
                Attempt {
                    number,
                    status: answer.status,
                    error: answer.error.clone(),
                    answer: answer.excerpt.clone(),
                    duplicate,
                    held_ms,
                },
            );
            Some(answer)
        }
    };
    delivery::deliver(st, generation, retries, fate.duplicate, attempt, |_| {}).await;
}
