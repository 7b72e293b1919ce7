//! `/_sandbox/meta/...`: the people in the played inboxes, the switches (subscription, quirks,
//! faults), and what Meta received (Graph calls) and sent (webhook deliveries).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{admin_error, parse_json};
use crate::faults::graph::FaultRule;
use crate::meta::store::Quirks;
use crate::meta::subscription::{self, SubscriptionSpec};
use crate::meta::users::{Channel, NewUser, UserPatch};
use crate::meta::{admin_events as events, batch};
use crate::state::AppState;
use crate::support::lock;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user).patch(patch_user))
        .route("/messages", post(events::message))
        .route("/events", post(events::event))
        .route("/batch", post(batch::batch))
        .route("/conversations", get(conversations))
        .route("/conversations/import", post(events::import))
        .route(
            "/subscription",
            get(get_subscription).post(set_subscription),
        )
        .route("/quirks", get(get_quirks).post(set_quirks))
        .route(
            "/faults",
            get(get_faults).post(add_fault).delete(clear_faults),
        )
        .route("/calls", get(calls).delete(clear_calls))
        .route("/deliveries", get(deliveries).delete(clear_deliveries))
        .route("/verify", post(verify))
}

async fn create_user(State(st): State<AppState>, body: Bytes) -> Response {
    let new: NewUser = match parse_json(&body) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if new.name.trim().is_empty() {
        return admin_error(StatusCode::BAD_REQUEST, "name must not be empty");
    }
    let id = lock(&st.meta.world).add_user(new);
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

async fn get_user(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match lock(&st.meta.world).user(&id) {
        Some(u) => Json(json!({ "user": u })).into_response(),
        None => admin_error(StatusCode::NOT_FOUND, &format!("no Meta user {id}")),
    }
}

async fn patch_user(State(st): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let patch: UserPatch = match parse_json(&body) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match lock(&st.meta.world).patch_user(&id, patch) {
        Some(u) => Json(json!({ "user": u })).into_response(),
        None => admin_error(StatusCode::NOT_FOUND, &format!("no Meta user {id}")),
    }
}

#[derive(Deserialize)]
struct ChannelQuery {
    channel: Option<Channel>,
}

/// Everything the sandbox holds, newest conversation first, each with its person.
async fn conversations(
    State(st): State<AppState>,
    query: Result<Query<ChannelQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "channel must be messenger or instagram",
        );
    };
    let channels = match q.channel {
        Some(c) => vec![c],
        None => vec![Channel::Messenger, Channel::Instagram],
    };
    let world = lock(&st.meta.world);
    let list: Vec<Value> = channels
        .into_iter()
        .flat_map(|ch| world.conversations(ch))
        .map(|c| {
            let mut v = json!(c);
            v["user"] = json!(world.user(&c.user_id));
            v
        })
        .collect();
    Json(json!({ "conversations": list })).into_response()
}

async fn get_subscription(State(st): State<AppState>) -> Response {
    Json(subscription::describe(&lock(&st.meta.world))).into_response()
}

/// `{"subscribed": false}` plays Meta silently unsubscribing leadsync's app; `true` subscribes
/// it with the default fields or the `fields` given; `other_apps` sets the other apps the Page
/// lists (see `meta::subscription`).
async fn set_subscription(State(st): State<AppState>, body: Bytes) -> Response {
    let spec: SubscriptionSpec = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let mut world = lock(&st.meta.world);
    match subscription::set(&mut world, spec) {
        Ok(()) => Json(subscription::describe(&world)).into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn get_quirks(State(st): State<AppState>) -> Response {
    Json(json!(lock(&st.meta.world).quirks)).into_response()
}

/// Replaces the quirk switches; keys left out are off.
async fn set_quirks(State(st): State<AppState>, body: Bytes) -> Response {
    let quirks: Quirks = match parse_json(&body) {
        Ok(q) => q,
        Err(r) => return r.into_response(),
    };
    lock(&st.meta.world).quirks = quirks;
    Json(json!(quirks)).into_response()
}

async fn get_faults(State(st): State<AppState>) -> Response {
    Json(json!({ "faults": lock(&st.meta.faults).pending() })).into_response()
}

/// Adds one rule; answers all the rules pending.
async fn add_fault(State(st): State<AppState>, body: Bytes) -> Response {
    let rule: FaultRule = match parse_json(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if let Err(e) = rule.validate() {
        return admin_error(StatusCode::BAD_REQUEST, &e);
    }
    let mut faults = lock(&st.meta.faults);
    faults.add(rule);
    Json(json!({ "faults": faults.pending() })).into_response()
}

async fn clear_faults(State(st): State<AppState>) -> StatusCode {
    *lock(&st.meta.faults) = Default::default();
    StatusCode::NO_CONTENT
}

async fn calls(State(st): State<AppState>) -> Response {
    Json(json!({ "calls": st.meta.calls.all() })).into_response()
}

async fn clear_calls(State(st): State<AppState>) -> StatusCode {
    st.meta.calls.clear();
    StatusCode::NO_CONTENT
}

async fn deliveries(State(st): State<AppState>) -> Response {
    Json(json!({ "deliveries": st.meta.deliveries.all() })).into_response()
}

async fn clear_deliveries(State(st): State<AppState>) -> StatusCode {
    st.meta.deliveries.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Verify {
    /// Send this instead of `meta_verify_token` (to check that a wrong token is refused).
    verify_token: Option<String>,
}

/// Plays Meta's verification handshake against `meta_webhook_url` (research §1): `GET
/// ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=<int>`; answers what came back and
/// whether the challenge was echoed as-is.
async fn verify(State(st): State<AppState>, body: Bytes) -> Response {
    let v: Verify = if body.is_empty() {
        Verify::default()
    } else {
        match parse_json(&body) {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        }
    };
    let Some(url) = &st.cfg.meta_webhook_url else {
        return admin_error(StatusCode::CONFLICT, "meta_webhook_url is not configured");
    };
    let token = v
        .verify_token
        .unwrap_or_else(|| st.cfg.meta_verify_token.clone());
    let challenge = (rand::random::<u32>() % 1_000_000_000).to_string();
    let request = st.meta.http.get(url).query(&[
        ("hub.mode", "subscribe"),
        ("hub.verify_token", token.as_str()),
        ("hub.challenge", challenge.as_str()),
    ]);
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            Json(json!({
                "status": status,
                "body": text,
                "challenge": challenge,
                "echoed": status == 200 && text == challenge,
            }))
            .into_response()
        }
        Err(e) => admin_error(StatusCode::BAD_GATEWAY, &format!("handshake failed: {e}")),
    }
}
