//! `/_sandbox/calltools/...` for what CallTools' agents do and what CallTools then sends: an
//! agent dials a contact and picks a disposition (`/dial`), picks or changes it at wrap-up
//! (`/calls/{id}/wrap_up`, which also plays the recording link arriving later), or marks a
//! contact do-not-contact in
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
use crate::calltools::calls::{CallChange, Disposition, NewCall};
use crate::calltools::fields::{ContactWrite, FieldValue};
use crate::calltools::resthooks::Hook;
use crate::calltools::store::CtWorld;
use crate::delivery::calltools::{HookDelivery, send};
use crate::state::AppState;
use crate::support::lock;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/dial", post(dial))
        .route("/calls/{id}/wrap_up", post(wrap_up))
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
    let disposition = match picked(&world, d.disposition.as_deref()) {
        Ok(disposition) => disposition,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, &msg),
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
    let call = world.calls.record(new, &st.url);
    posted(&st, world, &call, is_dnc)
}

/// A disposition named by an agent, as the account spells it; what is wrong with one it lacks.
fn picked(world: &CtWorld, name: Option<&str>) -> Result<Option<Disposition>, String> {
    name.map(|n| world.calls.disposition_named(n)).transpose()
}

/// Fires the Call's hooks (and, for a do-not-call disposition, marks the contact and fires
/// its Contact hooks) once the world is released; answers `{"call": <Call>}`.
fn posted(
    st: &AppState,
    mut world: std::sync::MutexGuard<'_, CtWorld>,
    call: &crate::calltools::calls::Call,
    is_dnc: bool,
) -> Response {
    let json = call.json();
    let mut hooks = vec![world.subscriptions.hook("Call", call.id, &json)];
    if is_dnc {
        hooks.extend(set_do_not_contact(&mut world, call.contact, true).and_then(|(_, hook)| hook));
    }
    drop(world);
    for hook in hooks {
        send(st, hook);
    }
    Json(json!({ "call": json })).into_response()
}

/// `{"disposition": "Call Back", "duration": 42, "recording": true}`, every key optional: the
/// agent picks (or changes) the disposition at wrap-up, the call ends, or the recording link
/// arrives once CallTools has stored it. CallTools posts the Call again each time, as a hook
/// for a dial without a disposition is followed by one with it. Answers `{"call": <Call>}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUp {
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    recording: bool,
}

async fn wrap_up(State(st): State<AppState>, Path(id): Path<i64>, body: Bytes) -> Response {
    let w: WrapUp = match parse_json(&body) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let mut world = lock(&st.calltools);
    let disposition = match picked(&world, w.disposition.as_deref()) {
        Ok(disposition) => disposition,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, &msg),
    };
    let is_dnc = disposition.as_ref().is_some_and(|d| d.is_dnc);
    let change = CallChange {
        disposition,
        duration: w.duration,
        recording: w.recording,
    };
    let Some(call) = world.calls.update(id, change, &st.url) else {
        return admin_error(StatusCode::NOT_FOUND, &format!("no CallTools call {id}"));
    };
    posted(&st, world, &call, is_dnc)
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
