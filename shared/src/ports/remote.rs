//! How a failed call to a source or sink API is classified: transient (try again later) or
//! permanent (park with the reason), or a refusal of leadsync's own credentials (wait for someone
//! to fix them). Decided once, in the adapter that saw the response.

use std::time::Duration;

use thiserror::Error;

use crate::domain::contact::{redact_email, redact_phone};
use crate::domain::outcome::Outcome;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RemoteError {
    /// 429, 5xx, an HTML error page, a timeout, a refused connection: the same call may work later.
    #[error("{service} is unavailable: {reason}")]
    Transient {
        service: &'static str,
        reason: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// The call was not made: the circuit breaker is open until `retry_after` from now.
    #[error("{service} is not called: the circuit is open")]
    CircuitOpen {
        service: &'static str,
        retry_after: Duration,
    },
    /// The call failed as `cause` says, and that failure opened the circuit (a failed probe,
    /// or the one that reached the threshold): the job waits for the next probe like the calls
    /// the open circuit stops. Retried instead, it would be the probe again after every wait
    /// and spend a receive each time, to the DLQ before the outage ends.
    #[error("{cause}; the circuit is now open")]
    CircuitOpened {
        cause: Box<RemoteError>,
        retry_after: Duration,
    },
    /// 401/403: the service refused leadsync's credentials (a rotated or wrong key, a revoked
    /// app, a token without access). Every call fails the same way until someone fixes them, so
    /// the request was not processed and the job is not at fault: it waits, bounded, instead of
    /// being parked.
    #[error("{service} refused leadsync's credentials (HTTP {status})")]
    CredentialsRejected {
        service: &'static str,
        status: u16,
        excerpt: String,
    },
    /// A 4xx validation error or a contact that cannot be synced: retrying cannot help.
    /// `reason` is logged and kept in the event log, so it never quotes the answer; `excerpt`
    /// (phones and emails masked) goes only to the parked job's `response_excerpt`.
    #[error("{service} refused the request ({status:?}): {reason}")]
    Permanent {
        service: &'static str,
        reason: String,
        status: Option<u16>,
        excerpt: String,
    },
}

/// The longest response excerpt kept with a parked job.
pub const EXCERPT_LEN: usize = 512;

impl RemoteError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Transient { .. }
                | RemoteError::CircuitOpen { .. }
                | RemoteError::CircuitOpened { .. }
        )
    }

    /// Whether the failed call may have taken effect all the same, so the caller must find out
    /// before doing it again: no answer (a timeout, a dropped connection), a 5xx, or a 2xx that
    /// did not show the effect. A 408, 425 or 429 was turned away before any work, a 4xx refused
    /// it, an open circuit sent nothing.
    pub fn may_have_happened(&self) -> bool {
        match self {
            RemoteError::Transient { status, .. } => {
                status.is_none_or(|s| (200..300).contains(&s) || s >= 500)
            }
            RemoteError::CircuitOpened { cause, .. } => cause.may_have_happened(),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Transient { status, .. } | RemoteError::Permanent { status, .. } => {
                *status
            }
            RemoteError::CredentialsRejected { status, .. } => Some(*status),
            RemoteError::CircuitOpened { cause, .. } => cause.status(),
            RemoteError::CircuitOpen { .. } => None,
        }
    }

    /// Classifies an HTTP answer that was not a success.
    pub fn from_status(
        service: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Self {
        let excerpt = excerpt(body);
        let looks_html = body.trim_start().starts_with('<');
        match status {
            408 | 425 | 429 | 500..=599 => RemoteError::Transient {
                service,
                reason: if looks_html {
                    format!("HTTP {status} with an HTML error page")
                } else {
                    format!("HTTP {status}")
                },
                status: Some(status),
                retry_after,
            },
            401 | 403 => RemoteError::CredentialsRejected {
                service,
                status,
                excerpt,
            },
            _ => RemoteError::Permanent {
                service,
                reason: format!("HTTP {status}{}", answer_fields(body)),
                status: Some(status),
                excerpt,
            },
        }
    }

    /// Classifies a failure to get any answer at all. The reason names the kind of failure only:
    /// reqwest's own message carries the URL, whose query can hold a phone number
    /// (`/api/contacts/?phone_number=…`).
    pub fn from_reqwest(service: &'static str, err: &reqwest::Error) -> Self {
        let reason = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "connection failed"
        } else if err.is_decode() || err.is_body() {
            "the answer could not be read"
        } else {
            "request failed"
        };
        RemoteError::Transient {
            service,
            reason: reason.into(),
            status: None,
            retry_after: None,
        }
    }
}

/// The first [`EXCERPT_LEN`] bytes of a response body, cut on a character boundary, phone
/// numbers and emails masked ([`redact_text`]): a validation error can echo the contact.
pub fn excerpt(body: &str) -> String {
    let mut end = body.len().min(EXCERPT_LEN);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    redact_text(body[..end].trim())
}

/// What a log may say about an error answer's body: the names of its top-level JSON fields
/// (CallTools names each refused field, GoHighLevel and Graph answer `message`/`error`), never
/// a value, which can quote the contact. Empty for a body that is not a JSON object.
pub fn answer_fields(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) if !map.is_empty() => {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            format!(" (fields: {})", names.join(", "))
        }
        _ => String::new(),
    }
}

/// What a log may say about an answer that did not parse: serde's messages quote the value
/// they refused (`invalid type: string "+1415…"`), so only the kind of failure, where it was,
/// and a missing field's name (which is ours, not the contact's).
pub fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let message = e.to_string();
    let what = match e.classify() {
        Category::Data if message.starts_with("missing field `") => message
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_string(),
        Category::Data => "a value of an unexpected type or form".to_string(),
        Category::Syntax => "not JSON".to_string(),
        Category::Eof => "truncated JSON".to_string(),
        Category::Io => "unreadable".to_string(),
    };
    match e.line() {
        0 => what,
        line => format!("{what} (line {line}, column {})", e.column()),
    }
}

/// `text` with every E.164-looking number and email address masked by the redaction helpers
/// ([`redact_phone`], [`redact_email`]).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['+', '@']) {
        let (before, from) = rest.split_at(i);
        if let Some(after) = from.strip_prefix('+') {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(before);
            if digits >= 6 {
                out.push_str(&redact_phone(&from[..=digits]));
            } else {
                out.push_str(&from[..=digits]);
            }
            rest = &from[digits + 1..];
        } else {
            let is_local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
            let local = before.len() - before.trim_end_matches(is_local).len();
            let domain = from[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                .map_or(from.len(), |d| d + 1);
            out.push_str(&before[..before.len() - local]);
            out.push_str(&redact_email(&format!(
                "{}{}",
                &before[before.len() - local..],
                &from[..domain]
            )));
            rest = &from[domain..];
        }
    }
    out.push_str(rest);
    out
}

/// The `api` dimension of the `credentials_rejected` metric for a service.
pub fn credentials_api(service: &str) -> &'static str {
    if service.starts_with("CallTools") {
        "calltools"
    } else {
        "ghl"
    }
}

/// Which credentials an operator has to look at after a [`RemoteError::CredentialsRejected`].
pub fn credentials_hint(service: &str) -> &'static str {
    match service {
        "CallTools" => "check CALLTOOLS_API_KEY (was the key rotated in CallTools?)",
        "GoHighLevel OAuth" => {
            "check GHL_OAUTH_CLIENT_ID and GHL_OAUTH_CLIENT_SECRET against the Marketplace app"
        }
        _ => {
            "check GHL_API_TOKEN (was the Private Integration rotated?) or, with OAuth, authorise the app again"
        }
    }
}

/// Reads `Retry-After` given in seconds (the form APIs use; HTTP dates are ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// How long a rate-limited job waits when the answer did not say.
const RATE_LIMITED_WAIT: Duration = Duration::from_secs(5);

/// What a failed call to a vendor makes of the job.
impl From<RemoteError> for Outcome {
    fn from(e: RemoteError) -> Self {
        match e {
            // Rate limited: the request was refused, not processed. Waiting for the limit
            // to pass is not a failure, so it spends no receive.
            RemoteError::Transient {
                ref reason,
                retry_after,
                service,
                status: Some(429),
            } => Outcome::Defer {
                reason: format!("{service}: {reason} (rate limited)"),
                after: retry_after.unwrap_or(RATE_LIMITED_WAIT),
            },
            RemoteError::Transient {
                ref reason,
                retry_after,
                service,
                ..
            } => Outcome::Retry {
                reason: format!("{service}: {reason}"),
                after: retry_after,
            },
            RemoteError::CircuitOpen {
                service,
                retry_after,
            } => Outcome::Defer {
                reason: format!(
                    "{service}: circuit open after repeated failures; waiting for a probe to succeed"
                ),
                after: retry_after,
            },
            RemoteError::CircuitOpened { cause, retry_after } => Outcome::Defer {
                reason: format!("{cause}; the circuit opened, waiting for a probe to succeed"),
                after: retry_after,
            },
            RemoteError::CredentialsRejected {
                service,
                status,
                excerpt,
            } => Outcome::CredentialsRejected {
                service,
                status,
                excerpt,
            },
            RemoteError::Permanent {
                service,
                reason,
                status,
                excerpt,
            } => Outcome::Park {
                reason: format!("{service}: {reason}"),
                status,
                excerpt,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_call_that_may_have_been_processed_may_have_happened() {
        use super::RemoteError;
        let transient = |status| RemoteError::Transient {
            service: "x",
            reason: String::new(),
            status,
            retry_after: None,
        };
        for (status, may) in [
            (None, true),
            (Some(200), true),
            (Some(500), true),
            (Some(503), true),
            (Some(408), false),
            (Some(425), false),
            (Some(429), false),
        ] {
            assert_eq!(transient(status).may_have_happened(), may, "{status:?}");
        }
        let refused = RemoteError::from_status("x", 400, None, "");
        let open = RemoteError::CircuitOpen {
            service: "x",
            retry_after: std::time::Duration::from_secs(1),
        };
        let credentials = RemoteError::from_status("x", 401, None, "");
        for e in [refused, open, credentials] {
            assert!(!e.may_have_happened(), "{e:?}");
        }
        let opened = |status| RemoteError::CircuitOpened {
            cause: Box::new(transient(status)),
            retry_after: std::time::Duration::from_secs(1),
        };
        assert!(opened(Some(503)).may_have_happened(), "as its cause");
        assert!(!opened(Some(429)).may_have_happened(), "as its cause");
    }

    #[test]
    fn a_failure_that_opened_the_circuit_waits_for_the_probe_without_spending_a_receive() {
        let cause = RemoteError::from_status("CallTools", 503, None, "");
        let opened = RemoteError::CircuitOpened {
            cause: Box::new(cause),
            retry_after: Duration::from_secs(30),
        };
        assert!(opened.is_transient());
        assert_eq!(opened.status(), Some(503));
        match Outcome::from(opened) {
            Outcome::Defer { reason, after } => {
                assert_eq!(after, Duration::from_secs(30));
                assert!(
                    reason.contains("CallTools") && reason.contains("circuit"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_transient() {
        for status in [429, 500, 502, 503, 504, 408] {
            assert!(
                RemoteError::from_status("CallTools", status, None, "").is_transient(),
                "{status}"
            );
        }
        let e = RemoteError::from_status(
            "CallTools",
            503,
            None,
            "<html><body>Bad gateway</body></html>",
        );
        assert!(e.to_string().contains("HTML"), "{e}");
    }

    #[test]
    fn client_errors_are_permanent_and_keep_an_excerpt() {
        let e = RemoteError::from_status(
            "CallTools",
            400,
            None,
            r#"{"email":["x is a invalid email address"]}"#,
        );
        let RemoteError::Permanent {
            status, excerpt, ..
        } = e
        else {
            panic!()
        };
        assert_eq!(status, Some(400));
        assert!(excerpt.contains("invalid email"));
    }

    #[test]
    fn a_refusal_names_the_refused_fields_and_masks_what_it_quotes() {
        let body = r#"{"email":["ada.lovelace@example.com is a invalid email address for field email"],"mobile_phone_number":["+14155550132 is taken"]}"#;
        let e = RemoteError::from_status("CallTools", 400, None, body);
        let shown = e.to_string();
        assert!(
            shown.contains("HTTP 400 (fields: email, mobile_phone_number)"),
            "{shown}"
        );
        assert!(
            !shown.contains("lovelace") && !shown.contains("4155550132"),
            "{shown}"
        );
        let RemoteError::Permanent { excerpt, .. } = e else {
            panic!("{shown}")
        };
        assert!(
            excerpt.contains("a***@example.com is a invalid email"),
            "{excerpt}"
        );
        assert!(excerpt.contains("+1******0132 is taken"), "{excerpt}");
    }

    #[test]
    fn an_unreadable_answer_is_described_without_the_value_it_held() {
        let e = serde_json::from_str::<Vec<i64>>(r#"["+14155550132"]"#).unwrap_err();
        let said = json_error(&e);
        assert!(!said.contains("4155550132"), "{said}");
        assert!(said.starts_with("a value of an unexpected type"), "{said}");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Page {
            results: Vec<i64>,
        }
        let e = serde_json::from_str::<Page>("{}").unwrap_err();
        assert!(
            json_error(&e).starts_with("missing field `results`"),
            "{}",
            json_error(&e)
        );
    }

    #[test]
    fn text_keeps_its_words_and_loses_its_phones_and_emails() {
        assert_eq!(
            redact_text("call +14155550132 or mail john.doe@example.com, ref +12 and x@y"),
            "call +1******0132 or mail j***@example.com, ref +12 and x***@y"
        );
    }

    #[test]
    fn refused_credentials_are_neither_transient_nor_permanent() {
        for status in [401, 403] {
            let e = RemoteError::from_status(
                "CallTools",
                status,
                None,
                r#"{"detail":"Invalid token."}"#,
            );
            assert_eq!(
                e,
                RemoteError::CredentialsRejected {
                    service: "CallTools",
                    status,
                    excerpt: r#"{"detail":"Invalid token."}"#.into(),
                }
            );
            assert!(!e.is_transient(), "{status}");
            assert_eq!(e.status(), Some(status));
        }
    }

    #[test]
    fn the_metric_dimension_names_the_api() {
        assert_eq!(credentials_api("CallTools"), "calltools");
        assert_eq!(credentials_api("GoHighLevel"), "ghl");
        assert_eq!(credentials_api("GoHighLevel OAuth"), "ghl");
    }

    #[test]
    fn excerpts_are_bounded_and_cut_on_char_boundaries() {
        let long = "é".repeat(1000);
        let e = excerpt(&long);
        assert!(e.len() <= EXCERPT_LEN);
        assert!(e.chars().all(|c| c == 'é'));
    }
}
