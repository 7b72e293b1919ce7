//! Creates whose answer was lost. The POST may have reached CallTools and created the contact
//! though leadsync saw a timeout, a 5xx or a dropped connection, so it has no id for it. The
//! contact's state keeps the phone the create used; the next job looks it up by that phone
//! before deciding anything, so a contact that left every rule, was deleted or went DND before a
//! retry succeeded is still taken out of its buckets instead of staying dialable unseen.

use crate::domain::rules::Rules;
use crate::domain::sink::SinkId;
use crate::ports::remote::RemoteError;
use crate::ports::store::{ContactState, SinkState};
use crate::sinks::calltools::{CallToolsSink, ResolvedMembership};

impl CallToolsSink {
    /// `state` with its lost create settled: the contact found in CallTools becomes mapped,
    /// or the marker is dropped when nobody has the phone. Unchanged without a marker.
    pub(crate) async fn settle_unconfirmed_create(
        &self,
        state: ContactState,
        rules: &Rules,
    ) -> Result<ContactState, RemoteError> {
        let ct = state.sink(SinkId::CallTools);
        let Some(phone) = ct.unconfirmed_create_phone.as_deref() else {
            return Ok(state);
        };
        if ct.id.is_some() {
            return Ok(forgotten(state));
        }
        match self.find_existing(phone).await? {
            Some(id) => {
                let possible = self.resolve(&rules.every_membership()).await?;
                metrics::counter!("unconfirmed_creates", "outcome" => "found").increment(1);
                Ok(adopted(state, id, possible))
            }
            None => {
                metrics::counter!("unconfirmed_creates", "outcome" => "absent").increment(1);
                Ok(forgotten(state))
            }
        }
    }
}

/// The state to keep after a create whose answer was lost: `state` (what the job leased, with
/// no id) plus the marker, and no source read: the change the job read is not applied, so
/// neither its retry (`Covered`) nor the backfill (same source hash) may take it as done.
pub(crate) fn marked(state: ContactState, phone: &str) -> ContactState {
    metrics::counter!("unconfirmed_creates", "outcome" => "marked").increment(1);
    let ct = SinkState {
        unconfirmed_create_phone: Some(phone.to_string()),
        ..state.sink(SinkId::CallTools).clone()
    };
    // Nothing of the read was applied: no later job may count as covered by it, not even
    // this job's own retry.
    state.without_read().with_sink(SinkId::CallTools, ct)
}

/// The contact found by the lost create's phone, mapped. Which buckets and tags the create put
/// it in is not known, so every one the rules can give counts as possibly present: the next
/// write removes whatever its target leaves out.
fn adopted(state: ContactState, id: i64, possible: ResolvedMembership) -> ContactState {
    let ct = SinkState {
        id: Some(id),
        buckets: possible.buckets,
        tags: possible.tags,
        hash: None,
        unconfirmed_create_phone: None,
        ..state.sink(SinkId::CallTools).clone()
    };
    state.with_sink(SinkId::CallTools, ct)
}

fn forgotten(state: ContactState) -> ContactState {
    let ct = SinkState {
        unconfirmed_create_phone: None,
        ..state.sink(SinkId::CallTools).clone()
    };
    state.with_sink(SinkId::CallTools, ct)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn lost() -> ContactState {
        ContactState {
            version_ms: Some(5),
            read_at_ms: Some(7),
            source_hash: Some("h".into()),
            ..ContactState::default()
        }
        .with_sink(
            SinkId::CallTools,
            SinkState {
                unconfirmed_create_phone: Some("+14155550100".into()),
                ..SinkState::default()
            },
        )
    }

    #[test]
    fn a_contact_found_after_a_lost_create_is_mapped_and_may_be_in_every_rule_bucket() {
        let possible = ResolvedMembership {
            buckets: BTreeSet::from([1, 2]),
            tags: BTreeSet::from([9]),
        };
        let s = adopted(lost(), 42, possible);
        let ct = s.sink(SinkId::CallTools);
        assert_eq!(ct.id, Some(42));
        assert_eq!(ct.buckets, BTreeSet::from([1, 2]));
        assert_eq!(ct.tags, BTreeSet::from([9]));
        assert_eq!(
            ct.hash, None,
            "the next write is never skipped as unchanged"
        );
        assert_eq!(ct.unconfirmed_create_phone, None);
        assert_eq!(s.version_ms, Some(5));
    }

    #[test]
    fn the_marker_records_no_source_read_so_the_retry_and_the_backfill_still_apply_the_change() {
        let leased = lost().with_sink(SinkId::CallTools, SinkState::default());
        let s = marked(leased, "+14155550100");
        assert_eq!(
            s.sink(SinkId::CallTools)
                .unconfirmed_create_phone
                .as_deref(),
            Some("+14155550100")
        );
        assert_eq!(s.read_at_ms, None, "a retry is not covered");
        assert_eq!(s.source_hash, None, "the backfill sees a change");
        assert_eq!(s.version_ms, Some(5), "the version applied before");
    }
}
