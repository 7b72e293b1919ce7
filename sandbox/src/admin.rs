//! `/_sandbox/...`: the control surface for tests and the local stack. Plain JSON, errors as
//! `{"error": "..."}`; nothing here imitates a vendor.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::state::AppState;
use super::support::lock;
use crate::{calltools, ghl, meta};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/info", get(info))
        .route("/reset", post(reset))
        .nest("/ghl", ghl::admin::router())
        .nest("/calltools", calltools::admin::router())
        .nest("/meta", meta::admin::router())
        .fallback(|| async { admin_error(StatusCode::NOT_FOUND, "no such sandbox endpoint") })
}

pub(crate) fn admin_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

/// A refused admin body; answers 400 with the parser's explanation.
pub(crate) struct BadBody(String);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        admin_error(StatusCode::BAD_REQUEST, &self.0)
    }
}

/// Admin bodies are strict (unknown keys refused) so a typo in a test fails loudly.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, BadBody> {
    serde_json::from_slice(body).map_err(|e| BadBody(e.to_string()))
}

/// What a client of the sandbox needs to configure itself against it.
async fn info(State(st): State<AppState>) -> Response {
    let cfg = &st.cfg;
    let buckets: Vec<_> = lock(&st.calltools).buckets();
    Json(json!({
        "url": st.url,
        "ghl_api_base_url": st.url,
        "calltools_base_url": st.url,
        "location_id": cfg.location_id,
        "ghl_api_token": cfg.ghl_api_token,
        "calltools_api_key": *lock(&st.calltools_api_key),
        "marketplace_webhook_url": cfg.marketplace_webhook_url,
        "workflow_webhook_url": cfg.workflow_webhook_url,
        "workflow_trigger_tag": cfg.workflow_trigger_tag,
        "legacy_rsa_signature": cfg.legacy_rsa_signature,
        "duplicate_mode": cfg.duplicate_mode,
        "ghl_retry_interval_ms": u64::try_from(cfg.ghl_retry_interval.as_millis()).unwrap_or(u64::MAX),
        "buckets": buckets,
        "ed25519_public_pem": super::keys::ED25519_PUBLIC_PEM,
        "rsa_public_pem": super::keys::RSA_PUBLIC_PEM,
        "graph_api_base_url": st.url,
        "meta_app_id": crate::meta::ids::APP_ID.to_string(),
        "meta_app_secret": cfg.meta_app_secret,
        "meta_verify_token": cfg.meta_verify_token,
        "meta_page_id": cfg.meta_page_id,
        "meta_ig_account_id": cfg.meta_ig_account_id,
        "meta_page_token": cfg.meta_page_token,
        "meta_webhook_url": cfg.meta_webhook_url,
        "meta_retry_interval_ms": u64::try_from(cfg.meta_retry_interval.as_millis()).unwrap_or(u64::MAX),
    }))
    .into_response()
}

async fn reset(State(st): State<AppState>) -> StatusCode {
    st.reset();
    StatusCode::NO_CONTENT
}
