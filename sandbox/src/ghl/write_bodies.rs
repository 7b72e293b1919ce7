//! How GoHighLevel's NestJS pipes read the bodies of its contact writes: a JSON object (else a
//! 400), no property it does not know, each of the right type, a note not empty. A refused body
//! is a 422 listing every message at once, before the contact is even looked up.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::ghl::api::error;
use crate::ghl::store::{ContactFields, CustomField, DND_CHANNELS, DND_STATUSES, DndSetting};

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

/// Why a write's body was refused before the contact was looked up.
pub(crate) enum Refused {
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
pub(crate) fn tags_body(body: &Bytes) -> Result<Vec<String>, Refused> {
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

/// `{"body": "...", "userId": "..."}`; only an empty or missing `body` is refused
/// (class-validator's `IsNotEmpty`: blanks pass).
pub(crate) fn note_body(body: &Bytes) -> Result<(String, Option<String>), Refused> {
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

/// A validated `PUT /contacts/{id}` body.
#[derive(Debug, Default)]
pub(crate) struct ContactUpdate {
    /// The plain fields; `custom_fields` is filled in against the contact's current ones.
    pub fields: ContactFields,
    pub custom_fields: Vec<CustomField>,
    pub dnd: Option<bool>,
    pub dnd_settings: BTreeMap<String, DndSetting>,
    pub tags: Option<Vec<String>>,
}

pub(crate) fn update_body(body: &Bytes) -> Result<ContactUpdate, Refused> {
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
