//! The GoHighLevel API surface leadsync uses: `GET /contacts/{id}` (§3, §3.1),
//! `POST /contacts/search` (§3.3) and the writes in [`crate::ghl::api_writes`] (tags, notes,
//! `PUT /contacts/{id}`), with the same auth, `Version` header, error bodies and rate limit as
//! `https://services.leadconnectorhq.com`.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::ghl::api_writes;
use crate::ghl::search::search;
use crate::state::AppState;
use crate::support::{lock, now_ms, uuid_v4};

/// The only `Version` the v2 contacts endpoints accept (`enum: ["2021-07-28"]`).
pub(crate) const API_VERSION: &str = "2021-07-28";

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/contacts/search", post(search_contacts))
        .route("/oauth/token", post(crate::ghl::oauth::token))
        .route(
            "/contacts/{id}",
            get(get_contact).put(api_writes::update_contact),
        )
        .route(
            "/contacts/{id}/tags",
            post(api_writes::add_tags).delete(api_writes::remove_tags),
        )
        .route(
            "/contacts/{id}/notes",
            get(api_writes::list_notes).post(api_writes::create_note),
        )
        .method_not_allowed_fallback(not_found)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state, log_call))
}

/// GoHighLevel's NestJS-shaped error body; every answer carries a `traceId`.
pub(crate) fn error(status: StatusCode, message: Value, error: Option<&str>) -> Response {
    let mut body =
        json!({ "statusCode": status.as_u16(), "message": message, "traceId": uuid_v4() });
    if let Some(e) = error {
        body["error"] = json!(e);
    }
    (status, Json(body)).into_response()
}

async fn get_contact(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    guarded(&st, &headers, || contact_or_gone(&st, &id))
}

async fn search_contacts(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    guarded(&st, &headers, || {
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            return error(
                StatusCode::BAD_REQUEST,
                json!("Unexpected token in JSON"),
                Some("Bad Request"),
            );
        };
        let style = *lock(&st.search_cursor);
        let ghl = lock(&st.ghl);
        match search(&ghl.all(), &st.cfg.location_id, &body, style, &ghl.account) {
            Ok(mut answer) => {
                answer["traceId"] = json!(uuid_v4());
                Json(answer).into_response()
            }
            Err((status, msg)) => error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                json!([msg]),
                Some("Unprocessable Entity"),
            ),
        }
    })
}

/// What every API call goes through: the token, the burst limit (with its headers on every
/// answer), the `Version` header.
pub(crate) fn guarded(
    st: &AppState,
    headers: &HeaderMap,
    handle: impl FnOnce() -> Response,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let known =
        bearer.is_some_and(|b| b == st.cfg.ghl_api_token || lock(&st.oauth).accepts(b, now_ms()));
    if !known {
        return error(
            StatusCode::UNAUTHORIZED,
            json!("Invalid token: access token is invalid"),
            Some("Unauthorized"),
        );
    }

    let burst_max = lock(&st.ghl)
        .account
        .burst_limit
        .map_or(super::rate_limit::BURST_MAX, std::num::NonZeroUsize::get);
    let verdict = lock(&st.ghl_limiter).check(Instant::now(), now_ms(), burst_max);
    let mut response = if !verdict.allowed {
        // The 429 body is undocumented (§3.5); clients must rely on the status and headers.
        error(
            StatusCode::TOO_MANY_REQUESTS,
            json!("Too Many Requests"),
            None,
        )
    } else {
        match headers.get("version").and_then(|v| v.to_str().ok()) {
            Some(API_VERSION) => handle(),
            Some(_) => error(
                StatusCode::BAD_REQUEST,
                json!("Version header is invalid"),
                Some("Bad Request"),
            ),
            None => error(
                StatusCode::BAD_REQUEST,
                json!("Version header was not found"),
                Some("Bad Request"),
            ),
        }
    };
    verdict.write_headers(response.headers_mut());
    response
}

/// An unknown or deleted id answers the account's `deleted_answer` (400 "Contact not found" by
/// default, as seen; or 404); a contact given a `read_answers` entry gets that answer instead,
/// deleted or not (an invalid-Version 400, a generic 422: refusals that say nothing about it).
fn contact_or_gone(st: &AppState, id: &str) -> Response {
    let ghl = lock(&st.ghl);
    let refusal = match (ghl.account.read_answers.get(id), ghl.get(id)) {
        (Some(answer), _) => *answer,
        (None, None) => ghl.account.deleted_answer,
        (None, Some(contact)) => {
            let mut v = contact.api_json();
            ghl.account.shape(&mut v);
            return Json(json!({ "contact": v, "traceId": uuid_v4() })).into_response();
        }
    };
    let (status, message, kind) = refusal.answer();
    error(status, message, Some(kind))
}

async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        json!(format!("Cannot {method} {}", uri.path())),
        Some("Not Found"),
    )
}

async fn log_call(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let mut guard = st
        .ghl_calls
        .begin(req.method().as_str(), uri.path(), uri.query(), &[]);
    let response = next.run(req).await;
    guard.answered(response.status().as_u16());
    response
}
