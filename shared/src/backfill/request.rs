//! What an invocation is asked to do: the Lambda event, from the schedule (`{}` daily,
//! `{"resume": true}` every few minutes) or from `leadsync backfill run`
//! (`{"source": "ghl", "since": "2026-11-01T00:00:00Z"}`, `{"full": true}`).

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::source::Source;
use crate::sources::calltools::scan::CALLS_SCAN;

/// The sink the backfill audits (`{"source": "calltools"}`): see `sinks::calltools::audit`.
pub const AUDITED_SINK: &str = "calltools";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// The source to read (`ghl`, `messenger`, `instagram`, `calltools_calls` for CallTools'
    /// recent calls), or `calltools` for the sink audit; `ghl` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Scan every tagged contact, not only recent changes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
    /// Scan contacts changed at or after this time: epoch milliseconds, or an RFC 3339 string
    /// in the event.
    #[serde(
        rename = "since",
        alias = "since_ms",
        deserialize_with = "since",
        skip_serializing_if = "Option::is_none"
    )]
    pub since_ms: Option<i64>,
    /// Only go on with a run in progress; start none (the schedule's resume tick).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resume: bool,
}

impl Request {
    /// Parses an event, refusing what would be silently misread: unknown fields, an unknown
    /// source, `full` together with `since`.
    pub fn from_event(event: serde_json::Value) -> Result<Self, String> {
        // EventBridge delivers the rule's Input as is; an input-less scheduled event would be the
        // whole "Scheduled Event" envelope, which is not a request.
        let req: Request = serde_json::from_value(event)
            .map_err(|e| format!("not a backfill request ({e}); expected {{\"source\", \"since\", \"full\", \"resume\"}}"))?;
        if let Some(s) = &req.source
            && s.parse::<Source>().is_err()
            && s != AUDITED_SINK
            && s != CALLS_SCAN
        {
            return Err(format!(
                "unknown source {s:?}; the backfill reads {}, CallTools' calls ({CALLS_SCAN}) and audits {AUDITED_SINK}",
                [Source::Ghl, Source::Messenger, Source::Instagram]
                    .map(Source::as_str)
                    .join(", ")
            ));
        }
        if req.full && req.since_ms.is_some() {
            return Err("`full` and `since` exclude each other".into());
        }
        Ok(req)
    }
}

fn since<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Since {
        Millis(i64),
        Text(String),
    }
    match Option::<Since>::deserialize(d)? {
        None => Ok(None),
        Some(Since::Millis(ms)) => Ok(Some(ms)),
        Some(Since::Text(t)) => {
            let at = OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| {
                serde::de::Error::custom(format!("since {t:?} is not RFC 3339 ({e})"))
            })?;
            Ok(Some((at.unix_timestamp_nanos() / 1_000_000) as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schedule_and_the_command_events_parse() {
        assert_eq!(Request::from_event(json!({})).unwrap(), Request::default());
        assert!(Request::from_event(json!({"resume": true})).unwrap().resume);
        assert!(
            Request::from_event(json!({"source": "ghl", "full": true}))
                .unwrap()
                .full
        );
        let by_text = Request::from_event(json!({"since": "2026-11-01T00:00:00Z"})).unwrap();
        assert_eq!(by_text.since_ms, Some(1_793_491_200_000));
        let by_ms = Request::from_event(json!({"since": 1_793_491_200_000_i64})).unwrap();
        assert_eq!(by_ms, by_text);
    }

    #[test]
    fn what_would_be_misread_is_refused() {
        for (event, says) in [
            (json!({"source": "hubspot"}), "unknown source"),
            (json!({"full": true, "since": 1}), "exclude each other"),
            (json!({"since": "yesterday"}), "RFC 3339"),
            (json!({"fulll": true}), "unknown field"),
            (
                json!({"version": "0", "detail-type": "Scheduled Event", "detail": {}}),
                "not a backfill request",
            ),
        ] {
            let e = Request::from_event(event).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_request_round_trips_as_the_command_sends_it() {
        let r = Request {
            source: Some("ghl".into()),
            since_ms: Some(5),
            ..Request::default()
        };
        let sent = serde_json::to_value(&r).unwrap();
        assert_eq!(sent, json!({"source": "ghl", "since": 5}));
        assert_eq!(Request::from_event(sent).unwrap(), r);
    }
}
