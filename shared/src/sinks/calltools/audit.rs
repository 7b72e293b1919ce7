//! The sink audit's decision: does CallTools still hold what leadsync last gave it? Anyone can
//! delete a contact in CallTools or take it out of a bucket; leadsync, which compares against
//! what it last wrote, would never notice. The audit reads each contact leadsync placed and
//! compares.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::ports::store::SinkState;

/// How CallTools differs from what leadsync last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The contact leadsync created or found is gone from CallTools.
    Deleted,
    /// Still there, but out of buckets leadsync placed it in.
    OutOfBuckets(BTreeSet<i64>),
}

impl Drift {
    /// The `kind` of the `sink_drift` count and the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::Deleted => "deleted",
            Drift::OutOfBuckets(_) => "out_of_bucket",
        }
    }
}

/// The drift between `applied` (the contact's CallTools entry) and `observed` (the contact as
/// CallTools renders it now, `None` when it answers 404). A contact leadsync never placed, or
/// whose buckets are all still there, has none. Buckets added by hand are not drift: leadsync
/// only answers for what it placed.
pub fn drift(applied: &SinkState, observed: Option<&Value>) -> Option<Drift> {
    applied.id?;
    let Some(contact) = observed else {
        return Some(Drift::Deleted);
    };
    let holds: BTreeSet<i64> = contact["buckets"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let missing: BTreeSet<i64> = applied.buckets.difference(&holds).copied().collect();
    (!missing.is_empty()).then_some(Drift::OutOfBuckets(missing))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn placed(buckets: &[i64]) -> SinkState {
        SinkState {
            id: Some(7),
            buckets: buckets.iter().copied().collect(),
            ..SinkState::default()
        }
    }

    #[test]
    fn a_contact_gone_from_calltools_is_deleted_drift() {
        assert_eq!(drift(&placed(&[11237]), None), Some(Drift::Deleted));
        assert_eq!(drift(&placed(&[]), None), Some(Drift::Deleted));
    }

    #[test]
    fn a_contact_out_of_a_bucket_leadsync_placed_it_in_is_drift_one_added_by_hand_is_not() {
        let out = json!({"id": 7, "buckets": [11238]});
        assert_eq!(
            drift(&placed(&[11237, 11238]), Some(&out)),
            Some(Drift::OutOfBuckets([11237].into()))
        );
        let more = json!({"id": 7, "buckets": [11237, 99]});
        assert_eq!(drift(&placed(&[11237]), Some(&more)), None);
        assert_eq!(
            drift(&placed(&[11237]), Some(&json!({"id": 7, "buckets": null}))),
            Some(Drift::OutOfBuckets([11237].into())),
            "null buckets hold none"
        );
    }

    #[test]
    fn a_contact_leadsync_never_placed_has_no_drift() {
        assert_eq!(drift(&SinkState::default(), None), None);
        assert_eq!(
            drift(&placed(&[]), Some(&json!({"id": 7, "buckets": []}))),
            None,
            "taken out of its buckets by leadsync itself (it lost its tag): nothing to fight"
        );
    }
}
