//! The Lambda Invoke API for the local stack's backfill, as `sam local start-lambda` offers it:
//! `POST /2015-03-31/functions/{name}/invocations`, so `leadsync backfill run` sends the same
//! SDK call locally as on AWS, only to another endpoint. The invocation runs the same handler the
//! Lambda runs, with the template's timeout as its deadline.
//!
//! Answers as Lambda does: 200 and the handler's JSON; a handler error is still 200, with
//! `X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}`; `InvocationType: Event`
//! gets 202 and runs in the background; an unknown function is 404 `ResourceNotFoundException`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::post;
use leadsync::backfill::{Backfill, Request};
use leadsync::domain::clock::now_ms;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::metrics::LocalMetrics;

/// The backfill as the local stack runs it: the handler, its name and its timeout.
pub struct LocalBackfill {
    pub name: String,
    pub handler: Arc<Backfill>,
    pub timeout: Duration,
    pub metrics: Arc<LocalMetrics>,
}

pub struct LambdaApi {
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for LambdaApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(backfill: LocalBackfill) -> Result<LambdaApi> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(Arc::new(backfill));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(LambdaApi { url, task })
}

async fn invoke(
    State(backfill): State<Arc<LocalBackfill>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    // The SDK sends the name percent-encoded when it is an ARN; the last `:` part is the name.
    let wanted = name.rsplit([':', '/']).next().unwrap_or(&name);
    if wanted != backfill.name {
        return answer(
            StatusCode::NOT_FOUND,
            None,
            json!({"Type": "User", "message": format!("Function not found: {name}")}),
            Some("ResourceNotFoundException"),
        );
    }
    let event: serde_json::Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    None,
                    json!({"Type": "User", "message": format!("Could not parse request body into json: {e}")}),
                    Some("InvalidRequestContentException"),
                );
            }
        }
    };
    let asynchronous = headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v.as_bytes() == b"Event");
    if asynchronous {
        tokio::spawn(async move {
            let _ = run(&backfill, event).await;
        });
        return answer(StatusCode::ACCEPTED, None, json!({}), None);
    }
    match run(&backfill, event).await {
        Ok(v) => answer(StatusCode::OK, None, v, None),
        Err((error_type, message)) => answer(
            StatusCode::OK,
            Some("Unhandled"),
            json!({"errorType": error_type, "errorMessage": message}),
            None,
        ),
    }
}

async fn run(
    backfill: &LocalBackfill,
    event: serde_json::Value,
) -> Result<serde_json::Value, (&'static str, String)> {
    let request = Request::from_event(event).map_err(|e| ("BadRequest", e))?;
    let deadline_ms = now_ms() + backfill.timeout.as_millis() as i64;
    let ending = backfill
        .metrics
        .backfill
        .invoke(backfill.handler.handle(&request, deadline_ms))
        .await
        .map_err(|e| ("BackfillError", e.to_string()))?;
    serde_json::to_value(ending).map_err(|e| ("Serialization", e.to_string()))
}

fn answer(
    status: StatusCode,
    function_error: Option<&str>,
    body: serde_json::Value,
    error_type: Option<&str>,
) -> Response<Body> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amz-executed-version", "$LATEST");
    if let Some(e) = function_error {
        r = r.header("x-amz-function-error", e);
    }
    if let Some(t) = error_type {
        r = r.header("x-amzn-errortype", t);
    }
    r.body(Body::from(body.to_string()))
        .expect("a static status and headers make a valid response")
}
