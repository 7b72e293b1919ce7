//! The CallTools contact write schema (§5.3) and its Django REST Framework validation: known
//! fields are type-checked, unknown keys are silently dropped, and every problem is reported
//! at once as `{"field": ["message", …]}` with a 400.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::calltools::validate::{INVALID_PHONE, email_is_valid, phone_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Phone,
    Email,
    Bool,
}

/// The generic contact schema plus the account-specific phone/email fields T-repo and
/// nba-supabase-backend write (§5.3). Anything else, custom fields included, is dropped: the
/// sandbox account has no custom fields configured.
pub(crate) const FIELDS: &[(&str, Kind)] = &[
    ("first_name", Kind::Text),
    ("last_name", Kind::Text),
    ("mobile_phone_number", Kind::Phone),
    ("home_phone_number", Kind::Phone),
    ("office_phone_number", Kind::Phone),
    ("email", Kind::Email),
    ("personal_email_address", Kind::Email),
    ("address", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("zip_code", Kind::Text),
    ("county", Kind::Text),
    ("country", Kind::Text),
    ("time_zone", Kind::Text),
    ("status", Kind::Text),
    ("do_not_contact", Kind::Bool),
    ("ready", Kind::Bool),
];

pub(crate) type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Text(String),
    Bool(bool),
}

/// A validated create/PATCH body. Relation ids are syntactically valid here; whether they
/// exist is the store's check.
#[derive(Debug, Default)]
pub(crate) struct ContactWrite {
    pub fields: Vec<(&'static str, FieldValue)>,
    pub tags: Option<Vec<i64>>,
    pub add_tags: Vec<i64>,
    pub remove_tags: Vec<i64>,
    pub buckets: Option<Vec<i64>>,
    pub add_buckets: Vec<i64>,
    pub remove_buckets: Vec<i64>,
    pub remove_from_other_buckets_on_add: bool,
}

impl ContactWrite {
    /// The E.164 numbers this write sets (blank ones excluded), for duplicate matching.
    pub fn phones(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(name, _)| kind_of(name) == Some(Kind::Phone))
            .filter_map(|(_, v)| match v {
                FieldValue::Text(s) if !s.is_empty() => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
}

pub(crate) fn kind_of(name: &str) -> Option<Kind> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Validates a JSON object as CallTools would. `reject_phones` is the fault list of numbers a
/// carrier check refuses even though they look valid.
pub(crate) fn parse_write(
    body: &Map<String, Value>,
    reject_phones: &[String],
) -> Result<ContactWrite, FieldErrors> {
    let mut write = ContactWrite::default();
    let mut errors = FieldErrors::new();
    for &(name, kind) in FIELDS {
        let Some(value) = body.get(name) else {
            continue;
        };
        match parse_field(name, kind, value, reject_phones) {
            Ok(v) => write.fields.push((name, v)),
            Err(msg) => {
                errors.insert(name.to_owned(), vec![msg]);
            }
        }
    }
    let mut ids = |key: &str| -> Option<Vec<i64>> {
        let value = body.get(key)?;
        match pk_list(value) {
            Ok(ids) => Some(ids),
            Err(msg) => {
                errors.insert(key.to_owned(), vec![msg]);
                None
            }
        }
    };
    write.tags = ids("tags");
    write.add_tags = ids("add_tags").unwrap_or_default();
    write.remove_tags = ids("remove_tags").unwrap_or_default();
    write.buckets = ids("buckets");
    write.add_buckets = ids("add_buckets").unwrap_or_default();
    write.remove_buckets = ids("remove_buckets").unwrap_or_default();
    if let Some(v) = body.get("remove_from_other_buckets_on_add") {
        match parse_bool(v) {
            Ok(b) => write.remove_from_other_buckets_on_add = b,
            Err(msg) => {
                errors.insert("remove_from_other_buckets_on_add".to_owned(), vec![msg]);
            }
        }
    }
    if errors.is_empty() {
        Ok(write)
    } else {
        Err(errors)
    }
}

fn parse_field(
    name: &str,
    kind: Kind,
    value: &Value,
    reject_phones: &[String],
) -> Result<FieldValue, String> {
    if kind == Kind::Bool {
        return parse_bool(value).map(FieldValue::Bool);
    }
    let text = parse_text(value)?;
    match kind {
        Kind::Phone if phone_error(&text).is_some() || reject_phones.contains(&text) => {
            Err(INVALID_PHONE.to_owned())
        }
        // The wording CallTools was seen to use (§5.7), grammar included.
        Kind::Email if !text.is_empty() && !email_is_valid(&text) => Err(format!(
            "{text} is a invalid email address for field {name}"
        )),
        _ => Ok(FieldValue::Text(text)),
    }
}

/// DRF `CharField`: strings, and numbers coerced to strings; a boolean is refused (§5.7:
/// "CallTools rejects booleans" for string fields).
fn parse_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err("This field may not be null.".to_owned()),
        _ => Err("Not a valid string.".to_owned()),
    }
}

/// DRF `BooleanField`, including the strings and numbers it accepts.
fn parse_bool(value: &Value) -> Result<bool, String> {
    const TRUE: &[&str] = &[
        "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
    ];
    const FALSE: &[&str] = &[
        "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
    ];
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if TRUE.contains(&s.as_str()) => Ok(true),
        Value::String(s) if FALSE.contains(&s.as_str()) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Null => Err("This field may not be null.".to_owned()),
        _ => Err("Must be a valid boolean.".to_owned()),
    }
}

/// DRF `PrimaryKeyRelatedField(many=True)` syntax: a list of integer ids (digit strings pass).
pub(crate) fn pk_list(value: &Value) -> Result<Vec<i64>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "Expected a list of items but got type \"{}\".",
            python_type(value)
        ));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Number(n) if n.is_i64() => n.as_i64().ok_or_else(|| incorrect_pk(item)),
            Value::String(s) => s
                .parse()
                .map_err(|_| format!("Invalid pk \"{s}\" - object does not exist.")),
            _ => Err(incorrect_pk(item)),
        })
        .collect()
}

fn incorrect_pk(item: &Value) -> String {
    format!(
        "Incorrect type. Expected pk value, received {}.",
        python_type(item)
    )
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<ContactWrite, FieldErrors> {
        parse_write(v.as_object().unwrap(), &[])
    }

    #[test]
    fn unknown_keys_are_dropped_and_blanks_kept() {
        let w = parse(json!({"first_name": "", "phone_number": "+17864771573", "crm_id": "x"}))
            .unwrap();
        assert_eq!(
            w.fields,
            vec![("first_name", FieldValue::Text(String::new()))]
        );
    }

    #[test]
    fn all_errors_are_reported_together() {
        let e = parse(json!({
            "first_name": true,
            "email": "a@gmal..com",
            "mobile_phone_number": "+12222222222",
            "add_buckets": [true],
            "tags": "5",
        }))
        .unwrap_err();
        assert_eq!(e["first_name"], ["Not a valid string."]);
        assert_eq!(
            e["email"],
            ["a@gmal..com is a invalid email address for field email"]
        );
        assert_eq!(e["mobile_phone_number"], [INVALID_PHONE]);
        assert_eq!(
            e["add_buckets"],
            ["Incorrect type. Expected pk value, received bool."]
        );
        assert_eq!(
            e["tags"],
            ["Expected a list of items but got type \"str\"."]
        );
    }
}
