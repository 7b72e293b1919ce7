//! GoHighLevel's contact writes (API v2): `POST`/`DELETE /contacts/{id}/tags`,
//! `POST`/`GET /contacts/{id}/notes` and `PUT /contacts/{id}`. They pass the same token, rate
//! limit and `Version` checks as the reads, and raise the webhooks the admin writes raise.
//! Bodies are validated like GHL's NestJS pipes: an unknown property, a wrong type or an empty
//! note is a 422 listing every message, before the contact is even looked up.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Map, Value, json};

use crate::delivery::ghl::dispatch;
use crate::ghl::account::ReadAnswer;
use crate::ghl::api::{error, guarded};
use crate::ghl::store::{
    ContactFields, CustomField, DND_CHANNELS, DND_STATUSES, DndChange, DndSetting, Event,
    GhlContact,
};
use crate::state::AppState;
use crate::support::{lock, uuid_v4};

/// The plain string fields `PUT /contacts/{id}` takes beside `customFields`, `dnd`,
/// `dndSettings` and `tags`.
const PLAIN_FIELDS: [&str; 15] = [
    "firstName",
    "lastName",
    "email",
    "phone",
    "companyName",
    "address1",
    "city",
    "state",
    "country",
    "postalCode",
    "website",
    "timezone",
    "source",
    "assignedTo",
    "dateOfBirth",
];

/// The messages of a refused body, GHL's 422.
type Messages = Vec<String>;

fn unprocessable(messages: Messages) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!(messages),
        Some("Unprocessable Entity"),
    )
}

/// Writes always answer 404 for a contact that does not exist, whatever the account's
/// `deleted_answer` makes the read say (the contract leadsync was written against).
fn unknown_contact() -> Response {
    let (status, message, kind) = ReadAnswer::NotFound404.answer();
    error(status, message, Some(kind))
}

/// Why a write's body was refused before the contact was looked up.
enum Refused {
    /// Not a JSON object.
    Unparsable,
    /// GHL's 422 with every validation message.
    Unprocessable(Messages),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unparsable => error(
                StatusCode::BAD_REQUEST,
                json!("Unexpected token in JSON"),
                Some("Bad Request"),
            ),
            Refused::Unprocessable(messages) => unprocessable(messages),
        }
    }
}

/// A JSON object body; no body at all is `{}`, as Express' JSON parser leaves it.
fn object(body: &Bytes) -> Result<Map<String, Value>, Refused> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refused::Unparsable),
    }
}

/// NestJS' `forbidNonWhitelisted`: every property not in `allowed` is named.
fn unknown_properties(map: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Messages {
    map.keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("{prefix}property {k} should not exist"))
        .collect()
}

fn string_list(value: Option<&Value>, name: &str) -> Result<Vec<String>, Messages> {
    let Some(Value::Array(items)) = value else {
        return Err(vec![format!("{name} must be an array")]);
    };
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| vec![format!("each value in {name} must be a string")])
}

/// `{"tags": [...]}`, the body of both tag calls.
fn tags_body(body: &Bytes) -> Result<Vec<String>, Refused> {
    let map = object(body)?;
    let mut messages = unknown_properties(&map, &["tags"], "");
    match string_list(map.get("tags"), "tags") {
        Ok(tags) if messages.is_empty() => Ok(tags),
        Ok(_) => Err(Refused::Unprocessable(messages)),
        Err(more) => {
            messages.extend(more);
            Err(Refused::Unprocessable(messages))
        }
    }
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
        None => unknown_contact(),
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

/// `{"body": "...", "userId": "..."}`; only an empty or missing `body` is refused
/// (class-validator's `IsNotEmpty`: blanks pass).
fn note_body(body: &Bytes) -> Result<(String, Option<String>), Refused> {
    let map = object(body)?;
    let mut messages = unknown_properties(&map, &["body", "userId"], "");
    let text = match map.get("body") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            messages.push("body should not be empty".to_owned());
            None
        }
        Some(_) => {
            messages.push("body must be a string".to_owned());
            None
        }
    };
    let user_id = match map.get("userId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            messages.push("userId must be a string".to_owned());
            None
        }
    };
    match text {
        Some(text) if messages.is_empty() => Ok((text, user_id)),
        _ => Err(Refused::Unprocessable(messages)),
    }
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
            return unknown_contact();
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
            return unknown_contact();
        }
        Json(json!({ "notes": ghl.notes.of(&id), "traceId": uuid_v4() })).into_response()
    })
}

/// A validated `PUT /contacts/{id}` body.
#[derive(Debug, Default)]
struct ContactUpdate {
    /// The plain fields; `custom_fields` is filled in against the contact's current ones.
    fields: ContactFields,
    custom_fields: Vec<CustomField>,
    dnd: Option<bool>,
    dnd_settings: BTreeMap<String, DndSetting>,
    tags: Option<Vec<String>>,
}

fn update_body(body: &Bytes) -> Result<ContactUpdate, Refused> {
    let mut map = object(body)?;
    let special = ["customFields", "dndSettings", "dnd", "tags"];
    let allowed: Vec<&str> = PLAIN_FIELDS.iter().chain(&special).copied().collect();
    let mut messages = unknown_properties(&map, &allowed, "");
    let mut update = ContactUpdate::default();
    if let Some(v) = map.remove("customFields") {
        match custom_fields(&v) {
            Ok(fields) => update.custom_fields = fields,
            Err(more) => messages.extend(more),
        }
    }
    if let Some(v) = map.remove("dndSettings") {
        match dnd_settings(&v) {
            Ok(settings) => update.dnd_settings = settings,
            Err(more) => messages.extend(more),
        }
    }
    match map.remove("dnd") {
        None => {}
        Some(Value::Bool(b)) => update.dnd = Some(b),
        Some(_) => messages.push("dnd must be a boolean value".to_owned()),
    }
    if let Some(v) = map.remove("tags") {
        match string_list(Some(&v), "tags") {
            Ok(tags) => update.tags = Some(tags),
            Err(more) => messages.extend(more),
        }
    }
    map.retain(|k, _| PLAIN_FIELDS.contains(&k.as_str()));
    for (k, v) in &map {
        if !v.is_string() {
            messages.push(format!("{k} must be a string"));
        }
    }
    if !messages.is_empty() {
        return Err(Refused::Unprocessable(messages));
    }
    update.fields = serde_json::from_value(Value::Object(map))
        .map_err(|e| Refused::Unprocessable(vec![e.to_string()]))?;
    Ok(update)
}

/// `[{"id": "...", "key": "...", "field_value": "..." | 12}]`. The `id` names the field; a
/// `key` is accepted beside it but cannot stand alone: the sandbox's location defines no custom
/// fields to resolve a key against.
fn custom_fields(value: &Value) -> Result<Vec<CustomField>, Messages> {
    let Value::Array(items) = value else {
        return Err(vec!["customFields must be an array".to_owned()]);
    };
    let mut messages = Messages::new();
    let mut fields = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            messages.push(format!("customFields.{i} must be an object"));
            continue;
        };
        let prefix = format!("customFields.{i}.");
        messages.extend(unknown_properties(
            entry,
            &["id", "key", "field_value"],
            &prefix,
        ));
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if id.is_none() {
            messages.push(format!("{prefix}id should not be empty"));
        }
        let value = entry
            .get("field_value")
            .filter(|v| v.is_string() || v.is_number());
        if value.is_none() {
            messages.push(format!("{prefix}field_value must be a string or a number"));
        }
        if let (Some(id), Some(value)) = (id, value) {
            fields.push(CustomField {
                id: id.to_owned(),
                value: value.clone(),
            });
        }
    }
    if messages.is_empty() {
        Ok(fields)
    } else {
        Err(messages)
    }
}

fn dnd_settings(value: &Value) -> Result<BTreeMap<String, DndSetting>, Messages> {
    let Value::Object(channels) = value else {
        return Err(vec!["dndSettings must be an object".to_owned()]);
    };
    let mut messages = unknown_properties(channels, &DND_CHANNELS, "dndSettings.");
    let mut settings = BTreeMap::new();
    for (channel, setting) in channels {
        if !DND_CHANNELS.contains(&channel.as_str()) {
            continue;
        }
        match serde_json::from_value::<DndSetting>(setting.clone()) {
            Ok(s) if DND_STATUSES.contains(&s.status.as_str()) => {
                settings.insert(channel.clone(), s);
            }
            Ok(_) => messages.push(format!(
                "dndSettings.{channel}.status must be one of the following values: {}",
                DND_STATUSES.join(", ")
            )),
            Err(e) => messages.push(format!("dndSettings.{channel}: {e}")),
        }
    }
    if messages.is_empty() {
        Ok(settings)
    } else {
        Err(messages)
    }
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
            return unknown_contact();
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
            return unknown_contact();
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
