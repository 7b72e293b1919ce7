//! The event log: one entry per job the consumer processed, with what it came to, so "did we sync
//! X?" has an answer long after the logs have rolled over.
//!
//! One job is one entry across its retries and DLQ replays: each attempt updates it (outcome,
//! reason, attempt count, timestamps). Entries live 30 days and are found by the contact id alone
//! through the `ByContact` index, which also finds the contact's state item.

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::contact::ContactKey;
use crate::ports::store::StoreError;

/// The table's global secondary index: partition `contact` (`<source>#<contact id>`), sort `sk`.
pub const CONTACT_INDEX: &str = "ByContact";
/// Long enough to answer "what happened last week?", short enough to keep the table small.
pub const EVENT_TTL_SECS: i64 = 30 * 86_400;

/// The `contact` attribute the index is keyed on: no account, so an operator needs only the id.
pub fn contact_index_key(source: &str, contact_id: &str) -> String {
    format!("{source}#{contact_id}")
}

/// The entry's sort key: arrival time first, so entries sort in the order the changes arrived;
/// the job id makes it unique and stable across retries (same job, same received time).
pub fn event_sort_key(received_at_ms: i64, job_id: &str) -> String {
    format!("E#{:013}#{job_id}", received_at_ms.max(0))
}

/// What one attempt at a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    pub contact: ContactKey,
    pub job_id: String,
    pub trigger: String,
    pub received_at_ms: i64,
    /// `synced`, `skipped`, `retried` or `parked`.
    pub outcome: String,
    pub reason: Option<String>,
    pub http_status: Option<u16>,
    pub calltools_id: Option<i64>,
    /// SQS `ApproximateReceiveCount` of this attempt (it restarts at 1 after a DLQ replay).
    pub receive_count: u32,
    /// A redelivery of a job that was already settled: it is counted, but never overwrites what
    /// the job came to, or a synced job would read as skipped after an at-least-once redelivery.
    pub duplicate: bool,
    /// An outcome that settles the job only if nothing settled it yet (stale, covered: what a
    /// redelivery of an already synced job also finds).
    pub keep_settled: bool,
    pub at_ms: i64,
}

/// A webhook ingress accepted and queued: the entry exists (outcome `queued`) before any attempt,
/// so a job that never reached the consumer still shows up. Borrowed from the job: ingress copies
/// nothing to log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub contact: &'a ContactKey,
    pub job_id: &'a str,
    pub trigger: &'a str,
    pub received_at_ms: i64,
}

/// The outcome of an entry ingress wrote and no attempt has settled yet.
pub const QUEUED: &str = "queued";
/// The outcomes that settle a job; `queued`, `retried` and `deferred` are on the way there.
pub const SETTLED: [&str; 4] = ["synced", "skipped", "stored", "parked"];

/// One job as the log has it after all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedEvent {
    pub source: String,
    pub account: String,
    pub contact_id: String,
    pub job_id: String,
    pub trigger: String,
    pub received_at_ms: i64,
    pub outcome: String,
    pub reason: Option<String>,
    pub http_status: Option<u16>,
    pub calltools_id: Option<i64>,
    /// How many times the consumer handled this job, duplicates included.
    pub attempts: u32,
    pub duplicates: u32,
    /// Deliveries of the same webhook id that ingress answered `duplicate` and did not enqueue.
    pub duplicate_deliveries: u32,
    pub last_receive_count: u32,
    pub first_seen_ms: i64,
    pub last_attempt_ms: i64,
    #[serde(skip)]
    pub expires_at: i64,
}

impl LoggedEvent {
    /// The entry after `entry` is applied to it (or to nothing); the in-memory adapter uses it,
    /// the DynamoDB adapter expresses the same rules as one `UpdateItem`.
    pub fn merged(existing: Option<LoggedEvent>, entry: &EventEntry) -> LoggedEvent {
        // Only an attempt's outcome counts as settled; `queued` (ingress) and `retried` do not.
        let settled = existing
            .as_ref()
            .is_some_and(|e| SETTLED.contains(&e.outcome.as_str()));
        let mut e = existing.unwrap_or_else(|| LoggedEvent {
            source: entry.contact.source.to_string(),
            account: entry.contact.account.clone(),
            contact_id: entry.contact.id.clone(),
            job_id: entry.job_id.clone(),
            trigger: entry.trigger.clone(),
            received_at_ms: entry.received_at_ms,
            outcome: String::new(),
            reason: None,
            http_status: None,
            calltools_id: None,
            attempts: 0,
            duplicates: 0,
            duplicate_deliveries: 0,
            last_receive_count: 0,
            first_seen_ms: entry.at_ms,
            last_attempt_ms: entry.at_ms,
            expires_at: 0,
        });
        if e.attempts == 0 {
            e.first_seen_ms = entry.at_ms;
        }
        e.attempts += 1;
        e.last_receive_count = entry.receive_count;
        e.last_attempt_ms = entry.at_ms;
        e.expires_at = entry.at_ms / 1000 + EVENT_TTL_SECS;
        if entry.duplicate {
            e.duplicates += 1;
        }
        if !(entry.duplicate || entry.keep_settled) || !settled {
            e.outcome = entry.outcome.clone();
            e.reason = entry.reason.clone();
            e.http_status = entry.http_status;
            if entry.calltools_id.is_some() {
                e.calltools_id = entry.calltools_id;
            }
        }
        e
    }

    /// The entry ingress writes for a webhook it queued.
    pub fn queued(r: &Received<'_>, at_ms: i64) -> LoggedEvent {
        LoggedEvent {
            source: r.contact.source.to_string(),
            account: r.contact.account.clone(),
            contact_id: r.contact.id.clone(),
            job_id: r.job_id.to_string(),
            trigger: r.trigger.to_string(),
            received_at_ms: r.received_at_ms,
            outcome: QUEUED.into(),
            reason: None,
            http_status: None,
            calltools_id: None,
            attempts: 0,
            duplicates: 0,
            duplicate_deliveries: 0,
            last_receive_count: 0,
            first_seen_ms: 0,
            last_attempt_ms: 0,
            expires_at: at_ms / 1000 + EVENT_TTL_SECS,
        }
    }
}

#[async_trait]
pub trait EventLog: Send + Sync {
    /// Records a webhook ingress queued; an entry an attempt already wrote is left as it is.
    async fn received(&self, r: &Received<'_>) -> Result<(), StoreError>;
    /// Counts a delivery of an already accepted webhook on the original's entry, if it has one.
    async fn duplicate_delivery(&self, original: &Received<'_>) -> Result<(), StoreError>;
    /// Records one attempt at a job.
    async fn record(&self, entry: &EventEntry) -> Result<(), StoreError>;
    /// The contact's jobs, newest first, at most `limit`, expired ones left out.
    async fn for_contact(
        &self,
        source: &str,
        contact_id: &str,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(outcome: &str, reason: Option<&str>, duplicate: bool, at_ms: i64) -> EventEntry {
        EventEntry {
            contact: ContactKey::ghl("loc", "c1"),
            job_id: "ghl:w1".into(),
            trigger: "ContactTagUpdate".into(),
            received_at_ms: 1_000,
            outcome: outcome.into(),
            reason: reason.map(str::to_string),
            http_status: None,
            calltools_id: (outcome == "synced").then_some(42),
            receive_count: 1,
            duplicate,
            keep_settled: duplicate,
            at_ms,
        }
    }

    #[test]
    fn sort_keys_sort_by_arrival_time_and_are_stable_per_job() {
        assert_eq!(
            event_sort_key(1_700_000_000_000, "ghl:a"),
            "E#1700000000000#ghl:a"
        );
        assert_eq!(event_sort_key(5, "j"), "E#0000000000005#j");
        assert!(event_sort_key(999, "z") < event_sort_key(1_000, "a"));
        assert!(event_sort_key(i64::MAX, "j").as_str() < "STATE");
    }

    #[test]
    fn a_retried_job_that_then_syncs_is_one_entry_with_both_attempts() {
        let mut retry = entry("retried", Some("CallTools: HTTP 503"), false, 2_000);
        retry.http_status = Some(503);
        let first = LoggedEvent::merged(None, &retry);
        let done = LoggedEvent::merged(Some(first), &entry("synced", None, false, 5_000));
        assert_eq!(done.outcome, "synced");
        assert_eq!(done.reason, None);
        assert_eq!(
            done.http_status, None,
            "the 503 belonged to the earlier attempt"
        );
        assert_eq!(done.attempts, 2);
        assert_eq!((done.first_seen_ms, done.last_attempt_ms), (2_000, 5_000));
        assert_eq!(done.calltools_id, Some(42));
        assert_eq!(done.expires_at, 5 + EVENT_TTL_SECS);
    }

    #[test]
    fn a_stale_or_covered_attempt_settles_only_what_nothing_settled_yet() {
        let mut covered = entry("skipped", Some("covered"), false, 3_000);
        covered.keep_settled = true;
        let synced = LoggedEvent::merged(None, &entry("synced", None, false, 2_000));
        let after = LoggedEvent::merged(Some(synced), &covered);
        assert_eq!((after.outcome.as_str(), after.attempts), ("synced", 2));
        assert_eq!(after.duplicates, 0, "not a duplicate delivery");
        let retried = LoggedEvent::merged(None, &entry("retried", Some("HTTP 503"), false, 2_000));
        let after = LoggedEvent::merged(Some(retried), &covered);
        assert_eq!(after.reason.as_deref(), Some("covered"));
    }

    #[test]
    fn the_first_attempt_settles_an_entry_ingress_queued() {
        let r = Received {
            contact: &ContactKey::ghl("loc", "c1"),
            job_id: "ghl:w1",
            trigger: "ContactTagUpdate",
            received_at_ms: 1_000,
        };
        let queued = LoggedEvent::queued(&r, 1_000);
        assert_eq!((queued.outcome.as_str(), queued.attempts), (QUEUED, 0));
        let dup = LoggedEvent::merged(
            Some(queued.clone()),
            &entry("skipped", Some("duplicate_job"), true, 3_000),
        );
        assert_eq!(
            dup.outcome, "skipped",
            "a queued entry has no outcome to keep"
        );
        let synced = LoggedEvent::merged(Some(queued), &entry("synced", None, false, 2_000));
        assert_eq!((synced.outcome.as_str(), synced.attempts), ("synced", 1));
        assert_eq!(synced.first_seen_ms, 2_000);
    }

    #[test]
    fn a_duplicate_delivery_is_counted_but_keeps_what_the_job_came_to() {
        let synced = LoggedEvent::merged(None, &entry("synced", None, false, 2_000));
        let dup = entry("skipped", Some("duplicate_job"), true, 3_000);
        let after = LoggedEvent::merged(Some(synced), &dup);
        assert_eq!(after.outcome, "synced");
        assert_eq!((after.attempts, after.duplicates), (2, 1));
        let unknown = LoggedEvent::merged(None, &dup);
        assert_eq!(
            (unknown.outcome.as_str(), unknown.reason.as_deref()),
            ("skipped", Some("duplicate_job")),
            "with no earlier entry the duplicate is all we know"
        );
    }
}
