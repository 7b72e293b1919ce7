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

use crate::meta::users::Channel;
use crate::meta::webhook::{Item, envelope};
use crate::meta_sign::{meta_escaped_json, sign_meta, sign_meta_sha1};
use crate::state::AppState;
use crate::support::{lock, now_ms, sleep_or_shutdown};

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

/// How one attempt went.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: Option<u16>,
    error: Option<String>,
}

impl Answer {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn json(&self) -> Value {
        let mut v = json!({ "status": self.status });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }
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
        Ok(answer) => answer.json(),
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
    let Some(answer) = attempt(st, &out, 1, false).await else {
        return;
    };
    if duplicate {
        attempt(st, &out, 1, true).await;
    }
    let mut done = answer.succeeded();
    // The receiver may have gone (an async admin call): nobody to tell.
    let _ = first.send(answer);
    for number in 2..=RETRIES + 1 {
        if done
            || !sleep_or_shutdown(st.cfg.meta_retry_interval, &st.shutdown).await
            || st.generation() != generation
        {
            return;
        }
        match attempt(st, &out, number, false).await {
            Some(answer) => done = answer.succeeded(),
            None => return,
        }
    }
}

/// POSTs once and logs it; `None` only when the sandbox is shutting down.
async fn attempt(st: &AppState, out: &Outbound, number: u32, duplicate: bool) -> Option<Answer> {
    let mut request = st.meta.http.post(&out.url).body(out.body.clone());
    for (name, value) in &out.headers {
        request = request.header(*name, value);
    }
    let mut shutdown = st.shutdown.clone();
    let result = tokio::select! {
        r = request.send() => r,
        _ = shutdown.wait_for(|stop| *stop) => return None,
    };
    let answer = match result {
        Ok(response) => Answer {
            status: Some(response.status().as_u16()),
            error: None,
        },
        Err(e) => Answer {
            status: None,
            error: Some(
                if e.is_timeout() {
                    "timeout"
                } else {
                    "connection error"
                }
                .to_owned(),
            ),
        },
    };
    st.meta.deliveries.push(out, number, duplicate, &answer);
    Some(answer)
}
