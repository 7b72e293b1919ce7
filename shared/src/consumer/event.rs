//! What the consumer writes to the event log for each record it settled.

use aws_lambda_events::event::sqs::SqsMessage;

use crate::consumer::{Consumer, outcome_dimension};
use crate::domain::job::SyncJob;
use crate::domain::outcome::{Outcome, SkipReason};
use crate::ports::events::EventEntry;

/// The record's SQS receive count: 1 on first delivery, growing with each retry.
pub(crate) fn receive_count(msg: &SqsMessage) -> u32 {
    msg.attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Whether an earlier attempt at this record's job may have written without saving: SQS
/// delivered it before, a deferral sent it again, or it was replayed from the DLQ.
pub(crate) fn retried(msg: &SqsMessage) -> bool {
    receive_count(msg) > 1 || replay_count(msg) > 0 || deferral(msg).1 > 0
}

/// A numeric message attribute, if present.
fn number_attribute(msg: &SqsMessage, name: &str) -> Option<i64> {
    msg.message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.parse().ok())
}

/// When the job was first deferred and how many times, from the attributes a deferral sets.
pub(crate) fn deferral(msg: &SqsMessage) -> (Option<i64>, u32) {
    let count = number_attribute(msg, "deferrals")
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    (number_attribute(msg, "deferred_since_ms"), count)
}

/// How many times the job was replayed from the DLQ: the `replay_count` message attribute
/// `leadsync dlq replay` sets, 0 for a job that came from ingress.
pub(crate) fn replay_count(msg: &SqsMessage) -> u32 {
    number_attribute(msg, "replay_count")
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// The log entry for one attempt at `job`.
pub fn entry_for(job: &SyncJob, outcome: &Outcome, receive_count: u32, at_ms: i64) -> EventEntry {
    let (reason, http_status, calltools_id) = match outcome {
        Outcome::Synced {
            calltools_id,
            do_not_call,
            ..
        } => (
            do_not_call.map(|dnc| format!("do not call: {}", dnc.as_str())),
            None,
            Some(*calltools_id),
        ),
        Outcome::Skipped(r) => (Some(r.as_str().to_string()), None, None),
        Outcome::Stored { what } => (Some((*what).to_string()), None, None),
        Outcome::Retry { reason, .. } | Outcome::Defer { reason, .. } => {
            (Some(reason.clone()), None, None)
        }
        Outcome::CredentialsRejected {
            service, status, ..
        } => (
            Some(format!("{service} refused leadsync's credentials")),
            Some(*status),
            None,
        ),
        Outcome::Park { reason, status, .. } => (Some(reason.clone()), *status, None),
    };
    EventEntry {
        contact: job.contact_key(),
        job_id: job.id().to_string(),
        trigger: job.trigger().to_string(),
        received_at_ms: job.received_at_ms(),
        outcome: outcome_dimension(outcome).to_string(),
        reason,
        http_status,
        calltools_id,
        receive_count,
        duplicate: *outcome == Outcome::Skipped(SkipReason::DuplicateJob),
        keep_settled: matches!(
            outcome,
            Outcome::Skipped(SkipReason::DuplicateJob | SkipReason::Stale | SkipReason::Covered)
        ),
        at_ms,
    }
}

impl Consumer {
    /// Records the attempt. The log is for people asking questions later, so a failure to write
    /// it is logged and never fails (or retries) the record.
    pub(crate) async fn log_event(&self, job: &SyncJob, outcome: &Outcome, msg: &SqsMessage) {
        let entry = entry_for(job, outcome, receive_count(msg), self.clock.now_ms());
        if let Err(e) = self.events.record(&entry).await {
            tracing::warn!(job_id = %entry.job_id, error = %e, "event log entry not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::contact::DoNotCall;
    use crate::sources::ghl::job::{GhlContactJob, GhlTrigger};

    fn job() -> SyncJob {
        SyncJob::new(GhlContactJob {
            job_id: "ghl:w1".into(),
            location_id: "loc".into(),
            contact_id: "c1".into(),
            trigger: GhlTrigger::ContactTagUpdate,
            version_ms: None,
            received_at_ms: 1_000,
            arrival: None,
            payload: "{}".into(),
        })
    }

    #[test]
    fn a_synced_job_is_logged_with_its_calltools_id_and_no_reason() {
        let e = entry_for(
            &job(),
            &Outcome::Synced {
                calltools_id: 7,
                calls: 1,
                do_not_call: None,
            },
            1,
            2_000,
        );
        assert_eq!(e.outcome, "synced");
        assert_eq!((e.reason, e.calltools_id), (None, Some(7)));
        assert_eq!(e.trigger, "ContactTagUpdate");
        assert_eq!(e.contact.storage_id(), "ghl#loc#c1");
        assert!(!e.duplicate);
    }

    #[test]
    fn a_dnd_write_or_skip_is_logged_with_where_the_dnd_came_from() {
        let written = Outcome::Synced {
            calltools_id: 7,
            calls: 1,
            do_not_call: Some(DoNotCall::Calls),
        };
        let e = entry_for(&job(), &written, 1, 0);
        assert_eq!(e.reason.as_deref(), Some("do not call: dnd_call"));
        let skipped = Outcome::Skipped(SkipReason::DoNotCall(DoNotCall::AllChannels));
        let e = entry_for(&job(), &skipped, 1, 0);
        assert_eq!(
            (e.outcome.as_str(), e.reason.as_deref()),
            ("skipped", Some("dnd"))
        );
    }

    #[test]
    fn skipped_retried_and_parked_jobs_carry_their_reason() {
        let stale = entry_for(&job(), &Outcome::Skipped(SkipReason::Stale), 1, 0);
        assert_eq!(
            (stale.outcome.as_str(), stale.reason.as_deref()),
            ("skipped", Some("stale"))
        );
        let retry = Outcome::Retry {
            reason: "CallTools: HTTP 503".into(),
            after: Some(Duration::from_secs(1)),
        };
        let retried = entry_for(&job(), &retry, 3, 0);
        assert_eq!(retried.outcome, "retried");
        assert_eq!(retried.receive_count, 3);
        let park = Outcome::Park {
            reason: "CallTools: HTTP 400".into(),
            status: Some(400),
            excerpt: String::new(),
        };
        let parked = entry_for(&job(), &park, 1, 0);
        assert_eq!(
            (parked.outcome.as_str(), parked.http_status),
            ("parked", Some(400))
        );
    }

    #[test]
    fn only_a_duplicate_job_is_marked_duplicate() {
        let dup = entry_for(&job(), &Outcome::Skipped(SkipReason::DuplicateJob), 2, 0);
        assert!(dup.duplicate);
        assert_eq!(dup.reason.as_deref(), Some("duplicate_job"));
    }

    #[test]
    fn the_receive_count_comes_from_the_sqs_attribute() {
        let mut msg = SqsMessage::default();
        assert_eq!(receive_count(&msg), 1);
        msg.attributes
            .insert("ApproximateReceiveCount".into(), "4".into());
        assert_eq!(receive_count(&msg), 4);
    }

    #[test]
    fn the_replay_count_comes_from_the_message_attribute_set_by_dlq_replay() {
        let mut msg = SqsMessage::default();
        assert_eq!(replay_count(&msg), 0);
        let mut attr = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        attr.string_value = Some("2".into());
        attr.data_type = Some("Number".into());
        msg.message_attributes.insert("replay_count".into(), attr);
        assert_eq!(replay_count(&msg), 2);
    }

    #[test]
    fn a_redelivery_a_deferral_or_a_replay_may_follow_an_attempt_that_wrote() {
        let number = |v: &str| {
            let mut attr = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
            attr.string_value = Some(v.into());
            attr.data_type = Some("Number".into());
            attr
        };
        let first = SqsMessage::default();
        assert!(!retried(&first));
        let mut redelivered = SqsMessage::default();
        redelivered
            .attributes
            .insert("ApproximateReceiveCount".into(), "2".into());
        assert!(retried(&redelivered));
        let mut deferred = SqsMessage::default();
        deferred
            .message_attributes
            .insert("deferrals".into(), number("1"));
        assert!(retried(&deferred));
        let mut replayed = SqsMessage::default();
        replayed
            .message_attributes
            .insert("replay_count".into(), number("1"));
        assert!(retried(&replayed));
    }
}
