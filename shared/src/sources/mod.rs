//! Where contacts come from. Each source is a folder with up to three parts, each a small trait
//! the pipeline knows instead of the source:
//! - [`crate::ingress::WebhookRoutes`]: the routes it serves — verify, parse, allow-list, enqueue;
//! - [`ContactSource`]: what the consumer reads back for one of its jobs, under the contact's lease;
//! - [`crate::backfill::Scan`]: what the scheduled backfill pages through.
//!
//! `app::registry` builds them from configuration: the one list of sources.

pub mod ghl;
pub mod meta;

use async_trait::async_trait;

use crate::consumer::outcome::{Outcome, SkipReason};
use crate::domain::clock::Clock;
use crate::domain::contact::Contact;
use crate::domain::job::{Origin, SyncJob};
use crate::domain::rules::{Membership, Rules};
use crate::domain::source::Source;
use crate::ports::store::ContactState;

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
