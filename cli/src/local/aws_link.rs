//! The link between ingress and moto, which a test can cut. Every AWS call of ingress goes
//! through it, so AWS can become unreachable for ingress at an exact point of a request — a
//! network partition that starts at the enqueue, after the webhook id was recorded — while the
//! consumer and the test still reach moto directly.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode};
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

pub struct AwsLink {
    pub url: String,
    cut: Arc<Mutex<Cut>>,
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
        let forward = Forward {
            moto: moto_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            cut: cut.clone(),
        };
        let forward = Arc::new(forward);
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let forward = forward.clone();
            async move { forward.call(req).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, cut, task })
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
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers.clone();
        headers.remove(axum::http::header::HOST);
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
                answer(status, headers, body)
            }
            Err(_) => answer(StatusCode::BAD_GATEWAY, HeaderMap::new(), Vec::new()),
        }
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

fn answer(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
