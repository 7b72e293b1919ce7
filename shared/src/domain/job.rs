//! The job envelope that travels on the queue from ingress (and backfill) to the consumer.
//!
//! It is self-describing and versioned (`"kind": "ghl_contact.v1"`): a message parked in the DLQ
//! before a deploy still parses after it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::aws::sqs::charset;
use crate::domain::contact::ContactKey;
use crate::domain::source::Source;
use crate::sources::meta::event::MetaEvent;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum SyncJob {
    #[serde(rename = "ghl_contact.v1")]
    GhlContact(GhlContactJob),
    #[serde(rename = "meta_event.v1")]
    Meta(MetaJob),
}

/// One Messenger / Instagram webhook item, or a conversation found by the backfill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaJob {
    /// `meta:msg:<mid>` for messages (the same message twice is one job), otherwise a hash of
    /// the item.
    pub job_id: String,
    pub event: MetaEvent,
    pub received_at_ms: i64,
    /// Who created the contact if this job does: `webhook` or `backfill`.
    #[serde(default = "webhook")]
    pub origin: Origin,
    /// The item exactly as received, for the trace.
    pub payload: String,
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Webhook,
    Backfill,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Backfill => "backfill",
        }
    }
}

fn webhook() -> Origin {
    Origin::Webhook
}

/// What made GoHighLevel tell us about a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GhlTrigger {
    ContactCreate,
    ContactUpdate,
    ContactDelete,
    ContactTagUpdate,
    ContactDndUpdate,
    /// The workflow "Custom Webhook" action.
    Workflow,
    /// Found changed or missing by the scheduled backfill.
    Backfill,
}

impl GhlTrigger {
    /// The Marketplace event types leadsync acts on; other types are acknowledged and ignored.
    pub fn from_event_type(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "ContactCreate" => Self::ContactCreate,
            "ContactUpdate" => Self::ContactUpdate,
            "ContactDelete" => Self::ContactDelete,
            "ContactTagUpdate" => Self::ContactTagUpdate,
            "ContactDndUpdate" => Self::ContactDndUpdate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactCreate => "ContactCreate",
            Self::ContactUpdate => "ContactUpdate",
            Self::ContactDelete => "ContactDelete",
            Self::ContactTagUpdate => "ContactTagUpdate",
            Self::ContactDndUpdate => "ContactDndUpdate",
            Self::Workflow => "Workflow",
            Self::Backfill => "Backfill",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GhlContactJob {
    /// Stable across redeliveries: `ghl:<webhookId>`, or a hash of the body when there is none.
    pub job_id: String,
    pub location_id: String,
    pub contact_id: String,
    pub trigger: GhlTrigger,
    /// The source's own time for this change, epoch ms, when it has one; which clock it is on
    /// depends on the trigger (see [`GhlContactJob::version`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_ms: Option<i64>,
    pub received_at_ms: i64,
    /// The webhook body exactly as received (text, not re-serialised), for the trace.
    pub payload: String,
}

/// A GHL job's version, with the clock it was read from: versions on different clocks are never
/// compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobVersion {
    /// A Marketplace webhook's `timestamp`: GHL's sender clock, when the event was sent.
    WebhookSent(i64),
    /// A backfill snapshot: the contact's `dateUpdated` in the search page (GHL's database).
    DateUpdated(i64),
}

impl GhlContactJob {
    pub fn version(&self) -> Option<JobVersion> {
        let ms = self.version_ms?;
        Some(match self.trigger {
            GhlTrigger::Backfill => JobVersion::DateUpdated(ms),
            _ => JobVersion::WebhookSent(ms),
        })
    }
}

impl SyncJob {
    pub fn id(&self) -> &str {
        match self {
            SyncJob::GhlContact(j) => &j.job_id,
            SyncJob::Meta(j) => &j.job_id,
        }
    }

    pub fn contact_key(&self) -> ContactKey {
        match self {
            SyncJob::GhlContact(j) => ContactKey::ghl(&j.location_id, &j.contact_id),
            SyncJob::Meta(j) => j
                .event
                .channel
                .contact_key(&j.event.account_id, &j.event.user_id),
        }
    }

    pub fn source(&self) -> Source {
        match self {
            SyncJob::GhlContact(_) => Source::Ghl,
            SyncJob::Meta(j) => j.event.channel.source(),
        }
    }

    /// When the job arrived at leadsync (epoch ms).
    pub fn received_at_ms(&self) -> i64 {
        match self {
            SyncJob::GhlContact(j) => j.received_at_ms,
            SyncJob::Meta(j) => j.received_at_ms,
        }
    }

    /// What the event was, for the event log: the GHL trigger or the Meta event kind.
    pub fn trigger(&self) -> &'static str {
        match self {
            SyncJob::GhlContact(j) => j.trigger.as_str(),
            SyncJob::Meta(j) => j.event.kind.name(),
        }
    }

    /// The job as a queue message body: JSON that SQS always takes, since text from a webhook or
    /// a Graph page can hold characters outside SQS's set ([`charset::escape_json`]).
    pub fn to_json(&self) -> String {
        let json = serde_json::to_string(self).expect("a job always serialises");
        match charset::escape_json(&json) {
            Cow::Borrowed(_) => json,
            Cow::Owned(escaped) => escaped,
        }
    }

    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_with_its_kind_and_exact_payload() {
        let job = SyncJob::GhlContact(GhlContactJob {
            job_id: "ghl:abc".into(),
            location_id: "loc".into(),
            contact_id: "c1".into(),
            trigger: GhlTrigger::ContactTagUpdate,
            version_ms: Some(1_700_000_000_000),
            received_at_ms: 1_700_000_000_100,
            payload: r#"{"a": [1, 2]}"#.into(),
        });
        let json = job.to_json();
        assert!(json.starts_with(r#"{"kind":"ghl_contact.v1""#), "{json}");
        let SyncJob::GhlContact(back) = SyncJob::from_json(&json).unwrap() else {
            panic!("a GHL job")
        };
        let back_payload = back.payload;
        assert_eq!(
            back_payload, r#"{"a": [1, 2]}"#,
            "the payload survives byte for byte"
        );
        let back = SyncJob::from_json(&json).unwrap();
        assert_eq!(back.id(), "ghl:abc");
        assert_eq!(back.contact_key(), ContactKey::ghl("loc", "c1"));
    }

    #[test]
    fn a_job_body_is_inside_sqs_characters_and_decodes_to_the_same_job() {
        let text = "a\u{FFFF}b\u{FFFE}c\u{1}d 😀";
        let job = SyncJob::GhlContact(GhlContactJob {
            job_id: "ghl:abc".into(),
            location_id: "loc".into(),
            contact_id: "c1".into(),
            trigger: GhlTrigger::Workflow,
            version_ms: None,
            received_at_ms: 1,
            payload: text.into(),
        });
        let json = job.to_json();
        assert!(json.chars().all(charset::sqs_allows), "{json}");
        let SyncJob::GhlContact(back) = SyncJob::from_json(&json).unwrap() else {
            panic!("a GHL job")
        };
        assert_eq!(back.payload, text);
    }

    #[test]
    fn an_unknown_kind_does_not_parse() {
        assert!(SyncJob::from_json(r#"{"kind":"ghl_contact.v9","job_id":"x"}"#).is_err());
    }
}
