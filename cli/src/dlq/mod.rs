//! The dead-letter queue as an operator sees it: what is parked and why, and putting it back
//! through the main queue once the cause is fixed.
//!
//! SQS has no peek, so reading the DLQ means receiving every message under a visibility timeout
//! and making the ones not acted on visible again at once (see [`read`]). The functions here take
//! an SQS client and queue URLs, so the `leadsync dlq` command and the tests share them.

pub mod filter;
pub mod move_task;
pub mod read;
pub mod replay;
#[cfg(test)]
mod schedule;

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use leadsync::domain::job::SyncJob;
use serde::Serialize;
use thiserror::Error;

pub use filter::Filter;
pub use read::{Listing, list};
pub use replay::{ReplayOptions, ReplayReport, replay};

/// Shown for messages SQS moved after `maxReceiveCount` receives: the consumer never parked
/// them, so they carry no reason attribute (the last attempt's log line has it).
pub const REDRIVE_REASON: &str = "max receives exceeded (moved by SQS redrive)";

#[derive(Debug, Error)]
#[error("SQS {operation} failed: {detail}")]
pub struct SqsError {
    pub operation: &'static str,
    pub detail: String,
}

impl SqsError {
    pub(crate) fn new(operation: &'static str, e: impl std::error::Error + 'static) -> Self {
        Self {
            operation,
            detail: leadsync::support::error_line::error_line(&e),
        }
    }
}

/// One message in the DLQ, with the attributes the consumer parked it with.
#[derive(Debug, Clone, Serialize)]
pub struct ParkedMessage {
    pub message_id: String,
    pub job_id: Option<String>,
    pub source: Option<String>,
    pub contact: Option<String>,
    pub reason: String,
    /// Moved by SQS redrive rather than parked by the consumer.
    pub redriven: bool,
    pub http_status: Option<u16>,
    pub response_excerpt: Option<String>,
    /// When it was parked (`parked_at_ms`), else when SQS first accepted it (`SentTimestamp`).
    pub parked_at_ms: Option<i64>,
    pub parked_at: Option<String>,
    /// SQS's `ApproximateReceiveCount`; reading the DLQ counts as a receive too.
    pub receive_count: Option<u32>,
    /// How often this job was already replayed from the DLQ.
    pub replay_count: u32,
    /// Every message attribute, as text.
    pub attributes: BTreeMap<String, String>,
    #[serde(skip)]
    pub body: String,
}

impl ParkedMessage {
    pub fn from_sqs(message: &Message) -> Self {
        let attributes: BTreeMap<String, String> = message
            .message_attributes
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.string_value.clone()?)))
            .collect();
        let system = |name: MessageSystemAttributeName| {
            message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&name))
                .cloned()
        };
        let body = message.body.clone().unwrap_or_default();
        // Redriven messages carry only the enqueue attributes; the job body fills the gaps.
        let job = SyncJob::from_json(&body).ok();
        let attr = |k: &str| attributes.get(k).filter(|v| !v.is_empty()).cloned();
        let reason = attr("reason");
        let parked_at_ms = attr("parked_at_ms")
            .and_then(|v| v.parse().ok())
            .or_else(|| {
                system(MessageSystemAttributeName::SentTimestamp)?
                    .parse()
                    .ok()
            });
        Self {
            message_id: message.message_id.clone().unwrap_or_default(),
            job_id: attr("job_id").or_else(|| job.as_ref().map(|j| j.id().to_string())),
            source: attr("source").or_else(|| job.as_ref().map(|j| j.source().to_string())),
            contact: attr("contact").or_else(|| job.as_ref().map(|j| j.contact_key().to_string())),
            redriven: reason.is_none(),
            reason: reason.unwrap_or_else(|| REDRIVE_REASON.to_string()),
            http_status: attr("http_status").and_then(|v| v.parse().ok()),
            response_excerpt: attr("response_excerpt"),
            parked_at: parked_at_ms.and_then(filter::format_time),
            parked_at_ms,
            receive_count: system(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|v| v.parse().ok()),
            replay_count: attr("replay_count")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            attributes,
            body,
        }
    }

    /// Whether `id` names this message: its SQS message id or its job id.
    pub fn is_named(&self, id: &str) -> bool {
        self.message_id == id || self.job_id.as_deref() == Some(id)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::*;

    fn text(v: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    }

    const BODY: &str = r#"{"kind":"ghl_contact.v1","job_id":"ghl:w1","location_id":"loc","contact_id":"c1","trigger":"ContactTagUpdate","received_at_ms":1,"payload":"{}"}"#;

    #[test]
    fn a_parked_message_shows_its_reason_status_and_parked_time() {
        let m = Message::builder()
            .message_id("m1")
            .body(BODY)
            .message_attributes("reason", text("CallTools refused the contact"))
            .message_attributes("http_status", text("400"))
            .message_attributes("parked_at_ms", text("1700000000000"))
            .message_attributes("replay_count", text("2"))
            .attributes(MessageSystemAttributeName::SentTimestamp, "5")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .build();
        let p = ParkedMessage::from_sqs(&m);
        assert_eq!(p.reason, "CallTools refused the contact");
        assert!(!p.redriven);
        assert_eq!(p.http_status, Some(400));
        assert_eq!(p.parked_at_ms, Some(1_700_000_000_000));
        assert_eq!(p.parked_at.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(p.receive_count, Some(3));
        assert_eq!(p.replay_count, 2);
        assert_eq!(p.job_id.as_deref(), Some("ghl:w1"), "taken from the body");
        assert!(p.is_named("m1") && p.is_named("ghl:w1") && !p.is_named("c1"));
    }

    #[test]
    fn a_redriven_message_says_so_and_falls_back_to_the_sent_time() {
        let m = Message::builder()
            .message_id("m2")
            .body(BODY)
            .message_attributes("source", text("ghl"))
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .build();
        let p = ParkedMessage::from_sqs(&m);
        assert_eq!(p.reason, REDRIVE_REASON);
        assert!(p.redriven);
        assert_eq!(p.parked_at_ms, Some(1_700_000_000_000));
        assert_eq!(p.contact.as_deref(), Some("ghl:loc:c1"));
        assert_eq!(p.source.as_deref(), Some("ghl"));
    }
}
