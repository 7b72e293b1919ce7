//! What stands in front of the CallTools API: the call log, the injected faults (which strike
//! before Django sees the request, like the real web tier's), and Token authentication.

use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::calltools::drf;
use crate::faults::calltools::Plan;
use crate::state::AppState;
use crate::support::{lock, sleep_or_shutdown};

/// Far above any contact body; beyond it the web tier answers 413.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Outermost layer of `/api`: logs every request (404s and faulted ones included), then applies
/// the fault plan.
pub(crate) async fn gate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        let mut guard =
            st.calltools_calls
                .begin(parts.method.as_str(), uri.path(), uri.query(), &[]);
        guard.answered(413);
        return drf::failure(413, None);
    };
    let mut guard =
        st.calltools_calls
            .begin(parts.method.as_str(), uri.path(), uri.query(), &bytes);

    let (latency, plan) = {
        let mut faults = lock(&st.faults);
        (faults.latency(), faults.plan(Instant::now()))
    };
    if !latency.is_zero() && !sleep_or_shutdown(latency, &st.shutdown).await {
        return drf::failure(503, None);
    }

    match plan {
        Plan::Fail {
            status,
            retry_after_secs,
            delay,
            label,
        } => {
            guard.fault(label);
            if !delay.is_zero() && !sleep_or_shutdown(delay, &st.shutdown).await {
                return drf::failure(503, None);
            }
            guard.answered(status);
            drf::failure(status, retry_after_secs)
        }
        Plan::HoldResponse { delay, label } => {
            guard.fault(label);
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            guard.answered(response.status().as_u16());
            // The write has happened; a client that gives up now cannot know it.
            sleep_or_shutdown(delay, &st.shutdown).await;
            response
        }
        Plan::Pass => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            guard.answered(response.status().as_u16());
            response
        }
    }
}

/// DRF `TokenAuthentication`: only `Authorization: Token <key>` authenticates. Any other scheme
/// (Bearer included, §5.2) counts as no credentials at all.
pub(crate) async fn token_auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let words: Vec<&str> = header.as_deref().unwrap_or("").split_whitespace().collect();
    let accepted = lock(&st.calltools_api_key).clone();
    let refusal = match words.as_slice() {
        [scheme, ..] if !scheme.eq_ignore_ascii_case("token") => {
            Some("Authentication credentials were not provided.")
        }
        [] => Some("Authentication credentials were not provided."),
        [_] => Some("Invalid token header. No credentials provided."),
        [_, key] if *key == accepted => None,
        [_, _] => Some("Invalid token."),
        _ => Some("Invalid token header. Token string should not contain spaces."),
    };
    match refusal {
        None => next.run(req).await,
        Some(msg) => {
            let mut r = drf::detail(StatusCode::UNAUTHORIZED, msg);
            r.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Token"),
            );
            r
        }
    }
}
