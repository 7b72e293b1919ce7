//! What a refused `GET /contacts/{id}` means. Only a definite "not found" is a deletion: the
//! contacts spec documents 400/401/422 with generic bodies, and a 400 or 422 also answers a
//! request GHL could not take (an invalid `Version` header, a malformed id), which says nothing
//! about the contact (research, corrections of 2026-12-04, "Not-found answers").
//!
//! Recognised as "the contact does not exist":
//! * a 404, unless its message is NestJS's unknown-route answer (`Cannot GET /…`), which means
//!   the base URL is wrong, not that the contact is gone;
//! * a 400 or 422 whose `message` (a string, or an array of strings as in GHL's 422 schema) is,
//!   ignoring case and surrounding space, `Contact not found` (seen from GHL for a deleted id) or
//!   `contact is deleted` (GHL's own wording for a deleted contact in the contacts spec).
//!
//! Any other 400/422 is a refusal with its reason: transient when its message asks to try again,
//! otherwise permanent, so the job is parked with the message and CallTools stays as it was.
//! Other statuses (401/403 included) are classified as every GHL answer is.

use std::time::Duration;

use serde_json::Value;

use crate::ports::remote::RemoteError;

const SERVICE: &str = "GoHighLevel";

/// The messages that mean the contact does not exist, lower-cased.
const NOT_FOUND_MESSAGES: [&str; 2] = ["contact not found", "contact is deleted"];

/// The non-200 answer to a contact read, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRefusal {
    /// GHL says the contact does not exist: it was deleted (or never was).
    NotFound,
    /// Anything else: the read failed, and says nothing about the contact.
    Failed(RemoteError),
}

/// Reads a refused contact read's status and body.
pub fn read_refusal(status: u16, retry_after: Option<Duration>, body: &str) -> ReadRefusal {
    let messages = messages(body);
    match status {
        404 if !messages.iter().any(|m| m.starts_with("cannot ")) => ReadRefusal::NotFound,
        400 | 422
            if messages
                .iter()
                .any(|m| NOT_FOUND_MESSAGES.contains(&m.as_str())) =>
        {
            ReadRefusal::NotFound
        }
        400 | 422 if messages.iter().any(|m| m.contains("try again")) => {
            ReadRefusal::Failed(RemoteError::Transient {
                service: SERVICE,
                reason: format!("HTTP {status}{}", crate::ports::remote::answer_fields(body)),
                status: Some(status),
                retry_after,
            })
        }
        _ => ReadRefusal::Failed(RemoteError::from_status(SERVICE, status, retry_after, body)),
    }
}

/// The body's `message` as lower-cased, trimmed strings (none when the body is not GHL's JSON).
fn messages(body: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    let texts: Vec<&str> = match &v["message"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    texts.iter().map(|s| s.trim().to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> ReadRefusal {
        read_refusal(status, None, body)
    }

    #[test]
    fn a_404_or_a_contact_not_found_message_is_a_deletion() {
        for (status, body) in [
            (404, r#"{"statusCode":404,"message":"Contact not found"}"#),
            (404, ""),
            (400, r#"{"statusCode":400,"message":"Contact not found"}"#),
            (400, r#"{"statusCode":400,"message":" contact NOT found "}"#),
            (422, r#"{"statusCode":422,"message":["Contact not found"]}"#),
            (400, r#"{"message":"contact is deleted","traceId":"t"}"#),
        ] {
            assert_eq!(
                refused(status, body),
                ReadRefusal::NotFound,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn any_other_400_or_422_is_a_permanent_failure_with_its_reason() {
        for (status, body) in [
            (
                400,
                r#"{"statusCode":400,"message":"Version header is invalid","error":"Bad Request"}"#,
            ),
            (400, r#"{"statusCode":400,"message":"Bad Request"}"#),
            (
                422,
                r#"{"statusCode":422,"message":["Unprocessable Entity"],"error":"Unprocessable Entity"}"#,
            ),
            (400, "<html>Bad Request</html>"),
        ] {
            let ReadRefusal::Failed(e) = refused(status, body) else {
                panic!("{status} {body} is not a deletion");
            };
            assert!(!e.is_transient(), "{e}");
            assert_eq!(e.status(), Some(status));
        }
        let ReadRefusal::Failed(e) = refused(400, r#"{"message":"Version header is invalid"}"#)
        else {
            panic!()
        };
        // The log names the answer's fields; its text stays in the excerpt for the DLQ.
        assert!(e.to_string().contains("HTTP 400 (fields: message)"), "{e}");
        let RemoteError::Permanent { excerpt, .. } = e else {
            panic!("{e}")
        };
        assert!(excerpt.contains("Version header is invalid"), "{excerpt}");
    }

    #[test]
    fn a_refusal_that_asks_to_try_again_is_transient() {
        let ReadRefusal::Failed(e) = refused(
            422,
            r#"{"statusCode":422,"message":["Something went wrong, please try again"]}"#,
        ) else {
            panic!()
        };
        assert!(e.is_transient(), "{e}");
    }

    #[test]
    fn an_unknown_route_is_a_wrong_base_url_not_a_deletion() {
        let ReadRefusal::Failed(e) = refused(
            404,
            r#"{"statusCode":404,"message":"Cannot GET /v2/contacts/abc","error":"Not Found"}"#,
        ) else {
            panic!()
        };
        assert!(!e.is_transient());
    }

    #[test]
    fn other_statuses_are_left_to_the_usual_classification() {
        assert!(matches!(
            refused(401, r#"{"message":"Contact not found"}"#),
            ReadRefusal::Failed(RemoteError::CredentialsRejected { .. })
        ));
        assert!(matches!(
            refused(503, ""),
            ReadRefusal::Failed(RemoteError::Transient { .. })
        ));
    }
}
