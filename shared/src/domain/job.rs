//! The job envelope that travels on the queue from ingress (and backfill) to the consumer.
//!
//! Each source defines its own job (a [`JobPayload`] in its folder) and registers its kind in
//! `sources::JOB_KINDS`; the pipeline sees only what every job says about itself ([`Job`]). On
//! the queue a job is its payload's JSON with a versioned `"kind"` beside its fields
//! (`"kind": "ghl_contact.v1"`): a message parked in the DLQ before a deploy still parses after
//! it, because a changed shape gets a new kind and the old one stays registered.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Serialize};

use crate::aws::sqs::charset;
use crate::domain::contact::ContactKey;
use crate::domain::source::Source;

/// What every job says about itself, whatever its source: all the consumer, the queue and the
/// event log need to know.
pub trait Job: fmt::Debug + Send + Sync + 'static {
    /// Stable across redeliveries of the same change: the idempotency key.
    fn id(&self) -> &str;
    fn source(&self) -> Source;
    fn contact_key(&self) -> ContactKey;
    /// When the job arrived at leadsync (epoch ms).
    fn received_at_ms(&self) -> i64;
    /// What the event was, for the event log (`ContactTagUpdate`, `message`, …).
    fn trigger(&self) -> &'static str;
    /// The source's own time of a webhook's change (epoch ms), for `source_to_applied_ms`;
    /// `None` when the source has none, or for a backfill repair (which is late on purpose).
    fn changed_at_ms(&self) -> Option<i64> {
        None
    }
    /// Whether the job was sent because a sink drifted (the sink audit): the consumer then has
    /// the sink look again at what it holds before it plans.
    fn audits_sinks(&self) -> bool {
        false
    }
}

/// A source's job as it travels on the queue.
pub trait JobPayload: Job + Serialize + DeserializeOwned {
    /// The versioned name on the queue. A changed shape is a new kind; the old one stays
    /// registered so parked messages keep parsing.
    const KIND: &'static str;
}

/// A job kind the consumer parses, registered in `sources::JOB_KINDS`.
pub struct JobKind {
    pub name: &'static str,
    parse: fn(&str) -> serde_json::Result<SyncJob>,
}

impl JobKind {
    pub const fn of<T: JobPayload>() -> Self {
        Self {
            name: T::KIND,
            parse: parse_as::<T>,
        }
    }
}

fn parse_as<T: JobPayload>(body: &str) -> serde_json::Result<SyncJob> {
    serde_json::from_str::<T>(body).map(SyncJob::new)
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Webhook,
    Backfill,
    /// The sink audit put back a contact deleted in the sink.
    Audit,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Backfill => "backfill",
            Self::Audit => "audit",
        }
    }
}

/// A job of any source. Cheap to clone; its source reads its own payload back with
/// [`SyncJob::payload`].
#[derive(Clone)]
pub struct SyncJob(Arc<dyn Erased>);

/// A payload with its type erased: [`Job`], plus its kind, its JSON and a way back to the type.
trait Erased: Job {
    fn kind(&self) -> &'static str;
    fn as_any(&self) -> &dyn Any;
    fn to_json(&self) -> String;
}

impl<T: JobPayload> Erased for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            kind: &'static str,
            #[serde(flatten)]
            payload: &'a T,
        }
        serde_json::to_string(&Tagged {
            kind: T::KIND,
            payload: self,
        })
        .expect("a job always serialises")
    }
}

impl SyncJob {
    pub fn new<T: JobPayload>(payload: T) -> Self {
        Self(Arc::new(payload))
    }

    /// The payload, if this is a `T` job.
    pub fn payload<T: JobPayload>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    pub fn id(&self) -> &str {
        self.0.id()
    }

    pub fn contact_key(&self) -> ContactKey {
        self.0.contact_key()
    }

    pub fn source(&self) -> Source {
        self.0.source()
    }

    pub fn received_at_ms(&self) -> i64 {
        self.0.received_at_ms()
    }

    pub fn trigger(&self) -> &'static str {
        self.0.trigger()
    }

    pub fn changed_at_ms(&self) -> Option<i64> {
        self.0.changed_at_ms()
    }

    pub fn audits_sinks(&self) -> bool {
        self.0.audits_sinks()
    }

    /// The job as a queue message body: JSON that SQS always takes, since text from a webhook or
    /// a Graph page can hold characters outside SQS's set ([`charset::escape_json`]).
    pub fn to_json(&self) -> String {
        let json = self.0.to_json();
        match charset::escape_json(&json) {
            Cow::Borrowed(_) => json,
            Cow::Owned(escaped) => escaped,
        }
    }

    /// Parses a queue message body by its `kind` ([`crate::sources::JOB_KINDS`]).
    pub fn from_json(body: &str) -> serde_json::Result<Self> {
        Self::from_json_with(body, crate::sources::JOB_KINDS)
    }

    fn from_json_with(body: &str, kinds: &[JobKind]) -> serde_json::Result<Self> {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(borrow)]
            kind: Cow<'a, str>,
        }
        let Kind { kind } = serde_json::from_str(body)?;
        match kinds.iter().find(|k| k.name == kind) {
            Some(k) => (k.parse)(body),
            None => Err(serde_json::Error::custom(format!(
                "unknown job kind {kind:?}: expected one of {}",
                kinds.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

impl fmt::Debug for SyncJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source's job as a new source would write it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct FormJob {
        id: String,
        form: String,
        received_at_ms: i64,
    }

    impl Job for FormJob {
        fn id(&self) -> &str {
            &self.id
        }
        fn source(&self) -> Source {
            Source::Ghl
        }
        fn contact_key(&self) -> ContactKey {
            ContactKey::ghl(&self.form, &self.id)
        }
        fn received_at_ms(&self) -> i64 {
            self.received_at_ms
        }
        fn trigger(&self) -> &'static str {
            "submitted"
        }
    }

    impl JobPayload for FormJob {
        const KIND: &'static str = "form.v1";
    }

    const KINDS: &[JobKind] = &[JobKind::of::<FormJob>()];

    fn form() -> FormJob {
        FormJob {
            id: "f1".into(),
            form: "signup".into(),
            received_at_ms: 7,
        }
    }

    #[test]
    fn a_registered_kind_round_trips_and_keeps_its_type() {
        let json = SyncJob::new(form()).to_json();
        assert_eq!(
            json,
            r#"{"kind":"form.v1","id":"f1","form":"signup","received_at_ms":7}"#
        );
        let back = SyncJob::from_json_with(&json, KINDS).unwrap();
        assert_eq!(back.kind(), "form.v1");
        assert_eq!(back.payload::<FormJob>(), Some(&form()));
        assert_eq!(back.id(), "f1");
        assert_eq!(back.trigger(), "submitted");
        assert_eq!(back.changed_at_ms(), None);
    }

    #[test]
    fn an_unknown_or_missing_kind_does_not_parse() {
        let err = SyncJob::from_json_with(r#"{"kind":"form.v9","id":"x"}"#, KINDS).unwrap_err();
        assert!(
            err.to_string().contains(r#"unknown job kind "form.v9""#),
            "{err}"
        );
        assert!(SyncJob::from_json_with(r#"{"id":"x"}"#, KINDS).is_err());
        assert!(SyncJob::from_json_with("not json", KINDS).is_err());
    }

    #[test]
    fn a_known_kind_with_a_broken_body_does_not_parse() {
        assert!(SyncJob::from_json_with(r#"{"kind":"form.v1","id":"x"}"#, KINDS).is_err());
    }
}
