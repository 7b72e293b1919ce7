//! Where contacts go. Each sink is a folder implementing [`Sink`]: it decides with a pure plan
//! (what to write, or why nothing) and carries it out. The consumer reads the contact from its
//! source and hands it to the sink `app` registered; a sink's memory of what it was given lives
//! in its own entry of the contact state (`ContactState::sink`).
//!
//! Today: the CallTools dialer (its client, the upsert, the bucket placement method it learns
//! per account, and the plan), for GoHighLevel, Messenger and Instagram contacts; and
//! GoHighLevel, for the call outcomes CallTools reports (`app::registry` says which sink each
//! source's jobs go to).

pub mod calltools;
pub mod ghl;

use async_trait::async_trait;

use crate::domain::contact::{Contact, ContactKey};
use crate::domain::outcome::Outcome;
use crate::domain::rules::{Membership, Rules};
use crate::domain::sink::SinkId;
use crate::ports::store::ContactState;

/// This deployment's rules and defaults, as a sink decides with them.
pub struct SinkContext<'a> {
    pub rules: &'a Rules,
    /// For phones written without a country code.
    pub default_region: &'a str,
    /// An earlier attempt at this job may have written without its state being saved (a
    /// redelivery, a deferral or a replay): a write a repeat would duplicate is looked for first.
    pub retried: bool,
    /// The job being carried out (a GHL note's last line is tagged with it).
    pub job_id: &'a str,
}

/// A destination for contacts. Both calls run under the contact's lease; the state they return
/// (if any) is saved before the lease is released.
#[async_trait]
pub trait Sink: Send + Sync {
    fn id(&self) -> SinkId;

    /// Brings the sink in line with `contact` (stored under `key`), to which the rules give
    /// `wanted`; `state` is what was last applied. Returns what it came to and the state to save, if anything changed.
    async fn sync(
        &self,
        key: &ContactKey,
        contact: &Contact,
        wanted: &Membership,
        state: ContactState,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>);

    /// Run once in a cold start's init, before the first job: looks up what every job needs
    /// first (the rules' names as ids, what the account is known to do), opening the
    /// connections the first job then reuses. Best effort: what fails here a job looks up again.
    async fn prepare(&self, _rules: &Rules) {}

    /// `state` brought in line with what the sink holds now, asked for a job the sink audit
    /// sent: what it no longer holds is forgotten, so the plan writes it again. Under the lease.
    async fn observe(&self, state: ContactState) -> Result<ContactState, Outcome> {
        Ok(state)
    }

    /// The contact is gone from its source (deleted, or no longer readable).
    async fn gone(
        &self,
        key: &ContactKey,
        leased: ContactState,
        ctx: &SinkContext<'_>,
    ) -> (Outcome, Option<ContactState>);
}
