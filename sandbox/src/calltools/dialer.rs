//! `/_sandbox/calltools/...` for what CallTools' agents do and what CallTools then sends: an
//! agent dials a contact and picks a disposition (`/dial`), or marks a contact do-not-contact in
//! the UI (`/contacts/{id}/do_not_contact`); each fires the REST hooks of the objects it wrote.
//! `/hooks` lists every hook POST (and every hook dropped), `/hook_delivery` sets how they
//! misbehave. None of these is an API call: nothing here lands in the call log.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::admin::{admin_error, parse_json};
use crate::calltools::calls::NewCall;
use crate::calltools::fields::{ContactWrite, FieldValue};
use crate::calltools::resthooks::Hook;
use crate::calltools::store::CtWorld;
use crate::delivery::calltools::{HookDelivery, send};
use crate::state::AppState;
use crate::support::lock;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/dial", post(dial))
        .route("/contacts/{id}/do_not_contact", post(do_not_contact))
        .route("/hooks", get(hooks).delete(clear_hooks))
        .route(
            "/hook_delivery",
            get(get_hook_delivery).post(set_hook_delivery),
        )
}

/// `{"contact": 123, "disposition": "Not Interested" | null, "duration": 42 | null,
/// "agent": "agent.smith" | null, "recording": true}`: only `contact` is required. Without a
/// `duration` the call is still going (`end_time` null, `duration` 0).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dial {
    contact: i64,
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    recording: bool,
}

/// Creates the Call (starting now) and fires its hooks; a disposition that is DNC also marks
/// the contact do-not-contact, which fires the Contact hooks. Answers `{"call": <Call>}`.
async fn dial(State(st): State<AppState>, body: Bytes) -> Response {
    let d: Dial = match parse_json(&body) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let mut world = lock(&st.calltools);
    if world.contact(d.contact).is_none() {
        let msg = format!("no CallTools contact {}", d.contact);
        return admin_error(StatusCode::BAD_REQUEST, &msg);
    }
    let disposition = match d
        .disposition
        .as_deref()
        .map(|n| world.calls.disposition_named(n))
    {
        None => None,
        Some(Ok(disposition)) => Some(disposition),
        Some(Err(msg)) => return admin_error(StatusCode::BAD_REQUEST, &msg),
    };
    let user = match d.agent.as_deref().map(|a| world.calls.agent_named(a)) {
        None => None,
        Some(Ok(agent)) => Some(agent),
        Some(Err(msg)) => return admin_error(StatusCode::BAD_REQUEST, &msg),
    };
    let is_dnc = disposition.as_ref().is_some_and(|d| d.is_dnc);
    let new = NewCall {
        contact: d.contact,
        disposition,
        user,
        duration: d.duration,
        start_time: OffsetDateTime::now_utc().unix_timestamp(),
        recording: d.recording,
    };
    let call = world.calls.record(new, &st.url).json();
    let call_id = call["id"].as_i64().unwrap_or_default();
    let mut hooks = vec![world.subscriptions.hook("Call", call_id, &call)];
    if is_dnc {
        hooks.extend(set_do_not_contact(&mut world, d.contact, true).and_then(|(_, hook)| hook));
    }
    drop(world);
    for hook in hooks {
        send(&st, hook);
    }
    Json(json!({ "call": call })).into_response()
}

/// Sets the contact's `do_not_contact`; the Contact hook is there only when it changed.
/// `None` for an unknown contact.
fn set_do_not_contact(world: &mut CtWorld, id: i64, value: bool) -> Option<(Value, Option<Hook>)> {
    let before = world.contact(id)?["do_not_contact"].as_bool();
    let write = ContactWrite {
        fields: vec![("do_not_contact", FieldValue::Bool(value))],
        ..ContactWrite::default()
    };
    let contact = world.patch(id, write).ok()??;
    let hook = (before != Some(value)).then(|| world.subscriptions.hook("Contact", id, &contact));
    Some((contact, hook))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DoNotContact {
    value: bool,
}

/// `{"value": true}`, as an agent would in the CallTools UI; answers the contact as
/// `GET /api/contacts/{id}/` renders it.
async fn do_not_contact(State(st): State<AppState>, Path(id): Path<i64>, body: Bytes) -> Response {
    let set: DoNotContact = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let changed = set_do_not_contact(&mut lock(&st.calltools), id, set.value);
    let Some((contact, hook)) = changed else {
        return admin_error(StatusCode::NOT_FOUND, &format!("no CallTools contact {id}"));
    };
    if let Some(hook) = hook {
        send(&st, hook);
    }
    Json(contact).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksQuery {
    #[serde(default)]
    settled: Option<u8>,
}

/// `[{"model", "object_id", "url", "status", "dropped"}]`, one per POST (duplicates included)
/// and one per dropped hook, in the order they happened. With `?settled=1`, only
/// `{"in_flight": n}`: the hooks not yet done, so a test polls for 0 before it counts.
async fn hooks(State(st): State<AppState>, Query(q): Query<HooksQuery>) -> Response {
    if q.settled.is_some() {
        return Json(json!({ "in_flight": st.calltools_hooks.in_flight() })).into_response();
    }
    Json(json!(st.calltools_hooks.all())).into_response()
}

async fn clear_hooks(State(st): State<AppState>) -> StatusCode {
    st.calltools_hooks.clear();
    StatusCode::NO_CONTENT
}

async fn get_hook_delivery(State(st): State<AppState>) -> Response {
    Json(json!(st.calltools_hooks.settings())).into_response()
}

/// `{"duplicates": 0, "delay_ms": 0, "drop_next": 0}`; a key left out is 0.
async fn set_hook_delivery(State(st): State<AppState>, body: Bytes) -> Response {
    let settings: HookDelivery = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    st.calltools_hooks.set_settings(settings);
    Json(json!(settings)).into_response()
}
