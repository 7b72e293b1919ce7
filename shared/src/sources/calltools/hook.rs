//! CallTools' objects as its REST hooks post them, which is also how `GET /api/<model>/{id}/`
//! returns them (research §5.8). Only the fields leadsync acts on are read, leniently: the
//! object's shape beyond `id` is not documented (research marks it unconfirmed), so a field may
//! be a number or an object with an `id`, and a missing one reads as absent.

use serde_json::Value;

use crate::domain::call::CallOutcome;

/// The REST hook models leadsync subscribes to, as the subscription URL names them
/// (`?model=call`) and as CallTools spells them (`resthook_model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookModel {
    /// A call, posted when it is made and again when it changes (its disposition).
    Call,
    /// A contact, posted on every change (leadsync's own writes included).
    Contact,
}

impl HookModel {
    pub const ALL: [HookModel; 2] = [HookModel::Call, HookModel::Contact];

    /// The `model` query parameter of the subscription URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Contact => "contact",
        }
    }

    /// The `resthook_model` CallTools subscribes it under.
    pub fn resthook_model(self) -> &'static str {
        match self {
            Self::Call => "Call",
            Self::Contact => "Contact",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What a hook body says, before anything is read again: which object, whose, and the one
/// field that decides whether reading it is worth a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooked {
    pub model: HookModel,
    pub object_id: i64,
    /// The CallTools contact the object is about.
    pub contact_id: i64,
    /// Call: the disposition's id, if one was chosen. Contact: unused.
    pub disposition_id: Option<i64>,
    /// Contact: its `do_not_contact` as posted. Call: whether the disposition was posted at all.
    pub flagged: bool,
    /// Call: whether a recording link was posted (it may come in a later post of the call).
    pub recorded: bool,
}

/// Reads a hook body for `model`; the error says what is missing.
pub fn parse_hook(model: HookModel, body: &[u8]) -> Result<Hooked, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    hooked(model, &v)
}

/// What an object (a hook's body, a listed call) names; the error says what is missing.
pub fn hooked(model: HookModel, v: &Value) -> Result<Hooked, String> {
    let object_id = id_of(v.get("id")).ok_or("the body has no integer id")?;
    match model {
        HookModel::Call => {
            let contact_id =
                id_of(v.get("contact")).ok_or("the call has no contact id (`contact`)")?;
            let disposition = v.get("disposition").filter(|d| !d.is_null());
            Ok(Hooked {
                model,
                object_id,
                contact_id,
                disposition_id: disposition.and_then(|d| id_of(Some(d))),
                flagged: disposition.is_some(),
                recorded: text_of(v.get("recording_url")).is_some(),
            })
        }
        HookModel::Contact => Ok(Hooked {
            model,
            object_id,
            contact_id: object_id,
            disposition_id: None,
            flagged: v.get("do_not_contact").and_then(Value::as_bool) == Some(true),
            recorded: false,
        }),
    }
}

/// An id given as a number, a numeric string, or an object with one of those as `id`.
fn id_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => id_of(o.get("id")),
        _ => None,
    }
}

fn text_of(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A call as `GET /api/calls/{id}/` answered it: the contact it was made to and its outcome.
pub fn parse_call(v: &Value) -> Result<(i64, CallOutcome), String> {
    let call_id = id_of(v.get("id")).ok_or("the call has no integer id")?;
    let contact = id_of(v.get("contact")).ok_or("the call has no contact id")?;
    let disposition = v.get("disposition").filter(|d| !d.is_null());
    let (name, is_dnc) = match disposition {
        Some(Value::Object(d)) => (
            text_of(d.get("name")),
            d.get("is_dnc").and_then(Value::as_bool) == Some(true),
        ),
        Some(Value::String(s)) => (text_of(Some(&Value::String(s.clone()))), false),
        _ => (None, false),
    };
    let agent = v.get("user").filter(|u| !u.is_null()).and_then(|u| {
        let first = text_of(u.get("first_name"));
        let last = text_of(u.get("last_name"));
        match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n),
            (None, None) => text_of(u.get("username")),
        }
    });
    let duration_secs = match v.get("duration") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0).max(0.0).round() as u32,
        Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(0.0).max(0.0).round() as u32,
        _ => 0,
    };
    let started_at_ms = v
        .get("start_time")
        .and_then(Value::as_str)
        .and_then(parse_datetime_ms)
        .ok_or("the call has no readable start_time")?;
    Ok((
        contact,
        CallOutcome {
            call_id,
            disposition: name,
            disposition_id: disposition.and_then(|d| id_of(Some(d))),
            disposition_is_dnc: is_dnc,
            agent,
            duration_secs,
            started_at_ms,
            recording_url: text_of(v.get("recording_url")),
        },
    ))
}

/// Whether a contact as `GET /api/contacts/{id}/` answered it is marked do-not-contact.
pub fn contact_do_not_contact(v: &Value) -> bool {
    v.get("do_not_contact").and_then(Value::as_bool) == Some(true)
}

/// CallTools' datetimes: `YYYY-MM-DD HH:MM:SS`, UTC (research §5.1); RFC 3339 is read too.
pub fn parse_datetime_ms(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let s = s.trim();
    let naive = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = match time::PrimitiveDateTime::parse(s, naive) {
        Ok(t) => t.assume_utc(),
        Err(_) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?
        }
    };
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for epoch ms: how CallTools filters take a time.
pub fn format_datetime(ms: i64) -> String {
    use time::macros::format_description;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CALL: &str = r#"{"id": 5001, "contact": 123,
        "disposition": {"id": 3, "name": "Not Interested", "is_dnc": false},
        "user": {"id": 7, "username": "agent.smith", "first_name": "Agent", "last_name": "Smith"},
        "duration": 42, "start_time": "2026-12-06 07:30:00", "end_time": "2026-12-06 07:30:42",
        "recording_url": "https://silo.example/rec/5001.mp3", "direction": "outbound"}"#;

    #[test]
    fn a_call_hook_names_the_call_its_contact_and_its_disposition() {
        let h = parse_hook(HookModel::Call, CALL.as_bytes()).unwrap();
        assert_eq!(
            h,
            Hooked {
                model: HookModel::Call,
                object_id: 5001,
                contact_id: 123,
                disposition_id: Some(3),
                flagged: true,
                recorded: true,
            }
        );
        let undecided = br#"{"id": 5002, "contact": {"id": 123}, "disposition": null,
                             "recording_url": null}"#;
        let h = parse_hook(HookModel::Call, undecided).unwrap();
        assert_eq!(
            (h.contact_id, h.disposition_id, h.flagged, h.recorded),
            (123, None, false, false)
        );
    }

    #[test]
    fn a_body_without_the_ids_is_refused_with_what_is_missing() {
        let err = parse_hook(HookModel::Call, br#"{"id": 1}"#).unwrap_err();
        assert!(err.contains("contact"), "{err}");
        let err = parse_hook(HookModel::Contact, br#"{"first_name": "x"}"#).unwrap_err();
        assert!(err.contains("id"), "{err}");
        assert!(parse_hook(HookModel::Call, b"not json").is_err());
    }

    #[test]
    fn a_contact_hook_says_whether_it_is_flagged() {
        let h = parse_hook(HookModel::Contact, br#"{"id": 9, "do_not_contact": true}"#).unwrap();
        assert_eq!((h.contact_id, h.flagged), (9, true));
        let h = parse_hook(HookModel::Contact, br#"{"id": 9, "do_not_contact": null}"#).unwrap();
        assert!(!h.flagged);
    }

    #[test]
    fn a_read_call_gives_its_outcome() {
        let v: Value = serde_json::from_str(CALL).unwrap();
        let (contact, call) = parse_call(&v).unwrap();
        assert_eq!(contact, 123);
        assert_eq!(call.call_id, 5001);
        assert_eq!(call.disposition.as_deref(), Some("Not Interested"));
        assert!(!call.disposition_is_dnc);
        assert_eq!(call.agent.as_deref(), Some("Agent Smith"));
        assert_eq!(call.duration_secs, 42);
        assert_eq!(format_datetime(call.started_at_ms), "2026-12-06 07:30:00");
        assert_eq!(
            call.recording_url.as_deref(),
            Some("https://silo.example/rec/5001.mp3")
        );
    }

    #[test]
    fn nulls_read_as_absent_and_a_call_without_a_start_is_refused() {
        let v = json!({"id": 1, "contact": 2, "disposition": null, "user": null, "duration": null,
                       "start_time": "2026-12-06T07:30:00Z", "recording_url": null});
        let (_, call) = parse_call(&v).unwrap();
        assert_eq!(
            (
                call.disposition,
                call.agent,
                call.duration_secs,
                call.recording_url
            ),
            (None, None, 0, None)
        );
        assert!(parse_call(&json!({"id": 1, "contact": 2, "start_time": null})).is_err());
    }
}
