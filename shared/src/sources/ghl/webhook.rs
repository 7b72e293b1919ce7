//! GoHighLevel webhook bodies: the Marketplace contact events and the workflow Custom Webhook.
//!
//! Only the fields routing needs are read here; the consumer re-reads the contact from the API,
//! and the body travels on unchanged as the job's payload.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sources::ghl::job::GhlTrigger;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("the body has no {0}")]
    Missing(&'static str),
    #[error("the body's {0} is not valid")]
    Invalid(&'static str),
}

/// A parsed Marketplace webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketplaceEvent {
    Contact(MarketplaceContactEvent),
    /// An event type leadsync does not act on (notes, tasks, opportunities…).
    Other {
        event_type: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketplaceContactEvent {
    pub trigger: GhlTrigger,
    pub location_id: String,
    pub contact_id: String,
    pub webhook_id: Option<String>,
    /// The envelope `timestamp`, epoch ms.
    pub timestamp_ms: Option<i64>,
    /// The Marketplace app the webhook was sent for, when the body says.
    pub app_id: Option<String>,
}

#[derive(Deserialize)]
struct MarketplaceHead<'a> {
    #[serde(rename = "type", borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(rename = "locationId", borrow)]
    location_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "webhookId", borrow)]
    webhook_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Timestamp<'a>>,
    #[serde(rename = "appId", borrow)]
    app_id: Option<Cow<'a, str>>,
}

/// The envelope `timestamp`: a number (seconds or milliseconds) or an ISO-8601 string.
enum Timestamp<'a> {
    Millis(i64),
    Text(Cow<'a, str>),
}

/// By hand rather than `#[serde(untagged)]`, which buffers the value and builds (and throws
/// away) a formatted error for the number variant on every string timestamp — GoHighLevel's
/// usual form. Same inputs accepted, same ones refused.
impl<'de: 'a, 'a> Deserialize<'de> for Timestamp<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for TimestampVisitor<'a> {
            type Value = Timestamp<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp as a number or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Timestamp::Millis(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Timestamp::Millis)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Timestamp::Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Timestamp::Text(Cow::Owned(v.to_owned())))
            }
        }

        deserializer.deserialize_any(TimestampVisitor(PhantomData))
    }
}

pub fn parse_marketplace(body: &[u8]) -> Result<MarketplaceEvent, PayloadError> {
    let head: MarketplaceHead =
        serde_json::from_str(utf8(body)?).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let event_type = non_empty(head.event_type).ok_or(PayloadError::Missing("type"))?;
    let Some(trigger) = GhlTrigger::from_event_type(&event_type) else {
        return Ok(MarketplaceEvent::Other {
            event_type: event_type.chars().take(64).collect(),
        });
    };
    let location_id = valid_id(head.location_id, "locationId")?;
    let contact_id = valid_id(head.id, "id")?;
    let webhook_id = match head.webhook_id {
        Some(id) if !id.trim().is_empty() => Some(valid_id(Some(id), "webhookId")?),
        _ => None,
    };
    let timestamp_ms = head.timestamp.map(parse_timestamp).transpose()?;
    let app_id = match head.app_id {
        Some(id) if !id.trim().is_empty() => Some(valid_id(Some(id), "appId")?),
        _ => None,
    };
    Ok(MarketplaceEvent::Contact(MarketplaceContactEvent {
        trigger,
        location_id,
        contact_id,
        webhook_id,
        timestamp_ms,
        app_id,
    }))
}

/// A workflow Custom Webhook: the contact id and, when the body has it, the location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowEvent {
    pub contact_id: String,
    pub location_id: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowBody<'a> {
    #[serde(borrow)]
    contact_id: Option<Cow<'a, str>>,
    #[serde(rename = "customData", borrow)]
    custom_data: Option<WorkflowIds<'a>>,
    #[serde(borrow)]
    location: Option<WorkflowLocation<'a>>,
    #[serde(rename = "locationId", borrow)]
    location_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WorkflowIds<'a> {
    #[serde(alias = "contactID", alias = "contactId", borrow)]
    contact_id: Option<Cow<'a, str>>,
    #[serde(alias = "locationId", alias = "locationID", borrow)]
    location_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WorkflowLocation<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

/// Reads a workflow webhook. The contact id is `contact_id`, else `customData.contact_id`
/// (`contactID`/`contactId`); never the top-level `id`, which is the workflow event's own id.
pub fn parse_workflow(body: &[u8]) -> Result<WorkflowEvent, PayloadError> {
    let wf: WorkflowBody =
        serde_json::from_str(utf8(body)?).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let (custom_contact, custom_location) = match wf.custom_data {
        Some(ids) => (ids.contact_id, ids.location_id),
        None => (None, None),
    };
    let contact_id = valid_id(
        non_empty(wf.contact_id).or(non_empty(custom_contact)),
        "contact_id",
    )?;
    let location = non_empty(wf.location.and_then(|l| l.id))
        .or(non_empty(wf.location_id))
        .or(non_empty(custom_location));
    let location_id = location
        .map(|l| valid_id(Some(l), "location.id"))
        .transpose()?;
    Ok(WorkflowEvent {
        contact_id,
        location_id,
    })
}

/// The whole body must be UTF-8, as JSON requires — not only the fields read here: the body
/// travels on as the job's payload, and the parser skips the fields it does not read unchecked.
/// One check of the whole body also costs less than serde_json checking every string it reads.
fn utf8(body: &[u8]) -> Result<&str, PayloadError> {
    std::str::from_utf8(body)
        .map_err(|e| PayloadError::NotJson(format!("the body is not UTF-8: {e}")))
}

fn non_empty(value: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    value.filter(|v| !v.trim().is_empty())
}

/// GHL ids are short alphanumeric strings; anything else (a path, a huge string) is refused
/// before it reaches a DynamoDB key or an API URL.
fn valid_id(value: Option<Cow<'_, str>>, field: &'static str) -> Result<String, PayloadError> {
    let value = non_empty(value).ok_or(PayloadError::Missing(field))?;
    let value = value.trim();
    let ok = value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(PayloadError::Invalid(field))
    }
}

fn parse_timestamp(ts: Timestamp<'_>) -> Result<i64, PayloadError> {
    match ts {
        // Numbers this large are milliseconds; smaller ones are seconds.
        Timestamp::Millis(n) if n > 100_000_000_000 => Ok(n),
        Timestamp::Millis(n) => Ok(n.saturating_mul(1000)),
        Timestamp::Text(s) => parse_iso_ms(&s).ok_or(PayloadError::Invalid("timestamp")),
    }
}

/// RFC 3339 / ISO-8601 timestamp (`2025-01-28T14:35:00.123Z`) to epoch milliseconds.
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_contact_tag_update() {
        let body = br#"{"type":"ContactTagUpdate","locationId":"ve9EPM428h8vShlRW1KT","id":"nmFmQEsNgz6AVpgLVUJ0",
            "tags":["cold lead"],"timestamp":"2025-01-28T14:35:00Z","webhookId":"abc123xyz","phone":"+919509597501"}"#;
        let MarketplaceEvent::Contact(e) = parse_marketplace(body).unwrap() else {
            panic!("contact event expected")
        };
        assert_eq!(e.trigger, GhlTrigger::ContactTagUpdate);
        assert_eq!(e.location_id, "ve9EPM428h8vShlRW1KT");
        assert_eq!(e.contact_id, "nmFmQEsNgz6AVpgLVUJ0");
        assert_eq!(e.webhook_id.as_deref(), Some("abc123xyz"));
        assert_eq!(e.timestamp_ms, Some(1_738_074_900_000));
    }

    #[test]
    fn null_fields_in_webhook_bodies_read_as_absent() {
        let body = br#"{"type":"ContactUpdate","locationId":"L1","id":"C1","tags":null,"email":null,
            "phone":null,"firstName":null,"name":null,"dnd":null,"timestamp":null,"webhookId":null}"#;
        let MarketplaceEvent::Contact(e) = parse_marketplace(body).unwrap() else {
            panic!("contact event expected")
        };
        assert_eq!((e.webhook_id, e.timestamp_ms), (None, None));
        let wf = parse_workflow(
            br#"{"contact_id":"C1","first_name":null,"tags":null,"location":null,"locationId":"L1","customData":null}"#,
        )
        .unwrap();
        assert_eq!(wf.location_id.as_deref(), Some("L1"));
    }

    #[test]
    fn all_five_contact_event_types_are_acted_on() {
        for t in [
            "ContactCreate",
            "ContactUpdate",
            "ContactDelete",
            "ContactTagUpdate",
            "ContactDndUpdate",
        ] {
            let body = format!(r#"{{"type":"{t}","locationId":"L1","id":"C1"}}"#);
            assert!(
                matches!(
                    parse_marketplace(body.as_bytes()),
                    Ok(MarketplaceEvent::Contact(_))
                ),
                "{t}"
            );
        }
    }

    #[test]
    fn other_event_types_are_recognised_as_such() {
        let e = parse_marketplace(br#"{"type":"NoteCreate","locationId":"L1"}"#).unwrap();
        assert_eq!(
            e,
            MarketplaceEvent::Other {
                event_type: "NoteCreate".into()
            }
        );
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        assert!(matches!(
            parse_marketplace(b""),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse_marketplace(b"[1,2]"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse_marketplace(b"\xff\xfe{}"),
            Err(PayloadError::NotJson(_))
        ));
        assert_eq!(parse_marketplace(b"{}"), Err(PayloadError::Missing("type")));
        assert_eq!(
            parse_marketplace(br#"{"type":"ContactCreate","locationId":"L"}"#),
            Err(PayloadError::Missing("id"))
        );
        assert_eq!(
            parse_marketplace(br#"{"type":"ContactCreate","locationId":"L","id":"../x"}"#),
            Err(PayloadError::Invalid("id"))
        );
        assert_eq!(
            parse_marketplace(
                br#"{"type":"ContactCreate","locationId":"L","id":"C","timestamp":"yesterday"}"#
            ),
            Err(PayloadError::Invalid("timestamp"))
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_marketplace(deep.as_bytes()),
            Err(PayloadError::NotJson(_))
        ));
    }

    #[test]
    fn invalid_utf8_anywhere_in_the_body_is_malformed() {
        let mut body = br#"{"type":"ContactCreate","locationId":"L","id":"C","note":"x"}"#.to_vec();
        let at = body.iter().position(|b| *b == b'x').unwrap();
        body[at] = 0xff;
        assert!(matches!(
            parse_marketplace(&body),
            Err(PayloadError::NotJson(m)) if m.contains("UTF-8")
        ));
        let mut wf = br#"{"contact_id":"C1","first_name":"x"}"#.to_vec();
        let at = wf.iter().position(|b| *b == b'x').unwrap();
        wf[at] = 0xc3;
        assert!(matches!(parse_workflow(&wf), Err(PayloadError::NotJson(_))));
    }

    #[test]
    fn the_app_id_is_read_when_the_body_has_one() {
        let body = br#"{"type":"ContactCreate","locationId":"L","id":"C","appId":"app1"}"#;
        let MarketplaceEvent::Contact(e) = parse_marketplace(body).unwrap() else {
            panic!()
        };
        assert_eq!(e.app_id.as_deref(), Some("app1"));
        let body = br#"{"type":"ContactCreate","locationId":"L","id":"C","appId":"../x"}"#;
        assert_eq!(parse_marketplace(body), Err(PayloadError::Invalid("appId")));
    }

    #[test]
    fn timestamps_may_be_numbers_in_seconds_or_milliseconds() {
        let ms = br#"{"type":"ContactCreate","locationId":"L","id":"C","timestamp":1738074900123}"#;
        let s = br#"{"type":"ContactCreate","locationId":"L","id":"C","timestamp":1738074900}"#;
        for (body, want) in [(&ms[..], 1_738_074_900_123), (&s[..], 1_738_074_900_000)] {
            let MarketplaceEvent::Contact(e) = parse_marketplace(body).unwrap() else {
                panic!()
            };
            assert_eq!(e.timestamp_ms, Some(want));
        }
    }

    #[test]
    fn escaped_timestamps_are_read_and_other_types_are_refused() {
        let escaped = br#"{"type":"ContactCreate","locationId":"L","id":"C","timestamp":"2025-01-28T14:35:00\u005a"}"#;
        let MarketplaceEvent::Contact(e) = parse_marketplace(escaped).unwrap() else {
            panic!()
        };
        assert_eq!(e.timestamp_ms, Some(1_738_074_900_000));
        for ts in ["true", "1.5", "[1]", "{}", "18446744073709551615"] {
            let body =
                format!(r#"{{"type":"ContactCreate","locationId":"L","id":"C","timestamp":{ts}}}"#);
            assert!(
                matches!(
                    parse_marketplace(body.as_bytes()),
                    Err(PayloadError::NotJson(_))
                ),
                "{ts}"
            );
        }
    }

    #[test]
    fn workflow_contact_id_comes_from_contact_id_or_custom_data_never_id() {
        let e = parse_workflow(
            br#"{"id":"wfevent","contact_id":"C1","tags":"cold lead,x","location":{"id":"L1"}}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            WorkflowEvent {
                contact_id: "C1".into(),
                location_id: Some("L1".into())
            }
        );
        let e = parse_workflow(br#"{"id":"wfevent","customData":{"contactID":"C2"}}"#).unwrap();
        assert_eq!(
            e,
            WorkflowEvent {
                contact_id: "C2".into(),
                location_id: None
            }
        );
        assert_eq!(
            parse_workflow(br#"{"id":"wfevent"}"#),
            Err(PayloadError::Missing("contact_id"))
        );
    }
}
