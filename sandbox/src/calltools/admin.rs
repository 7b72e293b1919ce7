//! `/_sandbox/calltools/...`: faults, the account's variants (modes), the API call log, the API
//! key the account accepts (rotated as an admin would in CallTools' settings), and direct access
//! to the account's contacts and buckets (not logged as API calls). The agents' calls and the
//! REST hooks they fire are in [`crate::calltools::dialer`].

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::admin::{admin_error, parse_json};
use crate::calltools::fields::parse_write;
use crate::calltools::store::AccountModes;
use crate::faults::calltools::{FaultSpec, Faults};
use crate::state::AppState;
use crate::support::lock;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/calls", get(calls).delete(clear_calls))
        .route("/contacts", get(contacts).post(seed_contact))
        .route("/buckets", post(add_bucket))
        .route("/modes", get(get_modes).post(set_modes))
        .route("/api_key", get(get_api_key).post(rotate_api_key))
        .merge(crate::calltools::dialer::router())
}

/// The account variants: `{"placement": "inline"|"ignored", "bucket_listing":
/// "both"|"buckets_only"|"lists_only", "deletes": "allowed"|"forbidden", "call_time_filter":
/// "honoured"|"ignored", "contact_bucket_filter": "honoured"|"ignored"}`. A POST sets them all
/// (a key left out is its default).
async fn get_modes(State(st): State<AppState>) -> Response {
    Json(json!(lock(&st.calltools).modes)).into_response()
}

async fn set_modes(State(st): State<AppState>, body: Bytes) -> Response {
    let modes: AccountModes = match parse_json(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    lock(&st.calltools).modes = modes;
    Json(json!(modes)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKey {
    api_key: String,
}

async fn get_api_key(State(st): State<AppState>) -> Response {
    Json(json!({ "api_key": *lock(&st.calltools_api_key) })).into_response()
}

/// From now on only `api_key` authenticates: the key leadsync holds is refused with DRF's 401
/// `Invalid token.` until it is set back.
async fn rotate_api_key(State(st): State<AppState>, body: Bytes) -> Response {
    let k: ApiKey = match parse_json(&body) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    if k.api_key.trim().is_empty() || k.api_key.contains(char::is_whitespace) {
        return admin_error(StatusCode::BAD_REQUEST, "api_key must be one word");
    }
    *lock(&st.calltools_api_key) = k.api_key;
    get_api_key(State(st)).await
}

fn faults_json(faults: &Faults) -> Value {
    let (spec, outage_remaining_ms) = faults.spec(Instant::now());
    let mut v = json!(spec);
    v["outage_remaining_ms"] = json!(outage_remaining_ms);
    v
}

async fn get_faults(State(st): State<AppState>) -> Response {
    Json(faults_json(&lock(&st.faults))).into_response()
}

async fn set_faults(State(st): State<AppState>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if let Err(msg) = spec.validate() {
        return admin_error(StatusCode::BAD_REQUEST, &msg);
    }
    let mut faults = lock(&st.faults);
    *faults = Faults::new(spec, Instant::now());
    Json(faults_json(&faults)).into_response()
}

async fn clear_faults(State(st): State<AppState>) -> StatusCode {
    *lock(&st.faults) = Faults::default();
    StatusCode::NO_CONTENT
}

async fn calls(State(st): State<AppState>) -> Response {
    Json(json!({ "calls": st.calltools_calls.all() })).into_response()
}

async fn clear_calls(State(st): State<AppState>) -> StatusCode {
    st.calltools_calls.clear();
    StatusCode::NO_CONTENT
}

async fn contacts(State(st): State<AppState>) -> Response {
    Json(json!({ "contacts": lock(&st.calltools).all_contacts() })).into_response()
}

/// Same body and validation as `POST /api/contacts/` (add_buckets, add_tags included), but
/// never merged into an existing contact and never logged or faulted.
async fn seed_contact(State(st): State<AppState>, body: Bytes) -> Response {
    let map: Map<String, Value> = match parse_json(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let write = match parse_write(&map, &[]) {
        Ok(w) => w,
        Err(errors) => return (StatusCode::BAD_REQUEST, Json(json!(errors))).into_response(),
    };
    let seeded = lock(&st.calltools).seed(write);
    match seeded {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(errors) => (StatusCode::BAD_REQUEST, Json(json!(errors))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBucket {
    id: i64,
    name: String,
}

async fn add_bucket(State(st): State<AppState>, body: Bytes) -> Response {
    let b: NewBucket = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut world = lock(&st.calltools);
    world.add_bucket(b.id, b.name);
    (StatusCode::CREATED, Json(world.bucket(b.id))).into_response()
}
