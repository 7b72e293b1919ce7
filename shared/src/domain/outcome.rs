//! Where every job ends: synced, skipped for a stated reason, retried later, or parked. One
//! vocabulary for logs, metrics, the event log and the job markers.

use std::time::Duration;

use crate::domain::contact::DoNotCall;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// This job id was already processed.
    DuplicateJob,
    /// A newer version of the contact was already applied.
    Stale,
    /// The contact was read from the source after this job arrived, so that read (and what was
    /// done with it) already included this job's change: no second read is needed.
    Covered,
    /// CallTools already has exactly what this version would write.
    Unchanged,
    NoPhone,
    InvalidPhone,
    /// No rule matches the contact's tags and it was never synced.
    NotInAnyRule,
    /// Deleted in the source before it was ever synced, or with nothing left to remove.
    Deleted,
    /// The source forbids calling it and it is not in CallTools: it is not created there.
    DoNotCall(DoNotCall),
    /// A hook from a sink about a contact leadsync did not place there (or no longer as the
    /// contact the hook names): nothing that is not ours is acted on.
    NotPlaced,
    /// A call without a disposition yet: its outcome comes with a later hook.
    NoOutcome,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DuplicateJob => "duplicate_job",
            SkipReason::Stale => "stale",
            SkipReason::Covered => "covered",
            SkipReason::Unchanged => "unchanged",
            SkipReason::NoPhone => "no_phone",
            SkipReason::InvalidPhone => "invalid_phone",
            SkipReason::NotInAnyRule => "not_in_any_rule",
            SkipReason::Deleted => "deleted",
            // `dnd` or `dnd_call`: where the DND came from.
            SkipReason::DoNotCall(dnc) => dnc.as_str(),
            SkipReason::NotPlaced => "not_placed",
            SkipReason::NoOutcome => "no_outcome",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Synced {
        calltools_id: i64,
        calls: u32,
        /// The source's do-not-call this write applied (CallTools `do_not_contact`, out of the
        /// rule buckets, as `LEADSYNC_ON_DND` says).
        do_not_call: Option<DoNotCall>,
    },
    Skipped(SkipReason),
    /// Applied to leadsync's own store (a message, a receipt, a new contact) with nothing for
    /// CallTools to do.
    Stored {
        what: &'static str,
    },
    /// Transient: the message goes back to the queue with a delay.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Not attempted (circuit open, contact or job busy elsewhere): the job comes back after
    /// `after` as a fresh message, so waiting spends none of its `maxReceiveCount`.
    Defer {
        reason: String,
        after: Duration,
    },
    /// The service refused leadsync's credentials (401/403): the job was not at fault and waits
    /// for them to be fixed. The consumer turns this into a deferral, or into a park once the
    /// job has waited `LEADSYNC_AUTH_WAIT_MAX_SECS` ([`crate::consumer::credentials`]).
    CredentialsRejected {
        service: &'static str,
        status: u16,
        excerpt: String,
    },
    /// Permanent: the job goes to the dead-letter queue now, with its reason.
    Park {
        reason: String,
        status: Option<u16>,
        excerpt: String,
    },
}

/// What became of a record, in the one vocabulary the `jobs_processed` metric's `outcome`
/// dimension, the event log's `outcome` and the "job processed" log line share. The strings are
/// the dashboard's and the stored event entries': they do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Synced,
    Skipped,
    Stored,
    Retried,
    Deferred,
    Parked,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Synced => "synced",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Stored => "stored",
            OutcomeKind::Retried => "retried",
            OutcomeKind::Deferred => "deferred",
            OutcomeKind::Parked => "parked",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    /// What became of the record: a job refused for leadsync's credentials waits like any
    /// deferred one.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Synced { .. } => OutcomeKind::Synced,
            Outcome::Skipped(_) => OutcomeKind::Skipped,
            Outcome::Stored { .. } => OutcomeKind::Stored,
            Outcome::Retry { .. } => OutcomeKind::Retried,
            Outcome::Defer { .. } | Outcome::CredentialsRejected { .. } => OutcomeKind::Deferred,
            Outcome::Park { .. } => OutcomeKind::Parked,
        }
    }

    /// Why a skipped job was skipped.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self {
            Outcome::Skipped(r) => Some(*r),
            _ => None,
        }
    }

    /// The label stored in a completed job's `J#` marker (`synced`, `skipped:stale`,
    /// `stored:message`, …). Persisted: markers written before keep reading, so these strings
    /// do not change. Logs and metrics say [`Outcome::kind`] instead.
    pub fn marker_label(&self) -> String {
        match self {
            Outcome::Synced { .. } => "synced".into(),
            Outcome::Skipped(r) => format!("skipped:{}", r.as_str()),
            Outcome::Stored { what } => format!("stored:{what}"),
            Outcome::Retry { .. } => "retry".into(),
            Outcome::Defer { .. } => "deferred".into(),
            Outcome::CredentialsRejected { .. } => "credentials_rejected".into(),
            Outcome::Park { .. } => "parked".into(),
        }
    }

    /// Why a job was not applied, as the log line and the event log say it: never a response
    /// excerpt (that stays with the parked job).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Retry { reason, .. }
            | Outcome::Defer { reason, .. }
            | Outcome::Park { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The HTTP status of the answer that decided the outcome, when one did.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Outcome::CredentialsRejected { status, .. } => Some(*status),
            Outcome::Park { status, .. } => *status,
            _ => None,
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Outcome::Synced { .. } | Outcome::Skipped(_) | Outcome::Stored { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_outcome() -> Vec<Outcome> {
        vec![
            Outcome::Synced {
                calltools_id: 1,
                calls: 1,
                do_not_call: None,
            },
            Outcome::Skipped(SkipReason::Stale),
            Outcome::Stored { what: "message" },
            Outcome::Retry {
                reason: "CallTools: HTTP 503".into(),
                after: None,
            },
            Outcome::Defer {
                reason: "circuit open".into(),
                after: Duration::from_secs(1),
            },
            Outcome::CredentialsRejected {
                service: "CallTools",
                status: 401,
                excerpt: String::new(),
            },
            Outcome::Park {
                reason: "CallTools: HTTP 400".into(),
                status: Some(400),
                excerpt: String::new(),
            },
        ]
    }

    #[test]
    fn each_outcome_is_one_of_the_six_values_the_dashboard_searches() {
        let kinds: Vec<&str> = every_outcome().iter().map(|o| o.kind().as_str()).collect();
        assert_eq!(
            kinds,
            [
                "synced", "skipped", "stored", "retried", "deferred", "deferred", "parked"
            ]
        );
    }

    #[test]
    fn the_job_marker_labels_stay_as_stored_markers_spell_them() {
        let labels: Vec<String> = every_outcome().iter().map(Outcome::marker_label).collect();
        assert_eq!(
            labels,
            [
                "synced",
                "skipped:stale",
                "stored:message",
                "retry",
                "deferred",
                "credentials_rejected",
                "parked"
            ]
        );
    }

    #[test]
    fn only_a_skipped_job_has_a_skip_reason() {
        let reasons: Vec<Option<&str>> = every_outcome()
            .iter()
            .map(|o| o.skip_reason().map(SkipReason::as_str))
            .collect();
        assert_eq!(reasons, [None, Some("stale"), None, None, None, None, None]);
    }
}
