//! The CallTools REST API under `/api/` (§5): contacts, buckets, tags here; calls, dispositions
//! and REST hook subscriptions in [`crate::calltools::api_calls`]. Trailing slashes are part of
//! the paths; anything else is Django's HTML 404.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::calltools::fields::parse_write;
use crate::calltools::gate::{gate, token_auth};
use crate::calltools::paging::paginate;
use crate::calltools::store::{Created, Deletes};
use crate::calltools::{api_calls, drf};
use crate::state::AppState;
use crate::support::lock;

pub(crate) type Params = Query<Vec<(String, String)>>;

/// The service nested at `/api`; its paths here are relative to that.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/contacts/", get(list_contacts).post(create_contact))
        .route(
            "/contacts/{id}/",
            get(get_contact)
                .patch(update_contact)
                .put(update_contact)
                .delete(delete_contact),
        )
        .route("/buckets/", get(list_buckets))
        .route("/lists/", get(list_lists))
        .route("/buckets/{id}/", get(get_bucket).patch(patch_bucket))
        .route("/alltags/", get(list_tags).post(create_tag))
        .route("/alltags/{id}/", get(get_tag).patch(patch_tag))
        .route("/calls/", get(api_calls::list_calls))
        .route("/calls/{id}/", get(api_calls::get_call))
        .route("/dispositions/", get(api_calls::list_dispositions))
        .route(
            "/resthooksubscriptions/",
            get(api_calls::list_subscriptions).post(api_calls::create_subscription),
        )
        .route(
            "/resthooksubscriptions/{id}/",
            get(api_calls::get_subscription).delete(api_calls::delete_subscription),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), token_auth))
        .fallback(|| async { drf::html_not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

async fn method_not_allowed(method: Method) -> Response {
    drf::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}

/// Why a request never reached the view.
pub(crate) enum Refused {
    /// Django routes ids with `[0-9]+`: anything else gets the HTML 404.
    NoRoute,
    UnsupportedMediaType(String),
    NotAnObject(&'static str),
    Unparsable(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NoRoute => drf::html_not_found(),
            Refused::UnsupportedMediaType(ct) => drf::detail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Unsupported media type \"{ct}\" in request."),
            ),
            Refused::NotAnObject(got) => drf::ok(
                StatusCode::BAD_REQUEST,
                json!({ "non_field_errors": [format!("Invalid data. Expected a dictionary, but got {got}.")] }),
            ),
            Refused::Unparsable(e) => {
                drf::detail(StatusCode::BAD_REQUEST, &format!("JSON parse error - {e}"))
            }
        }
    }
}

pub(crate) fn id_or_404(raw: &str) -> Result<i64, Refused> {
    raw.parse::<i64>()
        .ok()
        .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Refused::NoRoute)
}

/// DRF's `JSONParser`: needs a JSON content type and a JSON object.
pub(crate) fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, Refused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(Refused::UnsupportedMediaType(content_type.to_owned()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Refused::NotAnObject(match other {
            Value::Array(_) => "list",
            Value::String(_) => "str",
            Value::Bool(_) => "bool",
            Value::Null => "NoneType",
            _ => "int",
        })),
        Err(e) => Err(Refused::Unparsable(e.to_string())),
    }
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        }
    };
}
pub(crate) use try_resp;

async fn list_contacts(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let all = lock(&st.calltools).list_contacts(&q);
    paginate(&st, &headers, "/api/contacts/", &q, all)
}

async fn create_contact(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let map = try_resp!(json_object(&headers, &body));
    let reject = lock(&st.faults).reject_phones();
    let write = match parse_write(&map, &reject) {
        Ok(w) => w,
        Err(errors) => return drf::field_errors(errors),
    };
    let created = lock(&st.calltools).create(write, st.cfg.duplicate_mode);
    match created {
        Ok(Created::Contact(v)) => drf::ok(StatusCode::CREATED, v),
        // 200, not 201: nothing was created. The research only says "2xx" (§5.6).
        Ok(Created::Merged(ids)) => drf::ok(
            StatusCode::OK,
            json!({ "duplicate_contacts": ids, "duplicate_action": "MERGE" }),
        ),
        Err(errors) => drf::field_errors(errors),
    }
}

async fn get_contact(State(st): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = try_resp!(id_or_404(&raw));
    match lock(&st.calltools).contact(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// PATCH and PUT alike: CallTools contacts have no required fields, so a DRF full update
/// behaves as a partial one.
async fn update_contact(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = try_resp!(id_or_404(&raw));
    if lock(&st.calltools).contact(id).is_none() {
        return drf::detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let map = try_resp!(json_object(&headers, &body));
    let reject = lock(&st.faults).reject_phones();
    let write = match parse_write(&map, &reject) {
        Ok(w) => w,
        Err(errors) => return drf::field_errors(errors),
    };
    let patched = lock(&st.calltools).patch(id, write);
    match patched {
        Ok(Some(v)) => drf::ok(StatusCode::OK, v),
        Ok(None) => drf::detail(StatusCode::NOT_FOUND, "Not found."),
        Err(errors) => drf::field_errors(errors),
    }
}

async fn delete_contact(State(st): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = try_resp!(id_or_404(&raw));
    let mut world = lock(&st.calltools);
    if world.modes.deletes == Deletes::Forbidden {
        return drf::detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        );
    }
    if world.delete(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        drf::detail(StatusCode::NOT_FOUND, "Not found.")
    }
}

async fn list_buckets(st: State<AppState>, headers: HeaderMap, q: Params) -> Response {
    bucket_listing(st, headers, q, "/api/buckets/")
}

/// The same DRF page of buckets as `/api/buckets/`, under the name T-repo used (§5.5).
async fn list_lists(st: State<AppState>, headers: HeaderMap, q: Params) -> Response {
    bucket_listing(st, headers, q, "/api/lists/")
}

/// A listing path the account does not serve answers as the real instance did: Django's HTML 404.
fn bucket_listing(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Params,
    path: &str,
) -> Response {
    let all = {
        let world = lock(&st.calltools);
        if !world.modes.bucket_listing.serves(path) {
            return drf::html_not_found();
        }
        world.buckets()
    };
    paginate(&st, &headers, path, &q, all)
}

async fn get_bucket(State(st): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = try_resp!(id_or_404(&raw));
    match lock(&st.calltools).bucket(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

async fn patch_bucket(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = try_resp!(id_or_404(&raw));
    if lock(&st.calltools).bucket(id).is_none() {
        return drf::detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let map = try_resp!(json_object(&headers, &body));
    let mut errors = crate::calltools::fields::FieldErrors::new();
    let mut ids = |key: &str| match map.get(key).map(crate::calltools::fields::pk_list) {
        None => Vec::new(),
        Some(Ok(ids)) => ids,
        Some(Err(msg)) => {
            errors.insert(key.to_owned(), vec![msg]);
            Vec::new()
        }
    };
    let (add, remove) = (ids("add_contacts"), ids("remove_contacts"));
    if !errors.is_empty() {
        return drf::field_errors(errors);
    }
    let patched = lock(&st.calltools).patch_bucket(id, &add, &remove);
    match patched {
        Ok(Some(v)) => drf::ok(StatusCode::OK, v),
        Ok(None) => drf::detail(StatusCode::NOT_FOUND, "Not found."),
        Err(errors) => drf::field_errors(errors),
    }
}

async fn list_tags(State(st): State<AppState>, headers: HeaderMap, Query(q): Params) -> Response {
    let name = q
        .iter()
        .rev()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str());
    let all = lock(&st.calltools).tags(name);
    paginate(&st, &headers, "/api/alltags/", &q, all)
}

async fn get_tag(State(st): State<AppState>, Path(raw): Path<String>) -> Response {
    let id = try_resp!(id_or_404(&raw));
    match lock(&st.calltools).tag(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// T-repo commit ff09add: `PATCH /api/alltags/{id}/ {"add_contacts": [...]}` "was returning
/// success but not actually adding contacts". The sandbox does the same: 200, nothing changes.
async fn patch_tag(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = try_resp!(id_or_404(&raw));
    try_resp!(json_object(&headers, &body));
    match lock(&st.calltools).tag(id) {
        Some(v) => drf::ok(StatusCode::OK, v),
        None => drf::detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

async fn create_tag(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let map = try_resp!(json_object(&headers, &body));
    let created = lock(&st.calltools).create_tag(map.get("name"));
    match created {
        Ok(v) => drf::ok(StatusCode::CREATED, v),
        Err(errors) => drf::field_errors(errors),
    }
}
