//! A GoHighLevel job: one contact that changed (a webhook) or was found changed or missing (the
//! backfill). On the queue it is `"kind": "ghl_contact.v1"`.

use serde::{Deserialize, Serialize};

use crate::domain::contact::ContactKey;
use crate::domain::job::{Job, JobPayload};
use crate::domain::source::Source;

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
    /// Sent by the sink audit: a sink no longer holds what leadsync gave it (deleted or taken
    /// out of a bucket there). Nothing changed in GHL; the sink is checked again under the
    /// lease and brought back in line with the contact as GHL has it.
    Audit,
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
            Self::Audit => "Audit",
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
    /// The webhook's number among those ingress accepted for the contact
    /// ([`crate::ports::store::WebhookLedger::arrived`]). Absent for jobs not from a webhook, and
    /// when ingress could not count it: the job is then read, whatever reads came before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<i64>,
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
    /// The sink audit's job for a GHL contact a sink no longer holds as leadsync left it; `note`
    /// (what drifted) is kept as its payload, for the trace.
    pub fn audit(key: &ContactKey, job_id: String, received_at_ms: i64, note: String) -> Self {
        Self {
            job_id,
            location_id: key.account.clone(),
            contact_id: key.id.clone(),
            trigger: GhlTrigger::Audit,
            version_ms: None,
            received_at_ms,
            arrival: None,
            payload: note,
        }
    }

    pub fn version(&self) -> Option<JobVersion> {
        let ms = self.version_ms?;
        Some(match self.trigger {
            GhlTrigger::Backfill => JobVersion::DateUpdated(ms),
            _ => JobVersion::WebhookSent(ms),
        })
    }
}

impl Job for GhlContactJob {
    fn id(&self) -> &str {
        &self.job_id
    }

    fn source(&self) -> Source {
        Source::Ghl
    }

    fn contact_key(&self) -> ContactKey {
        ContactKey::ghl(&self.location_id, &self.contact_id)
    }

    fn received_at_ms(&self) -> i64 {
        self.received_at_ms
    }

    fn trigger(&self) -> &'static str {
        self.trigger.as_str()
    }

    fn audits_sinks(&self) -> bool {
        self.trigger == GhlTrigger::Audit
    }

    /// A webhook's change only: a backfill repairs changes of any age on purpose.
    fn changed_at_ms(&self) -> Option<i64> {
        match self.version()? {
            JobVersion::WebhookSent(ms) => Some(ms),
            JobVersion::DateUpdated(_) => None,
        }
    }
}

impl JobPayload for GhlContactJob {
    const KIND: &'static str = "ghl_contact.v1";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sqs::charset;
    use crate::domain::job::SyncJob;

    fn job(trigger: GhlTrigger, payload: &str) -> GhlContactJob {
        GhlContactJob {
            job_id: "ghl:abc".into(),
            location_id: "loc".into(),
            contact_id: "c1".into(),
            trigger,
            version_ms: Some(1_700_000_000_000),
            received_at_ms: 1_700_000_000_100,
            arrival: None,
            payload: payload.into(),
        }
    }

    #[test]
    fn a_job_round_trips_with_its_kind_and_exact_payload() {
        let json = SyncJob::new(job(GhlTrigger::ContactTagUpdate, r#"{"a": [1, 2]}"#)).to_json();
        assert!(json.starts_with(r#"{"kind":"ghl_contact.v1""#), "{json}");
        let back = SyncJob::from_json(&json).unwrap();
        let ghl = back.payload::<GhlContactJob>().expect("a GHL job");
        assert_eq!(
            ghl.payload, r#"{"a": [1, 2]}"#,
            "the payload survives byte for byte"
        );
        assert_eq!(back.id(), "ghl:abc");
        assert_eq!(back.source(), Source::Ghl);
        assert_eq!(back.contact_key(), ContactKey::ghl("loc", "c1"));
        assert_eq!(back.trigger(), "ContactTagUpdate");
    }

    #[test]
    fn a_job_body_is_inside_sqs_characters_and_decodes_to_the_same_job() {
        let text = "a\u{FFFF}b\u{FFFE}c\u{1}d 😀";
        let json = SyncJob::new(job(GhlTrigger::Workflow, text)).to_json();
        assert!(json.chars().all(charset::sqs_allows), "{json}");
        let back = SyncJob::from_json(&json).unwrap();
        assert_eq!(back.payload::<GhlContactJob>().unwrap().payload, text);
    }

    #[test]
    fn only_a_webhooks_change_has_a_source_time() {
        assert_eq!(
            job(GhlTrigger::ContactUpdate, "").changed_at_ms(),
            Some(1_700_000_000_000)
        );
        assert_eq!(job(GhlTrigger::Backfill, "").changed_at_ms(), None);
        let mut unversioned = job(GhlTrigger::Workflow, "");
        unversioned.version_ms = None;
        assert_eq!(unversioned.changed_at_ms(), None);
    }
}
