//! `/_sandbox/ghl/...`: how tests act as a GoHighLevel user (create, edit, tag, delete
//! contacts) and observe what GoHighLevel sent and received (webhooks, API calls, notes).

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{admin_error, parse_json};
use crate::delivery::ghl::dispatch;
use crate::faults::delivery::{Chaos, ChaosSpec};
use crate::ghl::render::drop_nulls;
use crate::ghl::search::CursorStyle;
use crate::ghl::store::{
    ContactFields, DND_CHANNELS, DND_STATUSES, DndChange, DndSetting, Event, GhlContact, NewContact,
};
use crate::state::AppState;
use crate::support::lock;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list_contacts).post(create_contact))
        .route("/contacts/import", axum::routing::post(import_contacts))
        .route(
            "/contacts/{id}",
            get(get_contact)
                .patch(update_contact)
                .delete(delete_contact),
        )
        .route(
            "/contacts/{id}/tags",
            axum::routing::post(add_tags).delete(remove_tags),
        )
        .route("/contacts/{id}/dnd", axum::routing::post(set_dnd))
        .route("/contacts/{id}/notes", get(notes))
        .route("/deliveries", get(deliveries).delete(clear_deliveries))
        .route("/delivery", get(get_chaos).post(set_chaos))
        .route("/search", get(get_search).post(set_search))
        .route("/account", get(get_account).post(set_account))
        .route(
            "/oauth",
            get(crate::ghl::oauth::get_settings).post(crate::ghl::oauth::set_settings),
        )
        .route("/calls", get(calls).delete(clear_calls))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: Vec<String>,
}

fn contact_response(status: StatusCode, contact: &GhlContact) -> Response {
    (status, Json(json!({ "contact": admin_view(contact) }))).into_response()
}

/// A contact as the admin API shows it: unset fields left out, whatever the account renders.
fn admin_view(contact: &GhlContact) -> Value {
    let mut v = contact.api_json();
    drop_nulls(&mut v);
    v
}

fn no_contact(id: &str) -> Response {
    admin_error(StatusCode::NOT_FOUND, &format!("no GHL contact {id}"))
}

/// Answers first, then the webhooks go out: like GoHighLevel, the write never waits for them.
fn written(
    st: &AppState,
    contact: &GhlContact,
    events: Vec<Event>,
    status: StatusCode,
) -> Response {
    let response = contact_response(status, contact);
    dispatch(st, events);
    response
}

async fn create_contact(State(st): State<AppState>, body: Bytes) -> Response {
    let mut map: serde_json::Map<String, Value> = match parse_json(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let tags = match map
        .remove("tags")
        .map(serde_json::from_value::<Vec<String>>)
    {
        None => Vec::new(),
        Some(Ok(tags)) => tags,
        Some(Err(e)) => return admin_error(StatusCode::BAD_REQUEST, &format!("tags: {e}")),
    };
    let fields: ContactFields = match serde_json::from_value(Value::Object(map)) {
        Ok(f) => f,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (contact, events) =
        lock(&st.ghl).create(NewContact { fields, tags }, &st.cfg.workflow_trigger_tag);
    written(&st, &contact, events, StatusCode::CREATED)
}

/// `POST /_sandbox/ghl/contacts/import` `{"count": N, "tags": [...], "first": 0}`: N contacts
/// (`Import<i>`, phone `+1628` then 2,000,000 + i: a valid US number, its exchange never starts
/// with 0 or 1) created at once, **without their webhooks** — what the backfill exists to
/// repair. Answers their ids in creation order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    count: usize,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    first: usize,
}

/// Enough for the backfill's scale tests and benchmark, small enough to answer in one body.
const MAX_IMPORT: usize = 100_000;

async fn import_contacts(State(st): State<AppState>, body: Bytes) -> Response {
    let import: Import = match parse_json(&body) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    if import.count > MAX_IMPORT || import.first + import.count > 7_000_000 {
        return admin_error(
            StatusCode::BAD_REQUEST,
            &format!("count: at most {MAX_IMPORT}, and first + count at most 7,000,000"),
        );
    }
    let mut ghl = lock(&st.ghl);
    let ids: Vec<String> = (import.first..import.first + import.count)
        .map(|i| {
            let fields = ContactFields {
                first_name: Some(format!("Import{i}")),
                last_name: Some("Backfill".into()),
                email: Some(format!("import{i}@example.com")),
                phone: Some(format!("+1628{}", 2_000_000 + i)),
                ..ContactFields::default()
            };
            let new = NewContact {
                fields,
                tags: import.tags.clone(),
            };
            // The events are dropped: GHL "forgot" these webhooks.
            let (contact, _events) = ghl.create(new, &st.cfg.workflow_trigger_tag);
            contact.id
        })
        .collect();
    Json(json!({ "ids": ids })).into_response()
}

async fn list_contacts(State(st): State<AppState>) -> Response {
    let contacts: Vec<Value> = lock(&st.ghl).all().into_iter().map(admin_view).collect();
    Json(json!({ "contacts": contacts })).into_response()
}

async fn get_contact(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match lock(&st.ghl).get(&id) {
        Some(c) => contact_response(StatusCode::OK, c),
        None => no_contact(&id),
    }
}

async fn update_contact(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let map: serde_json::Map<String, Value> = match parse_json(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    if map.contains_key("tags") {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "tags change through POST/DELETE /_sandbox/ghl/contacts/{id}/tags (ContactTagUpdate)",
        );
    }
    if map.contains_key("dnd") || map.contains_key("dndSettings") {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "DND changes through POST /_sandbox/ghl/contacts/{id}/dnd (ContactDndUpdate)",
        );
    }
    let fields: ContactFields = match serde_json::from_value(Value::Object(map)) {
        Ok(f) => f,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let updated = lock(&st.ghl).update(&id, fields);
    match updated {
        Some((contact, events)) => written(&st, &contact, events, StatusCode::OK),
        None => no_contact(&id),
    }
}

async fn delete_contact(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let deleted = lock(&st.ghl).delete(&id);
    match deleted {
        Some(events) => {
            dispatch(&st, events);
            Json(json!({ "deleted": id })).into_response()
        }
        None => no_contact(&id),
    }
}

/// The contact's notes, oldest first, as `GET /contacts/{id}/notes` shows them (not logged).
async fn notes(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let ghl = lock(&st.ghl);
    if ghl.get(&id).is_none() {
        return no_contact(&id);
    }
    Json(json!({ "notes": ghl.notes.of(&id) })).into_response()
}

async fn add_tags(State(st): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let tags: Tags = match parse_json(&body) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let added = lock(&st.ghl).add_tags(&id, &tags.tags, &st.cfg.workflow_trigger_tag);
    match added {
        Some((contact, events)) => written(&st, &contact, events, StatusCode::OK),
        None => no_contact(&id),
    }
}

async fn remove_tags(State(st): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let tags: Tags = match parse_json(&body) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let removed = lock(&st.ghl).remove_tags(&id, &tags.tags);
    match removed {
        Some((contact, events)) => written(&st, &contact, events, StatusCode::OK),
        None => no_contact(&id),
    }
}

/// `POST /_sandbox/ghl/contacts/{id}/dnd` `{"dnd": true}` and/or
/// `{"dndSettings": {"Call": {"status": "active", "message": "", "code": ""}}}` (only the channels
/// given change), with `"webhook": false` for a change GoHighLevel sends no webhook for (inbound
/// DND): then only a re-read (the backfill) can see it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetDnd {
    dnd: Option<bool>,
    #[serde(default)]
    dnd_settings: BTreeMap<String, DndSetting>,
    #[serde(default = "webhook_by_default")]
    webhook: bool,
}

fn webhook_by_default() -> bool {
    true
}

async fn set_dnd(State(st): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let set: SetDnd = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    for (channel, setting) in &set.dnd_settings {
        if !DND_CHANNELS.contains(&channel.as_str()) {
            let msg = format!("dndSettings: channel {channel:?} is not one of {DND_CHANNELS:?}");
            return admin_error(StatusCode::BAD_REQUEST, &msg);
        }
        if !DND_STATUSES.contains(&setting.status.as_str()) {
            let msg = format!("dndSettings.{channel}.status: expected one of {DND_STATUSES:?}");
            return admin_error(StatusCode::BAD_REQUEST, &msg);
        }
    }
    let change = DndChange {
        dnd: set.dnd,
        settings: set.dnd_settings,
        replace: false,
        webhook: set.webhook,
    };
    let changed = lock(&st.ghl).set_dnd(&id, change);
    match changed {
        Some((contact, events)) => written(&st, &contact, events, StatusCode::OK),
        None => no_contact(&id),
    }
}

/// How webhook delivery misbehaves: duplicates, reordering, drops (see `faults::delivery`).
async fn set_chaos(State(st): State<AppState>, body: Bytes) -> Response {
    let spec: ChaosSpec = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if let Err(e) = spec.validate() {
        return admin_error(StatusCode::BAD_REQUEST, &e);
    }
    *lock(&st.chaos) = Chaos::new(spec.clone());
    Json(json!({ "delivery": spec })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchSettings {
    cursor_style: CursorStyle,
}

/// Where `POST /contacts/search` puts its cursor (the research could not confirm it).
async fn set_search(State(st): State<AppState>, body: Bytes) -> Response {
    let settings: SearchSettings = match parse_json(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    *lock(&st.search_cursor) = settings.cursor_style;
    Json(json!({ "cursor_style": settings.cursor_style })).into_response()
}

async fn get_search(State(st): State<AppState>) -> Response {
    Json(json!({ "cursor_style": *lock(&st.search_cursor) })).into_response()
}

/// The played account's variants (see `ghl::account`): a partial object changes only the keys it
/// names, e.g. `{"read_answers": {"<id>": "invalid_version_400"}}` or `{"frozen_at_ms": null}`.
async fn set_account(State(st): State<AppState>, body: Bytes) -> Response {
    let changes: serde_json::Map<String, Value> = match parse_json(&body) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let mut ghl = lock(&st.ghl);
    match ghl.account.updated(changes) {
        Ok(account) => {
            ghl.account = account;
            Json(json!({ "account": ghl.account })).into_response()
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn get_account(State(st): State<AppState>) -> Response {
    Json(json!({ "account": lock(&st.ghl).account })).into_response()
}

async fn get_chaos(State(st): State<AppState>) -> Response {
    Json(json!({ "delivery": lock(&st.chaos).spec() })).into_response()
}

async fn deliveries(State(st): State<AppState>) -> Response {
    Json(json!({
        "deliveries": st.deliveries.all(),
        "in_flight": st.deliveries.in_flight(),
    }))
    .into_response()
}

async fn clear_deliveries(State(st): State<AppState>) -> StatusCode {
    st.deliveries.clear();
    StatusCode::NO_CONTENT
}

async fn calls(State(st): State<AppState>) -> Response {
    Json(json!({ "calls": st.ghl_calls.all() })).into_response()
}

async fn clear_calls(State(st): State<AppState>) -> StatusCode {
    st.ghl_calls.clear();
    StatusCode::NO_CONTENT
}
