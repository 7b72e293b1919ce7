//! GoHighLevel's contact writes (API v2): `POST`/`DELETE /contacts/{id}/tags`,
//! `POST`/`GET /contacts/{id}/notes` and `PUT /contacts/{id}`. They pass the same token, rate
//! limit and `Version` checks as the reads, and raise the webhooks the admin writes raise.
//! Their bodies are read in [`crate::ghl::write_bodies`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::delivery::ghl::dispatch;
use crate::ghl::account::ReadAnswer;
use crate::ghl::api::{error, guarded};
use crate::ghl::store::{ContactFields, CustomField, DndChange, Event, GhlContact};
use crate::ghl::write_bodies::{note_body, tags_body, update_body};
use crate::state::AppState;
use crate::support::{lock, uuid_v4};

/// A write to a contact that does not exist answers as the read does (the account's
/// `deleted_answer`: 400 "Contact not found" by default, or 404). What GoHighLevel answers a
/// write there is not documented; the read's answer is the one seen.
fn unknown_contact(answer: ReadAnswer) -> Response {
    let (status, message, kind) = answer.answer();
    error(status, message, Some(kind))
}

/// Answers, then sends the webhooks: GoHighLevel never makes a write wait for them.
fn answer_then_send(
    st: &AppState,
    status: StatusCode,
    body: Value,
    events: Vec<Event>,
) -> Response {
    let response = (status, Json(body)).into_response();
    dispatch(st, events);
    response
}

fn tags_answer(
    st: &AppState,
    status: StatusCode,
    written: Option<(GhlContact, Vec<Event>)>,
) -> Response {
    match written {
        Some((contact, events)) => answer_then_send(
            st,
            status,
            json!({ "tags": contact.tags, "traceId": uuid_v4() }),
            events,
        ),
        None => unknown_contact(lock(&st.ghl).account.deleted_answer),
    }
}

/// `POST /contacts/{id}/tags` → 201 `{"tags": [every tag after]}`; `ContactTagUpdate` (and
/// the workflow) only when a tag was new.
pub(crate) async fn add_tags(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    guarded(&st, &headers, || {
        let tags = match tags_body(&body) {
            Ok(t) => t,
            Err(r) => return r.into_response(),
        };
        let added = lock(&st.ghl).add_tags(&id, &tags, &st.cfg.workflow_trigger_tag);
        tags_answer(&st, StatusCode::CREATED, added)
    })
}

/// `DELETE /contacts/{id}/tags` → 200 `{"tags": [every tag after]}`.
pub(crate) async fn remove_tags(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    guarded(&st, &headers, || {
        let tags = match tags_body(&body) {
            Ok(t) => t,
            Err(r) => return r.into_response(),
        };
        let removed = lock(&st.ghl).remove_tags(&id, &tags);
        tags_answer(&st, StatusCode::OK, removed)
    })
}

/// `POST /contacts/{id}/notes` → 201 `{"note": {...}}`; the contact itself does not change.
pub(crate) async fn create_note(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    guarded(&st, &headers, || {
        let (text, user_id) = match note_body(&body) {
            Ok(n) => n,
            Err(r) => return r.into_response(),
        };
        let mut ghl = lock(&st.ghl);
        if ghl.get(&id).is_none() {
            return unknown_contact(ghl.account.deleted_answer);
        }
        let at = ghl.account.now_ms();
        let note = ghl.notes.add(&id, text, user_id, at);
        let body = json!({ "note": note.json(), "traceId": uuid_v4() });
        (StatusCode::CREATED, Json(body)).into_response()
    })
}

/// `GET /contacts/{id}/notes` → `{"notes": [...]}`, oldest first.
pub(crate) async fn list_notes(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    guarded(&st, &headers, || {
        let ghl = lock(&st.ghl);
        if ghl.get(&id).is_none() {
            return unknown_contact(ghl.account.deleted_answer);
        }
        Json(json!({ "notes": ghl.notes.of(&id), "traceId": uuid_v4() })).into_response()
    })
}

/// Sets or replaces each posted custom field by id; the others stay.
fn merged(current: Option<&Vec<CustomField>>, posted: Vec<CustomField>) -> Vec<CustomField> {
    let mut all = current.cloned().unwrap_or_default();
    for field in posted {
        match all.iter_mut().find(|f| f.id == field.id) {
            Some(have) => have.value = field.value,
            None => all.push(field),
        }
    }
    all
}

/// `PUT /contacts/{id}` → 200 `{"succeded": true, "contact": <as GET renders it>}` (GHL's
/// spelling). Each kind of change raises its own webhook — `ContactUpdate` for fields and custom
/// fields, `ContactDndUpdate` for DND, `ContactTagUpdate` for tags, which the list replaces —
/// and every webhook of one write carries the contact as the whole write left it.
pub(crate) async fn update_contact(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    guarded(&st, &headers, || {
        let mut update = match update_body(&body) {
            Ok(u) => u,
            Err(r) => return r.into_response(),
        };
        let mut ghl = lock(&st.ghl);
        let Some(current) = ghl.get(&id) else {
            return unknown_contact(ghl.account.deleted_answer);
        };
        if !update.custom_fields.is_empty() {
            let posted = std::mem::take(&mut update.custom_fields);
            update.fields.custom_fields =
                Some(merged(current.fields.custom_fields.as_ref(), posted));
        }
        let mut events = Vec::new();
        if update.fields != ContactFields::default()
            && let Some((_, raised)) = ghl.update(&id, update.fields)
        {
            events.extend(raised);
        }
        if update.dnd.is_some() || !update.dnd_settings.is_empty() {
            let change = DndChange {
                dnd: update.dnd,
                settings: update.dnd_settings,
                replace: ghl.account.dnd_update == super::account::DndUpdate::Replace,
                webhook: true,
            };
            if let Some((_, raised)) = ghl.set_dnd(&id, change) {
                events.extend(raised);
            }
        }
        if let Some(tags) = &update.tags
            && let Some((_, raised)) = ghl.replace_tags(&id, tags, &st.cfg.workflow_trigger_tag)
        {
            events.extend(raised);
        }
        let Some(after) = ghl.get(&id).cloned() else {
            return unknown_contact(ghl.account.deleted_answer);
        };
        for event in &mut events {
            match event {
                Event::Marketplace { contact, .. } | Event::Workflow { contact } => {
                    *contact = after.clone();
                }
            }
        }
        let mut contact = after.api_json();
        ghl.account.shape(&mut contact);
        drop(ghl);
        let body = json!({ "succeded": true, "contact": contact, "traceId": uuid_v4() });
        answer_then_send(&st, StatusCode::OK, body, events)
    })
}
