//! GoHighLevel's OAuth token endpoint (research/ghl_calltools.md §4): `POST /oauth/token`,
//! form-encoded, `grant_type=refresh_token`. Each refresh token works once: the answer carries a
//! new one and the old one is refused from then on (400 `invalid_grant`, as RFC 6749 §5.2 has it;
//! GHL's exact status is not documented). Access tokens last `expires_in` seconds (GHL: 86399).
//!
//! Admin: `GET /_sandbox/ghl/oauth` shows the current refresh token and counts;
//! `POST /_sandbox/ghl/oauth` sets `expires_in`, `revoke_access` (refuse every access token
//! issued so far), `refresh_token` (the app authorised again: a new chain starts) or
//! `answer_delay_ms` (a slow token endpoint: the refresh token is spent when the request
//! arrives, the answer comes this much later).

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::AppState;
use crate::support::{lock, now_ms, uuid_v4};

pub const CLIENT_ID: &str = "sandbox-oauth-client";
pub const CLIENT_SECRET: &str = "sandbox-oauth-secret";
pub const FIRST_REFRESH_TOKEN: &str = "sandbox-refresh-0";

pub(crate) struct OAuth {
    refresh_token: String,
    /// Issued access tokens and when each expires (epoch ms).
    access: HashMap<String, i64>,
    expires_in_secs: u64,
    answer_delay_ms: u64,
    refreshes: u64,
    refused: u64,
}

impl Default for OAuth {
    fn default() -> Self {
        Self {
            refresh_token: FIRST_REFRESH_TOKEN.into(),
            access: HashMap::new(),
            expires_in_secs: 86_399,
            answer_delay_ms: 0,
            refreshes: 0,
            refused: 0,
        }
    }
}

impl OAuth {
    /// Whether `token` is an access token issued here and not expired.
    pub(crate) fn accepts(&self, token: &str, now_ms: i64) -> bool {
        self.access.get(token).is_some_and(|&exp| exp > now_ms)
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description, "traceId": uuid_v4()})),
    )
        .into_response()
}

pub(crate) async fn token(State(st): State<AppState>, Form(form): Form<TokenForm>) -> Response {
    if form.client_id.as_deref() != Some(CLIENT_ID)
        || form.client_secret.as_deref() != Some(CLIENT_SECRET)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if form.grant_type.as_deref() != Some("refresh_token") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The sandbox plays the refresh_token grant only",
        );
    }
    let (answer, delay) = rotate(&st, form.refresh_token.as_deref());
    if delay > 0 {
        crate::support::sleep_or_shutdown(std::time::Duration::from_millis(delay), &st.shutdown)
            .await;
    }
    answer
}

/// Spends `refresh_token` and issues its successor (or refuses it), at once; the answer and how
/// long to hold it back.
fn rotate(st: &AppState, refresh_token: Option<&str>) -> (Response, u64) {
    let mut o = lock(&st.oauth);
    let delay = o.answer_delay_ms;
    if refresh_token != Some(o.refresh_token.as_str()) {
        o.refused += 1;
        let refused = oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid grant: refresh token is invalid",
        );
        return (refused, delay);
    }
    o.refreshes += 1;
    let n = o.refreshes;
    let access = format!("sandbox-access-{n}-{}", uuid_v4());
    o.refresh_token = format!("sandbox-refresh-{n}-{}", uuid_v4());
    let expires_in = o.expires_in_secs;
    o.access
        .insert(access.clone(), now_ms() + expires_in as i64 * 1000);
    let answer = Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": o.refresh_token,
        "scope": "contacts.readonly",
        "userType": "Location",
        "locationId": st.cfg.location_id,
    }))
    .into_response();
    (answer, delay)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OAuthSettings {
    expires_in: Option<u64>,
    answer_delay_ms: Option<u64>,
    #[serde(default)]
    revoke_access: bool,
    refresh_token: Option<String>,
}

#[derive(Serialize)]
struct OAuthView<'a> {
    client_id: &'static str,
    refresh_token: &'a str,
    expires_in: u64,
    answer_delay_ms: u64,
    refreshes: u64,
    refused: u64,
    live_access_tokens: usize,
}

fn view(o: &OAuth) -> Response {
    let now = now_ms();
    Json(OAuthView {
        client_id: CLIENT_ID,
        refresh_token: &o.refresh_token,
        expires_in: o.expires_in_secs,
        answer_delay_ms: o.answer_delay_ms,
        refreshes: o.refreshes,
        refused: o.refused,
        live_access_tokens: o.access.values().filter(|&&e| e > now).count(),
    })
    .into_response()
}

pub(crate) async fn get_settings(State(st): State<AppState>) -> Response {
    view(&lock(&st.oauth))
}

pub(crate) async fn set_settings(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
    let settings: OAuthSettings = match crate::admin::parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let mut o = lock(&st.oauth);
    if let Some(secs) = settings.expires_in {
        o.expires_in_secs = secs;
    }
    if let Some(ms) = settings.answer_delay_ms {
        o.answer_delay_ms = ms;
    }
    if settings.revoke_access {
        o.access.clear();
    }
    if let Some(t) = settings.refresh_token {
        o.refresh_token = t;
    }
    view(&o)
}
