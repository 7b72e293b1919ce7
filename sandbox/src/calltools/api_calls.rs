//! CallTools' `/api/calls/`, `/api/dispositions/` and `/api/resthooksubscriptions/`: what
//! leadsync reads back after an agent's call, and how it subscribes to hear of calls and
//! contacts as they happen. Same gate, auth and DRF shapes as the contact routes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::calltools::api::{Params, id_or_404, json_object, try_resp};
use crate::calltools::calls::{CallTimeFilter, parse_ct_datetime};
use crate::calltools::drf;
use crate::calltools::paging::paginate;
use crate::state::AppState;
use crate::support::lock;

/// The filter a `GET /api/calls/` understands.
const START_TIME_GTE: &str = "start_time__gte";

/// `?start_time__gte=2026-12-06 07:30:00` (django-filter: the last value counts, a blank one is
/// no filter, an unreadable one is a 400) — unless the account ignores it.
pub(crate) async fn list_calls(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let all = {
        let world = lock(&st.calltools);
        let wanted = q
            .iter()
            .rev()
            .find(|(k, _)| k == START_TIME_GTE)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty());
        let since = match (world.modes.call_time_filter, wanted) {
            (CallTimeFilter::Ignored, _) | (_, None) => None,
            (CallTimeFilter::Honoured, Some(raw)) => match parse_ct_datetime(raw) {
                Some(t) => Some(t),
                None => {
                    return drf::ok(
                        StatusCode::BAD_REQUEST,
                        json!({ "start_time__gte": ["Enter a valid date/time."] }),
                    );
                }
            },
        };
        world.calls.list(since)
    };
    paginate(&st, &headers, "/api/calls/", &q, all)
}

pub(crate) async fn get_call(State(st): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = try_resp!(id_or_404(&raw));
    match lock(&st.calltools).calls.get(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

pub(crate) async fn list_dispositions(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let all = lock(&st.calltools).calls.dispositions();
    paginate(&st, &headers, "/api/dispositions/", &q, all)
}

pub(crate) async fn list_subscriptions(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let all = lock(&st.calltools).subscriptions.list();
    paginate(&st, &headers, "/api/resthooksubscriptions/", &q, all)
}

pub(crate) async fn get_subscription(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    let id = try_resp!(id_or_404(&raw));
    match lock(&st.calltools).subscriptions.get(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// `{"resthook_model": "Call", "url": "...", "description": "..."}` → 201. The same URL may
/// subscribe any number of times.
pub(crate) async fn create_subscription(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let map = try_resp!(json_object(&headers, &body));
    let created = lock(&st.calltools).subscriptions.create(&map);
    match created {
        Ok(v) => drf::ok(StatusCode::CREATED, v),
        Err(errors) => drf::field_errors(errors),
    }
}

pub(crate) async fn delete_subscription(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Response {
    let id = try_resp!(id_or_404(&raw));
    if lock(&st.calltools).subscriptions.delete(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        drf::detail(StatusCode::NOT_FOUND, "Not found.")
    }
}
