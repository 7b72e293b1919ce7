//! Response shapes of CallTools' Django REST Framework stack, and the HTML pages its web tier
//! serves instead of JSON when things go wrong (§5.7: "Read the body as text first").

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::calltools::fields::FieldErrors;

pub(crate) fn ok(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub(crate) fn detail(status: StatusCode, msg: &str) -> Response {
    ok(status, json!({ "detail": msg }))
}

pub(crate) fn field_errors(errors: FieldErrors) -> Response {
    ok(StatusCode::BAD_REQUEST, json!(errors))
}

/// DRF's throttling answer.
pub(crate) fn throttled(retry_after_secs: u64) -> Response {
    let mut r = detail(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {retry_after_secs} seconds."),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Django's production 404 page: what a path without its trailing slash, or any unknown path,
/// gets. HTML, not JSON.
pub(crate) fn html_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  \
             <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n",
        ),
    )
        .into_response()
}

/// A failure answered by the web tier in front of the API: an HTML page for 5xx, DRF JSON
/// otherwise.
pub(crate) fn failure(status: u16, retry_after_secs: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if code == StatusCode::TOO_MANY_REQUESTS {
        return throttled(retry_after_secs.unwrap_or(1));
    }
    if code.is_server_error() {
        let title = format!(
            "{} {}",
            code.as_u16(),
            code.canonical_reason().unwrap_or("Error")
        );
        let page = format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        return (code, Html(page)).into_response();
    }
    let mut r = detail(code, code.canonical_reason().unwrap_or("Error"));
    if let Some(secs) = retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
