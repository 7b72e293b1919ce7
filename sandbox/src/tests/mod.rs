//! End-to-end tests of the sandbox over real HTTP on 127.0.0.1:0. Every server a test starts
//! stops when the test's handles drop.

mod calltools;
mod calltools_calls;
mod calltools_hooks;
mod calltools_modes;
mod calltools_writes;
mod faults;
mod ghl;
mod ghl_account;
mod ghl_search;
mod ghl_writes;
mod lifecycle;
mod meta;
mod webhooks;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Sandbox, SandboxConfig, start};

pub(super) const PHONE: &str = "+17864771573";
pub(super) const PHONE_2: &str = "+12125550123";

pub(super) async fn sandbox_with(edit: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut cfg = SandboxConfig::default();
    edit(&mut cfg);
    start(cfg).await.unwrap()
}

pub(super) async fn sandbox() -> Sandbox {
    sandbox_with(|_| {}).await
}

thread_local! {
    // Building a client is slow (TLS setup), so each test thread builds one. No idle
    // connections are kept: a pooled connection would belong to a finished test's runtime
    // when tests share a thread (`--test-threads=1`).
    static CLIENT: reqwest::Client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
}

pub(super) fn http() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

/// A CallTools API request with the right `Token` auth.
pub(super) fn ct(
    sb: &Sandbox,
    method: reqwest::Method,
    path_and_query: &str,
) -> reqwest::RequestBuilder {
    http()
        .request(method, format!("{}{path_and_query}", sb.url))
        .header(
            "authorization",
            format!("Token {}", SandboxConfig::default().calltools_api_key),
        )
}

pub(super) async fn ct_json(
    sb: &Sandbox,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = ct(sb, method, path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(super) async fn admin(
    sb: &Sandbox,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = http().request(method, format!("{}/_sandbox{path}", sb.url));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn new_ghl_contact(sb: &Sandbox, body: Value) -> Value {
    let (status, v) = admin(sb, reqwest::Method::POST, "/ghl/contacts", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v["contact"].clone()
}

pub(super) async fn set_faults(sb: &Sandbox, spec: Value) {
    let (status, v) = admin(sb, reqwest::Method::POST, "/calltools/faults", Some(spec)).await;
    assert_eq!(status, 200, "{v}");
}

pub(super) fn contact_body(phone: &str) -> Value {
    json!({ "first_name": "Ada", "last_name": "Lovelace", "mobile_phone_number": phone, "email": "ada@example.com" })
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    answers: Mutex<VecDeque<u16>>,
}

/// A tiny webhook endpoint standing in for leadsync's ingress: records every request and
/// answers with the scripted statuses, then 200.
pub(super) struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(super) async fn receiver(answers: &[u16]) -> Receiver {
    let state = Arc::new(ReceiverState {
        hits: Mutex::new(Vec::new()),
        answers: Mutex::new(answers.iter().copied().collect()),
    });
    async fn hook(
        State(st): State<Arc<ReceiverState>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        st.hits.lock().unwrap().push(Hit { headers, body });
        let code = st.answers.lock().unwrap().pop_front().unwrap_or(200);
        StatusCode::from_u16(code).unwrap()
    }
    let app = Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver { url, state, server }
}

impl Receiver {
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or panics after 5 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        for _ in 0..500 {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} webhook(s), got {}", self.hits().len());
    }
}
