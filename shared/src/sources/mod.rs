//! Where contacts come from. Each source is a folder with up to three parts, each a small trait
//! the pipeline knows instead of the source:
//! - [`crate::ingress::WebhookRoutes`]: the routes it serves — verify, parse, allow-list, enqueue;
//! - [`ContactSource`]: what the consumer reads back for one of its jobs, under the contact's lease;
//! - [`crate::backfill::Scan`]: what the scheduled backfill pages through.
//!
//! A source's jobs are its own type ([`crate::domain::job::JobPayload`], in its folder), listed
//! here in [`JOB_KINDS`]; `app::registry` builds the three parts from configuration.

pub mod calltools;
pub mod ghl;
pub mod meta;

use async_trait::async_trait;

use crate::domain::clock::Clock;
use crate::domain::contact::Contact;
use crate::domain::job::{JobKind, Origin, SyncJob};
use crate::domain::outcome::{Outcome, SkipReason};
use crate::domain::rules::{Membership, Rules};
use crate::domain::source::Source;
use crate::ports::store::ContactState;

/// Every job kind the consumer parses, old ones included: a message parked in the DLQ before a
/// deploy still parses after it.
pub const JOB_KINDS: &[JobKind] = &[
    JobKind::of::<ghl::job::GhlContactJob>(),
    JobKind::of::<meta::job::MetaJob>(),
    JobKind::of::<calltools::job::CallToolsJob>(),
];

/// What reading a job's contact from its source came to.
#[derive(Debug)]
pub enum Read {
    /// The contact as the source has it now and what the rules want for it; `state` is the
    /// leased state with the source's own bookkeeping (when it read, what it saw) brought forward.
    Found {
        contact: Contact,
        wanted: Membership,
        state: ContactState,
        /// When the sinks create the contact from this read, it is counted as created by this
        /// origin (`contacts_created{source, origin}`); `None` for a source that counts its
        /// contacts where it stores them.
        counts_created: Option<Origin>,
    },
    /// Deleted in the source, or no longer readable: the sinks withdraw it.
    Gone(ContactState),
    /// Nothing for the sinks: skipped, kept in leadsync's own store, or failed; with the state to
    /// save, if any.
    Settled(Outcome, Option<ContactState>),
}

/// What every source reads with: this deployment's rules and defaults, and the consumer's clock.
pub struct ReadContext<'a> {
    pub rules: &'a Rules,
    /// `rules.fingerprint()`, made once.
    pub rules_fingerprint: &'a str,
    /// For phones written without a country code.
    pub default_region: &'a str,
    pub clock: &'a dyn Clock,
}

/// A source as the consumer sees it.
#[async_trait]
pub trait ContactSource: Send + Sync {
    /// The sources whose jobs it reads.
    fn serves(&self) -> &'static [Source];

    /// Whether the saved state alone can settle one of its jobs. When it can, the consumer reads
    /// the state before claiming the job and asks [`ContactSource::settled_by_state`]: no claim,
    /// no lease, no source read for most of a burst.
    fn settles_by_state(&self) -> bool {
        false
    }

    /// Why the saved state alone settles `job`, if it does. Asked before the claim (when
    /// [`ContactSource::settles_by_state`]) and again under the lease.
    fn settled_by_state(&self, _job: &SyncJob, _state: &ContactState) -> Option<SkipReason> {
        None
    }

    /// Reads `job`'s contact while the consumer holds its lease; `state` is what was applied.
    async fn read(&self, job: &SyncJob, state: ContactState, ctx: &ReadContext<'_>) -> Read;
}

/// A job handed to a source that does not read its kind: a wiring mistake, parked with its name.
pub(crate) fn not_mine(source: &str, job: &SyncJob) -> Read {
    Read::Settled(
        Outcome::Park {
            reason: format!(
                "the {source} source was given a {} job",
                job.source().as_str()
            ),
            status: None,
            excerpt: String::new(),
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::ContactKey;

    /// Messages as releases before the generic envelope wrote them (the enum `SyncJob` tagged by
    /// `kind`); the last has no `origin`, as before Meta's backfill.
    const PARKED: &str = include_str!("../../../testdata/jobs/parked-before-the-envelope.jsonl");

    #[test]
    fn messages_parked_before_the_envelope_still_parse() {
        let jobs: Vec<SyncJob> = PARKED
            .lines()
            .map(|line| SyncJob::from_json(line).expect("a parked message parses"))
            .collect();
        let summary: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.kind(),
                    j.id(),
                    j.source(),
                    j.trigger(),
                    j.received_at_ms(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "ghl_contact.v1",
                    "ghl:sample-webhook-0001",
                    Source::Ghl,
                    "ContactTagUpdate",
                    1_795_428_000_000
                ),
                (
                    "meta_event.v1",
                    "meta:msg:m_0001",
                    Source::Instagram,
                    "message",
                    1_795_428_000_100
                ),
                (
                    "meta_event.v1",
                    "meta:conv:t_1",
                    Source::Messenger,
                    "conversation",
                    1_795_428_000_200
                ),
            ]
        );
        assert_eq!(
            jobs[0].contact_key(),
            ContactKey::ghl("ve9EPM428h8vShlRW1KT", "nmFmQEsNgz6AVpgLVUJ0")
        );
        let ghl = jobs[0].payload::<ghl::job::GhlContactJob>().unwrap();
        assert!(ghl.payload.starts_with(r#"{"type":"ContactTagUpdate""#));
        let instagram = jobs[1].payload::<meta::job::MetaJob>().unwrap();
        assert_eq!(
            instagram.origin,
            Origin::Webhook,
            "no origin was a webhook's"
        );
        let backfill = jobs[2].payload::<meta::job::MetaJob>().unwrap();
        assert_eq!(backfill.origin, Origin::Backfill);
        assert!(jobs[1].payload::<ghl::job::GhlContactJob>().is_none());
    }

    #[test]
    fn a_parked_message_is_written_back_as_it_was_read() {
        for line in PARKED.lines() {
            let written = SyncJob::from_json(line).unwrap().to_json();
            let (read, written): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(line).unwrap(),
                serde_json::from_str(&written).unwrap(),
            );
            // The same fields and values; only a default left out of the old message (`origin`)
            // is written out.
            let mut expected = read.clone();
            if read["kind"] == "meta_event.v1" && read.get("origin").is_none() {
                expected["origin"] = "webhook".into();
            }
            assert_eq!(written, expected, "{line}");
        }
    }
}
