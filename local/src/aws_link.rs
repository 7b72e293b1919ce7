//! The link between ingress and moto, which a test can cut. Every AWS call of ingress goes
//! through it, so AWS can become unreachable for ingress at an exact point of a request — a
//! network partition that starts at the enqueue, after the webhook id was recorded — while the
//! consumer and the test still reach moto directly.
//!
//! A test can also make the link refuse chosen messages to one queue the way SQS refuses a
//! message (`InvalidMessageContents`: an error for `SendMessage`, a failed entry with
//! `SenderFault` for `SendMessageBatch`), for whatever reason SQS might still have once every
//! character is inside its set: that is how the parking of a refused job is exercised.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// No AWS request body of ingress comes near this (SQS caps a message at 256 KiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Cut {
    /// The operation whose first call cuts the link.
    at: Option<String>,
    cut: bool,
}

const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";
const REFUSED: &str = "refused by the local stack's link, as SQS refuses a message";

/// Messages to `queue_url` whose body contains `marker` are refused.
#[derive(Clone)]
struct Refusal {
    queue_url: String,
    marker: String,
}

pub struct AwsLink {
    pub url: String,
    cut: Arc<Mutex<Cut>>,
    refusal: Arc<Mutex<Option<Refusal>>>,
    task: JoinHandle<()>,
}

impl Drop for AwsLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AwsLink {
    pub async fn start(moto_url: &str) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let cut = Arc::new(Mutex::new(Cut::default()));
        let refusal = Arc::new(Mutex::new(None));
        let forward = Forward {
            moto: moto_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            cut: cut.clone(),
            refusal: refusal.clone(),
        };
        let forward = Arc::new(forward);
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let forward = forward.clone();
            async move { forward.call(req).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            cut,
            refusal,
            task,
        })
    }

    /// From now on every message to `queue_url` whose body contains `marker` is refused as SQS
    /// refuses one: `SendMessage` answers `InvalidMessageContents`, a `SendMessageBatch` entry
    /// fails alone (a sender fault) while the rest of the batch goes through.
    pub fn refuse_messages_containing(&self, queue_url: &str, marker: &str) {
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(Refusal {
            queue_url: queue_url.to_owned(),
            marker: marker.to_owned(),
        });
    }

    /// From the first call of `operation` (its `X-Amz-Target`, e.g. `AmazonSQS.SendMessage`)
    /// on, that call and every later one is answered 503, as by a service out of reach, until
    /// [`AwsLink::restore`].
    pub fn cut_at(&self, operation: &str) {
        *self.state() = Cut {
            at: Some(operation.to_owned()),
            cut: false,
        };
    }

    pub fn restore(&self) {
        *self.state() = Cut::default();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Cut> {
        self.cut.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Forward {
    moto: String,
    http: reqwest::Client,
    cut: Arc<Mutex<Cut>>,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl Forward {
    async fn call(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        if self.is_cut(&parts.headers) {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                HeaderMap::new(),
                r#"{"__type":"ServiceUnavailable","message":"the link to AWS is cut"}"#.into(),
            );
        }
        let Ok(body) = to_bytes(body, MAX_BODY).await else {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, HeaderMap::new(), Vec::new());
        };
        if self.refuses_message(&parts.headers, &body) {
            let error =
                json!({"__type": "com.amazonaws.sqs#InvalidMessageContents", "message": REFUSED});
            return answer(
                StatusCode::BAD_REQUEST,
                json_headers(),
                error.to_string().into_bytes(),
            );
        }
        let refused = self.refused_entries(&parts.headers, &body);
        let body = match &refused {
            Some((kept, _)) => Bytes::from(kept.to_string()),
            None => body,
        };
        if let Some((kept, failed)) = &refused
            && kept["Entries"].as_array().is_none_or(Vec::is_empty)
        {
            let all_failed = json!({"Successful": [], "Failed": failed});
            return answer(
                StatusCode::OK,
                json_headers(),
                all_failed.to_string().into_bytes(),
            );
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers.clone();
        headers.remove(axum::http::header::HOST);
        headers.remove(axum::http::header::CONTENT_LENGTH);
        let sent = self
            .http
            .request(parts.method, format!("{}{path}", self.moto))
            .headers(headers)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                let mut headers = resp.headers().clone();
                headers.remove(axum::http::header::TRANSFER_ENCODING);
                headers.remove(axum::http::header::CONTENT_LENGTH);
                let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                match refused {
                    Some((_, failed)) if status.is_success() => {
                        answer(status, headers, with_failed(&body, failed))
                    }
                    _ => answer(status, headers, body),
                }
            }
            Err(_) => answer(StatusCode::BAD_GATEWAY, HeaderMap::new(), Vec::new()),
        }
    }

    /// The request, when it is `operation` to the queue whose messages are refused, with the
    /// marker to refuse them by.
    fn refusable(
        &self,
        operation: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<(Value, String)> {
        let refusal = self
            .refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        if headers.get("x-amz-target").map(HeaderValue::as_bytes) != Some(operation.as_bytes()) {
            return None;
        }
        let request: Value = serde_json::from_slice(body).ok()?;
        (request["QueueUrl"] == refusal.queue_url.as_str()).then_some((request, refusal.marker))
    }

    fn refuses_message(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        self.refusable(SEND_MESSAGE, headers, body)
            .is_some_and(|(request, marker)| {
                request["MessageBody"]
                    .as_str()
                    .is_some_and(|b| b.contains(&marker))
            })
    }

    /// For a `SendMessageBatch` with entries to refuse: the request without them, and their
    /// failures as SQS reports them.
    fn refused_entries(&self, headers: &HeaderMap, body: &[u8]) -> Option<(Value, Vec<Value>)> {
        let (mut request, marker) = self.refusable(SEND_MESSAGE_BATCH, headers, body)?;
        let entries = request["Entries"].as_array()?.clone();
        let (refused, kept): (Vec<Value>, Vec<Value>) = entries.into_iter().partition(|e| {
            e["MessageBody"]
                .as_str()
                .is_some_and(|b| b.contains(&marker))
        });
        if refused.is_empty() {
            return None;
        }
        request["Entries"] = Value::Array(kept);
        let failed = refused
            .iter()
            .map(|e| {
                json!({
                    "Id": e["Id"],
                    "SenderFault": true,
                    "Code": "InvalidMessageContents",
                    "Message": REFUSED,
                })
            })
            .collect();
        Some((request, failed))
    }

    fn is_cut(&self, headers: &HeaderMap) -> bool {
        let mut cut = self.cut.lock().unwrap_or_else(|p| p.into_inner());
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if cut.at.as_deref() == Some(operation) {
            cut.cut = true;
        }
        cut.cut
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers
}

/// moto's `SendMessageBatch` answer with the refused entries added to its `Failed`.
fn with_failed(body: &[u8], refused: Vec<Value>) -> Vec<u8> {
    let Ok(mut out) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    match out["Failed"].as_array_mut() {
        Some(failed) => failed.extend(refused),
        None => out["Failed"] = Value::Array(refused),
    }
    out.to_string().into_bytes()
}

fn answer(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
