//! The HTTP API in front of the ingress handler, as API Gateway would call it: only the
//! template's routes, bodies up to 10 MB, each request turned into an API Gateway v2 event
//! (text, or base64 for bytes that are not UTF-8) and handed to the same handler the Lambda runs.

use std::sync::Arc;

use super::metrics::LocalMetrics;
use anyhow::Result;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use base64::Engine;
use leadsync::ingress::Ingress;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// API Gateway HTTP APIs refuse larger payloads themselves.
const API_GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

struct Gateway {
    ingress: Arc<Ingress>,
    routes: Vec<(String, String)>,
    metrics: Arc<LocalMetrics>,
}

pub struct HttpApi {
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for HttpApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the API on an already bound listener (bound early, so its URL can be given to the
/// sandbox before the ingress handler exists).
pub fn serve(
    listener: TcpListener,
    ingress: Arc<Ingress>,
    routes: Vec<(String, String)>,
    metrics: Arc<LocalMetrics>,
) -> Result<HttpApi> {
    let url = format!("http://{}", listener.local_addr()?);
    let gateway = Arc::new(Gateway {
        ingress,
        routes,
        metrics,
    });
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let gateway = gateway.clone();
        async move { gateway.call(req).await }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(HttpApi { url, task })
}

impl Gateway {
    async fn call(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_string();
        let path = parts.uri.path().to_string();
        let route = self
            .routes
            .iter()
            .find(|(m, p)| (m == &method || m == "ANY") && p == &path)
            .map(|(m, p)| format!("{m} {p}"));
        let Some(route_key) = route else {
            return gateway_error(StatusCode::NOT_FOUND, "Not Found");
        };
        let Ok(body) = to_bytes(body, API_GATEWAY_MAX_BODY).await else {
            return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        };
        let event = api_gateway_event(
            &method,
            &path,
            parts.uri.query().unwrap_or(""),
            &route_key,
            &parts.headers,
            &body,
        );
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(r) => r,
            Err(e) => {
                return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("event: {e}"));
            }
        };
        let resp = self
            .metrics
            .ingress
            .invoke(leadsync::ingress::http::handle_request(
                &self.ingress,
                request,
            ))
            .await;
        let (parts, body) = resp.into_parts();
        let mut out = Response::builder().status(parts.status);
        for (k, v) in &parts.headers {
            out = out.header(k, v);
        }
        let bytes = leadsync::ingress::http::body_bytes(&body).to_vec();
        out.body(Body::from(bytes))
            .unwrap_or_else(|_| gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "response"))
    }
}

fn gateway_error(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .expect("valid response")
}

/// An API Gateway HTTP API (payload 2.0) event for one request.
pub fn api_gateway_event(
    method: &str,
    path: &str,
    query: &str,
    route_key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let mut h = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let key = name.as_str().to_ascii_lowercase();
        let joined = match h.get(&key).and_then(Value::as_str) {
            Some(prev) => format!("{prev},{value}"),
            None => value,
        };
        h.insert(key, Value::String(joined));
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = leadsync::domain::clock::now_ms();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": super::template::ACCOUNT_ID,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": h.get("user-agent").cloned().unwrap_or(Value::String(String::new()))},
            "requestId": format!("local-{now}-{}", rand::random::<u32>()),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now
        },
        "body": body,
        "isBase64Encoded": is_base64
    })
}
