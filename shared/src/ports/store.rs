//! What leadsync remembers, behind small ports: per-job idempotency, per-contact state (version,
//! sink mapping, what was last written) and webhook-id replay protection.
//!
//! One DynamoDB table; every key starts with what it is about:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | contact state + CallTools mapping | `C#<source>#<account>#<contact>` | `STATE` |
//! | job idempotency marker (TTL) | `J#<job id>` | `JOB` |
//! | webhook id seen: `PENDING` until its job is on the queue, then `ACCEPTED` (TTL) | `W#<source>#<webhook id>` | `WEBHOOK` |
//! | event log entry, one per job (TTL) | `E#<source>#<account>#<contact>` | `E#<received ms>#<job id>` |
//! | GHL OAuth tokens | `AUTH#ghl#<location>` | `TOKENS` |
//! | circuit breaker | `B#<name>` | `BREAKER` |
//! | backfill checkpoint, finished runs | `BF#<source>#<account>` | `CURRENT`, `RUN#<started ms>#<run id>` |
//! | Meta contact, conversation, messages | `C#<channel>#<page>#<psid>` | `META`, `CONV`, `M#<mid>` |
//! | CallTools placement method learned | `P#calltools#<silo host>#<key digest>` | `PLACEMENT` |
//!
//! Contact state and event entries carry `contact` = `<source>#<contact id>`, the key of the
//! `ByContact` index. Each role's IAM policy (template.yaml) allows only the partition prefixes
//! it uses (`dynamodb:LeadingKeys`), so a new kind of item needs a prefix of its own; the
//! template test in `local/src/template/least_privilege.rs` lists them per role.

use crate::domain::outcome::Outcome;
use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::contact::ContactKey;
use crate::domain::sink::SinkId;

#[derive(Debug, Error)]
#[error("state store unavailable: {message}")]
pub struct StoreError {
    message: String,
    transient: bool,
}

impl StoreError {
    /// A failure that retrying may get past: throttling, a 5xx, a timeout, a lost connection.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
        }
    }

    /// A failure that the same call would meet again: a failed condition, a refused or invalid
    /// request, an item leadsync cannot read.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What leadsync last applied for one contact: the source read it decided on, and what each
/// sink was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactState {
    /// GHL's `dateUpdated` (its database's clock, epoch ms, millisecond precision) of the contact
    /// read last applied. Compared only with other `dateUpdated`s: a later read's, a backfill
    /// snapshot's.
    pub version_ms: Option<i64>,
    /// The Marketplace webhook `timestamp` (GHL's sender clock, epoch ms; whole seconds in GHL's
    /// documented example) of the newest webhook whose job read and applied the contact.
    /// Compared only with other webhooks' timestamps: the two clocks differ, and a webhook stamped
    /// in the same second as an applied read's `dateUpdated` may carry a later change.
    pub webhook_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
    /// When the source read this state was decided on started (epoch ms). A job received
    /// before it describes a change that read already included.
    pub read_at_ms: Option<i64>,
    /// Ingress's count of webhooks accepted for the contact ([`WebhookLedger::arrived`]) as this
    /// state was loaded. Ingress alone writes the count: a state save never does.
    pub arrived_seq: Option<i64>,
    /// The count as it stood before the source read this state was decided on started: a job
    /// numbered at or below it describes a change that read included. Unlike `read_at_ms` it
    /// compares no clocks, so the second webhook of one change (GHL's Marketplace and workflow
    /// webhooks, a few milliseconds apart) needs no read of its own.
    pub read_seq: Option<i64>,
    /// [`crate::domain::contact::source_hash`] of the source contact this state was decided on.
    pub source_hash: Option<String>,
    /// The source's do-not-call this state was decided with (and applied in each sink, for a
    /// mapped contact): lifting it is what clears the `do_not_contact` leadsync set.
    pub do_not_call: Option<crate::domain::contact::DoNotCall>,
    /// What each sink was last given; a sink never written to has no entry.
    pub sinks: BTreeMap<SinkId, SinkState>,
}

/// What leadsync last gave one sink for a contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkState {
    /// The sink's own id for the contact (CallTools: its contact id).
    pub id: Option<i64>,
    /// Hash of the last write; the same hash means the call can be skipped.
    pub hash: Option<String>,
    /// The groups (CallTools buckets) and labels (CallTools tags) the last write left, by id.
    pub buckets: BTreeSet<i64>,
    pub tags: BTreeSet<i64>,
    /// The E.164 phone of a create whose answer was lost (a timeout, a 5xx, a dropped
    /// connection): the sink may hold the contact though leadsync has no id for it. The next job
    /// looks it up by this phone before deciding anything.
    pub unconfirmed_create_phone: Option<String>,
    /// The sink itself holds the contact as do-not-contact, set there (an agent in CallTools),
    /// not by leadsync: leadsync never clears it and never places the contact again.
    pub opted_out: bool,
    /// leadsync's own last write put a do-not-call into this sink: CallTools, `do_not_contact`
    /// from GHL DND (so its Contact hook is an echo, not an agent's opt-out); GoHighLevel, DND for
    /// calls from an outcome (so a hook whose GHL write failed is carried again). leadsync never
    /// lifts DND in GoHighLevel.
    pub dnd_written: bool,
    /// The source events this sink carried out (GoHighLevel: each CallTools call with the
    /// disposition whose outcome it wrote), the newest [`DONE_KEPT`]: a duplicate hook finds its
    /// call here, a disposition changed later does not.
    pub done: BTreeSet<Carried>,
    /// The writes a retry could repeat (GoHighLevel: a note, by its last line) that were sent
    /// but not confirmed (the answer lost, or without the note's id): the next job for the same
    /// event looks for them in the sink before writing again. At most [`DONE_KEPT`].
    pub unconfirmed_notes: BTreeSet<String>,
    /// Source events whose job this sink refused for good (parked in the DLQ, waiting for a
    /// replay), the newest [`DONE_KEPT`]: the backfill does not send them again every run.
    pub parked: BTreeSet<Carried>,
    /// Calls whose recording link was carried (in the outcome's note, or a note of its own when
    /// the link came later), or had nowhere to go (notes off); the newest [`DONE_KEPT`].
    pub recorded: BTreeSet<i64>,
    /// The source time of the newest event carried out (GoHighLevel: the latest call's start,
    /// epoch ms): an older call arriving later adds its note but does not overwrite the outcome.
    pub version_ms: Option<i64>,
}

/// One source event a sink carried out, in the version it carried: a CallTools call (`id`) and
/// the disposition it had then (`version`). Ordered by `id` first: CallTools' ids grow, so the
/// first ones are the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Carried {
    pub id: i64,
    pub version: Option<i64>,
}

impl Carried {
    pub fn new(id: i64, version: Option<i64>) -> Self {
        Self { id, version }
    }

    /// As stored: `<id>:<version>`, `<id>:-` without one.
    pub fn as_text(&self) -> String {
        match self.version {
            Some(v) => format!("{}:{v}", self.id),
            None => format!("{}:-", self.id),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (id, version) = text.split_once(':')?;
        let version = match version {
            "-" => None,
            v => Some(v.parse().ok()?),
        };
        Some(Self::new(id.parse().ok()?, version))
    }
}

/// How many carried-out events a sink entry remembers. Older ones are far behind the hooks'
/// duplicates and delays, and the calls backfill reads back half a day (a replay of an older
/// job finds its note by its last line, `SinkContext::retried`).
pub const DONE_KEPT: usize = 50;

static NEVER_WRITTEN: SinkState = SinkState {
    id: None,
    hash: None,
    buckets: BTreeSet::new(),
    tags: BTreeSet::new(),
    unconfirmed_create_phone: None,
    opted_out: false,
    dnd_written: false,
    done: BTreeSet::new(),
    unconfirmed_notes: BTreeSet::new(),
    parked: BTreeSet::new(),
    recorded: BTreeSet::new(),
    version_ms: None,
};

impl ContactState {
    /// What `sink` was last given (the empty state when nothing yet).
    pub fn sink(&self, sink: SinkId) -> &SinkState {
        self.sinks.get(&sink).unwrap_or(&NEVER_WRITTEN)
    }

    /// This state with nothing of its source read: no job counts as covered by the read
    /// (`read_at_ms`, `read_seq`) and the backfill finds the contact changed (`source_hash`).
    /// For a read whose effect is not known to have happened.
    pub fn without_read(self) -> Self {
        Self {
            read_at_ms: None,
            read_seq: None,
            source_hash: None,
            ..self
        }
    }

    /// This state with `sink`'s entry replaced. An empty entry is dropped, so two states that
    /// hold the same are equal.
    pub fn with_sink(mut self, sink: SinkId, state: SinkState) -> Self {
        if state == SinkState::default() {
            self.sinks.remove(&sink);
        } else {
            self.sinks.insert(sink, state);
        }
        self
    }
}

/// The contacts leadsync placed in a sink under the sink's own id: how a hook from the sink
/// (a call in CallTools) is filed under the contact it is about. Several when the sink merged
/// contacts (CallTools merges by phone); read eventually consistently, so a contact placed a
/// moment ago may not be found yet (the backfill finds it later).
#[async_trait]
pub trait SinkIndex: Send + Sync {
    async fn placed_as(
        &self,
        sink: SinkId,
        id: i64,
    ) -> Result<Vec<crate::domain::contact::ContactKey>, StoreError>;
}

/// A walk over every stored contact state, a page at a time: what the sink audit reads.
#[async_trait]
pub trait StateScan: Send + Sync {
    /// The page after `cursor` (`None`: the first); its `next` is `None` after the last.
    async fn states_page(
        &self,
        cursor: Option<&serde_json::Value>,
        limit: i32,
    ) -> Result<StatesPage, StoreError>;
}

pub struct StatesPage {
    pub states: Vec<(crate::domain::contact::ContactKey, ContactState)>,
    /// Opaque, stored in the run's checkpoint.
    pub next: Option<serde_json::Value>,
}

/// The answer to "may I process this job?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobClaim {
    Acquired,
    /// Already processed; `outcome` is what it came to.
    Completed {
        outcome: String,
    },
    /// Another invocation holds the lock and has not run out of time.
    InProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
// One per job, moved once: boxing the state would cost an allocation to save a copy.
#[allow(clippy::large_enum_variant)]
pub enum Lease {
    Held(ContactState),
    Busy,
}

/// Whether a delivery's job still has to be put on the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookClaim {
    /// Its job is not known to be on the queue: never seen, or seen by a delivery that did not
    /// get its job queued (answered 429, or cut short). Enqueue it; the job id is the same, so a
    /// second copy of a job that did get through is a duplicate the consumer drops.
    New,
    /// Its job is on the queue; `first_received_at_ms` (when known) finds the original's log entry.
    Replayed { first_received_at_ms: Option<i64> },
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Takes the job's in-progress lock until `lock_until_ms` (the invocation's deadline, so a
    /// crashed invocation never blocks the retry).
    async fn claim_job(&self, job_id: &str, lock_until_ms: i64) -> Result<JobClaim, StoreError>;
    async fn complete_job(&self, job_id: &str, outcome: &str) -> Result<(), StoreError>;
    /// Drops the lock of a job that failed, so its retry runs.
    async fn release_job(&self, job_id: &str) -> Result<(), StoreError>;
    /// Leases the contact for `owner` until `until_ms` and returns its state; jobs for one
    /// contact never run side by side, so two of them cannot both create it.
    async fn lease_contact(
        &self,
        key: &ContactKey,
        owner: &str,
        until_ms: i64,
    ) -> Result<Lease, StoreError>;
    /// Writes the new state and releases the lease, if `owner` still holds it.
    async fn save_contact(
        &self,
        key: &ContactKey,
        owner: &str,
        state: &ContactState,
    ) -> Result<(), StoreError>;
    async fn release_contact(&self, key: &ContactKey, owner: &str) -> Result<(), StoreError>;
    async fn contact_state(&self, key: &ContactKey) -> Result<Option<ContactState>, StoreError>;
    /// What a backfill page compares: the source hash of many contacts' states at once, by
    /// [`ContactKey::storage_id`]; contacts without one are absent from the map.
    async fn source_hashes(
        &self,
        keys: &[ContactKey],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        Ok(self
            .contact_states(keys)
            .await?
            .into_iter()
            .filter_map(|(id, state)| Some((id, state.source_hash?)))
            .collect())
    }
    /// The states of many contacts at once, by [`ContactKey::storage_id`]; contacts without
    /// one are absent from the map.
    async fn contact_states(
        &self,
        keys: &[ContactKey],
    ) -> Result<std::collections::HashMap<String, ContactState>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for key in keys {
            if let Some(state) = self.contact_state(key).await? {
                found.insert(key.storage_id(), state);
            }
        }
        Ok(found)
    }
}

#[async_trait]
pub trait WebhookLedger: Send + Sync {
    /// Records that a delivery of this webhook id arrived; `Replayed` only when an earlier
    /// delivery's job is known to be on the queue ([`WebhookLedger::mark_queued`]).
    async fn claim_webhook(
        &self,
        source: &str,
        webhook_id: &str,
        received_at_ms: i64,
    ) -> Result<WebhookClaim, StoreError>;
    /// Records that the id's job is on the queue, so later deliveries are answered as
    /// duplicates. Called only after the enqueue succeeded: an id is never accepted for a job
    /// that is not queued.
    async fn mark_queued(&self, source: &str, webhook_id: &str) -> Result<(), StoreError>;
    /// Counts one more webhook accepted for the contact, before its job is queued, and answers
    /// the count: the job's number ([`ContactState::read_seq`]).
    async fn arrived(&self, contact: &ContactKey) -> Result<i64, StoreError>;
    /// Whether this id arrived before and its job was never confirmed queued: a delivery we
    /// could not take, whose retry — which may come an hour late with the original timestamp —
    /// is let in.
    async fn retry_allowed(&self, source: &str, webhook_id: &str) -> Result<bool, StoreError>;
}

/// Every store failure is retried, as before; whether DynamoDB called it transient is logged, so
/// a run of `transient: false` (a refused permission, an invalid request) stands out.
pub fn store_retry(e: StoreError) -> Outcome {
    tracing::warn!(error = %e, transient = e.is_transient(), "state store call failed; the job is retried");
    Outcome::Retry {
        reason: e.to_string(),
        after: None,
    }
}
