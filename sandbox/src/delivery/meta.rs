//! Sends webhooks the way Meta does (research §4): signed over the exact escaped bytes, a 5 s
//! timeout, and on a non-2xx, a timeout or a refused connection "immediately a few more times"
//! (played as 2 retries `meta_retry_interval` apart) with the very same bytes. Every attempt is
//! logged for `GET /_sandbox/meta/deliveries`. Nothing goes out without a `meta_webhook_url`, or
//! while Meta has unsubscribed the app.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::delivery::{self, Answer, Retries, RetryOn, Wire, post};
use crate::meta::users::Channel;
use crate::meta::webhook::{Item, envelope};
use crate::meta_sign::{meta_escaped_json, sign_meta, sign_meta_sha1};
use crate::state::AppState;
use crate::support::{lock, now_ms};

/// Meta wants a 200 "within 5 or less seconds".
pub(crate) const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries after a failed first attempt.
pub(crate) const RETRIES: u32 = 2;

/// One webhook, its bytes fixed once and re-sent unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub url: String,
    pub object: String,
    pub items: usize,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Outbound {
    /// Escapes and signs `payload` for `url`.
    pub fn new(app_secret: &str, url: &str, payload: &Value, items: usize) -> Self {
        let body = meta_escaped_json(payload).into_bytes();
        let headers = vec![
            ("content-type", "application/json".to_owned()),
            ("x-hub-signature-256", sign_meta(app_secret, &body)),
            ("x-hub-signature", sign_meta_sha1(app_secret, &body)),
        ];
        Self {
            url: url.to_owned(),
            object: payload["object"].as_str().unwrap_or_default().to_owned(),
            items,
            body,
            headers,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    pub seq: u64,
    pub at_ms: i64,
    pub url: String,
    pub object: String,
    /// 1 for the first try, up to 3.
    pub attempt: u32,
    /// `null` when no HTTP answer came (timeout, connection refused).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub items: usize,
    /// The second POST of the same bytes (at-least-once delivery), not a retry.
    pub duplicate: bool,
    pub body: String,
}

#[derive(Default, Clone)]
pub(crate) struct DeliveryLog(Arc<Mutex<(u64, Vec<Delivery>)>>);

impl DeliveryLog {
    fn push(&self, out: &Outbound, attempt: u32, duplicate: bool, answer: &Answer) {
        let mut log = lock(&self.0);
        log.0 += 1;
        let seq = log.0;
        log.1.push(Delivery {
            seq,
            at_ms: now_ms(),
            url: out.url.clone(),
            object: out.object.clone(),
            attempt,
            status: answer.status,
            error: answer.error.clone(),
            items: out.items,
            duplicate,
            body: String::from_utf8_lossy(&out.body).into_owned(),
        });
    }

    pub fn all(&self) -> Vec<Delivery> {
        lock(&self.0).1.clone()
    }

    pub fn clear(&self) {
        lock(&self.0).1.clear();
    }
}

/// How the first POST went, as an admin call answers it: `{"status": .., "error"?: ..}`.
fn first_json(answer: &Answer) -> Value {
    let mut v = json!({ "status": answer.status });
    if let Some(e) = &answer.error {
        v["error"] = json!(e);
    }
    v
}

/// How the webhook of an admin call goes out.
pub(crate) struct Fire {
    pub webhook: bool,
    pub wait: bool,
    pub duplicate: bool,
}

/// Sends `entries` as one signed POST, or says why none was sent (`skipped`).
pub(crate) async fn fire(
    st: &AppState,
    channel: Channel,
    entries: &[Vec<Item>],
    how: Fire,
) -> Value {
    if !how.webhook {
        return json!({ "status": null, "skipped": "webhook: false" });
    }
    let Some(url) = &st.cfg.meta_webhook_url else {
        return json!({ "status": null, "skipped": "no meta_webhook_url" });
    };
    let payload = {
        let world = lock(&st.meta.world);
        if world.subscribed_fields.is_empty() {
            return json!({ "status": null, "skipped": "unsubscribed" });
        }
        envelope(channel, world.account_id(channel), entries, now_ms())
    };
    let items = entries.iter().map(Vec::len).sum();
    let out = Outbound::new(&st.cfg.meta_app_secret, url, &payload, items);
    send(st, out, how.duplicate, how.wait).await
}

/// Delivers in the background; when `wait`, answers how the first POST (and its duplicate)
/// went as `{"status": .., "error"?: ..}`, otherwise `{"status": null, "pending": true}`.
/// Retries always continue in the background, stopped by a reset or shutdown.
pub(crate) async fn send(st: &AppState, out: Outbound, duplicate: bool, wait: bool) -> Value {
    let (first_tx, first_rx) = oneshot::channel();
    let task_state = st.clone();
    let generation = st.generation();
    tokio::spawn(async move { deliver(&task_state, out, duplicate, generation, first_tx).await });
    if !wait {
        return json!({ "status": null, "pending": true });
    }
    match first_rx.await {
        Ok(answer) => first_json(&answer),
        Err(_) => json!({ "status": null, "error": "stopped" }),
    }
}

async fn deliver(
    st: &AppState,
    out: Outbound,
    duplicate: bool,
    generation: u64,
    first: oneshot::Sender<Answer>,
) {
    let retries = Retries {
        on: RetryOn::AnyFailure,
        max_attempts: RETRIES + 1,
        interval: st.cfg.meta_retry_interval,
        jitter: false,
    };
    let wire = Wire {
        url: &out.url,
        body: &out.body,
        headers: &out.headers,
    };
    let attempt = |number: u32, duplicate: bool| {
        let (wire, out) = (&wire, &out);
        async move {
            let answer = post(&st.meta.http, wire, &st.shutdown).await?;
            st.meta.deliveries.push(out, number, duplicate, &answer);
            Some(answer)
        }
    };
    // The receiver may have gone (an async admin call): nobody to tell.
    let tell = |answer: &Answer| {
        let _ = first.send(answer.clone());
    };
    delivery::deliver(st, generation, retries, duplicate, attempt, tell).await;
}
