//! The audit's cheap way, where the account honours the contact listing's bucket filter
//! (`CALLTOOLS_BUCKET_FILTER=honoured`, which `leadsync doctor` finds out): each bucket leadsync
//! placed contacts in is listed once per run, 250 contacts a call, and only the placed contacts
//! missing from their buckets' listings are read back. The listing lives in memory for the run;
//! the checkpoint keeps the walk's cursor, how many invocations began a listing and, once the run
//! gave up on the listing, why.
//!
//! A filter that stops working must never cause a repair: every listed contact has to show the
//! bucket it was listed for, or the run reads each contact back instead ([`Fallback`]); and a
//! contact missing from a listing is only a candidate, which its own read confirms or clears.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::store::SinkState;
use crate::sinks::calltools::client::ContactsPage;
use crate::sinks::calltools::placement::shown;

/// Invocations that may begin listing the buckets in one run. A listing that never finishes
/// within one invocation (hundreds of thousands of contacts) would otherwise begin forever.
pub const MAX_LISTINGS: u32 = 3;

/// Why a run reads each placed contact back although the filter is configured honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The listing answered a contact that does not show the bucket: the account ignores the
    /// filter (or stopped honouring it).
    FilterIgnored,
    /// [`MAX_LISTINGS`] invocations began the listing and none finished it.
    ListingUnfinished,
}

impl Fallback {
    /// The run's warning.
    pub fn warning(self) -> String {
        match self {
            Fallback::FilterIgnored => "CallTools ignored the contact listing's bucket filter (a listed contact was not in the bucket): this run read every placed contact back instead; run `leadsync doctor` and set CallToolsBucketFilter=ignored if it says so".into(),
            Fallback::ListingUnfinished => format!(
                "the buckets' listing did not finish within {MAX_LISTINGS} invocations: this run read every placed contact back instead"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::FilterIgnored => "filter_ignored",
            Fallback::ListingUnfinished => "listing_unfinished",
        }
    }
}

/// Where a run of the audit is, as its checkpoint keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditCursor {
    /// The walk over placed contacts ([`crate::ports::store::StateScan`]'s cursor); `None`
    /// before its first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Value>,
    /// How many invocations began listing the buckets in this run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub listings: u32,
    /// Set once the run reads each contact back instead of listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Fallback>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AuditCursor {
    /// The cursor of a run's checkpoint. A run begun by a release before the listing kept the
    /// walk's cursor bare (a DynamoDB key, with `pk`); one that cannot be read starts the walk
    /// again (a walk read twice costs reads, never a wrong repair).
    pub fn from_checkpoint(cursor: Option<&Value>) -> Self {
        match cursor {
            None => Self::default(),
            Some(bare) if bare.get("pk").is_some() => Self {
                states: Some(bare.clone()),
                ..Self::default()
            },
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_default(),
        }
    }

    pub fn to_checkpoint(&self) -> Value {
        serde_json::json!(self)
    }
}

/// A page of the filtered listing showed a contact outside the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotHonoured;

/// One bucket's members as far as its listing has been read.
#[derive(Debug, Default)]
struct Members {
    ids: HashSet<i64>,
    pages_read: u32,
    complete: bool,
}

/// The buckets' listings of one run, kept in memory between the run's pages.
#[derive(Debug, Default)]
pub struct RunListing {
    pub run_id: String,
    /// Invocations that began a listing in this run, this one included.
    pub listings: u32,
    pub reads: Option<Fallback>,
    buckets: HashMap<i64, Members>,
}

impl RunListing {
    /// The listing this invocation begins for a run whose checkpoint holds `cursor`.
    pub fn begin(run_id: &str, cursor: &AuditCursor) -> Self {
        let listings = cursor.listings + 1;
        let reads = cursor
            .reads
            .or((listings > MAX_LISTINGS).then_some(Fallback::ListingUnfinished));
        Self {
            run_id: run_id.to_string(),
            listings,
            reads,
            buckets: HashMap::new(),
        }
    }

    /// The first of `recorded` whose listing is not complete yet: list its next page first.
    pub fn unlisted<'a>(&self, recorded: impl IntoIterator<Item = &'a i64>) -> Option<i64> {
        recorded
            .into_iter()
            .find(|b| !self.buckets.get(b).is_some_and(|m| m.complete))
            .copied()
    }

    /// The page of `bucket`'s listing to read next (from 1).
    pub fn next_page(&self, bucket: i64) -> u32 {
        self.buckets.get(&bucket).map_or(0, |m| m.pages_read) + 1
    }

    /// Takes in the next page of `bucket`'s listing. Refused when a listed contact does not
    /// show the bucket (or shows no buckets at all): the filter is not being honoured.
    pub fn take(&mut self, bucket: i64, page: ContactsPage) -> Result<(), NotHonoured> {
        let mut ids = Vec::with_capacity(page.contacts.len());
        for contact in &page.contacts {
            if !shown(contact, "buckets").is_some_and(|b| b.contains(&bucket)) {
                return Err(NotHonoured);
            }
            // A contact flagged do_not_contact is not vouched for: it is read back, so an
            // agent's opt-out whose hook was lost is found (`drift`).
            if let Some(id) = contact["id"].as_i64()
                && contact["do_not_contact"].as_bool() != Some(true)
            {
                ids.push(id);
            }
        }
        let members = self.buckets.entry(bucket).or_default();
        members.ids.extend(ids);
        members.pages_read += 1;
        members.complete = !page.more;
        Ok(())
    }

    /// Whether the listings vouch that CallTools holds the contact as leadsync placed it: it
    /// is listed in every bucket leadsync recorded. A contact in no bucket cannot be vouched
    /// for (a deletion would not show): it is read back.
    pub fn holds(&self, applied: &SinkState) -> bool {
        let Some(id) = applied.id else { return false };
        !applied.buckets.is_empty()
            && applied.buckets.iter().all(|b| {
                self.buckets
                    .get(b)
                    .is_some_and(|m| m.complete && m.ids.contains(&id))
            })
    }
}

/// The buckets recorded for `placed`, in order: the ones whose listing a page needs.
pub fn recorded<'a>(placed: impl IntoIterator<Item = &'a SinkState>) -> BTreeSet<i64> {
    placed
        .into_iter()
        .filter(|s| s.id.is_some())
        .flat_map(|s| s.buckets.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COLD: i64 = 11237;

    fn page(contacts: Value, more: bool) -> ContactsPage {
        ContactsPage {
            contacts: contacts.as_array().cloned().unwrap_or_default(),
            count: None,
            more,
        }
    }

    fn placed(id: i64, buckets: &[i64]) -> SinkState {
        SinkState {
            id: Some(id),
            buckets: buckets.iter().copied().collect(),
            ..SinkState::default()
        }
    }

    #[test]
    fn a_bucket_is_listed_page_by_page_until_the_last_and_only_then_vouches() {
        let mut l = RunListing::begin("r1", &AuditCursor::default());
        assert_eq!(l.unlisted(&[COLD]), Some(COLD));
        assert_eq!(l.next_page(COLD), 1);
        l.take(COLD, page(json!([{"id": 1, "buckets": [COLD]}]), true))
            .unwrap();
        assert!(!l.holds(&placed(1, &[COLD])), "the listing is not complete");
        assert_eq!((l.unlisted(&[COLD]), l.next_page(COLD)), (Some(COLD), 2));
        l.take(
            COLD,
            page(json!([{"id": 2, "buckets": [{"id": COLD}]}]), false),
        )
        .unwrap();
        assert_eq!(l.unlisted(&[COLD]), None);
        assert!(l.holds(&placed(1, &[COLD])) && l.holds(&placed(2, &[COLD])));
        assert!(!l.holds(&placed(3, &[COLD])), "missing: read it back");
        assert!(
            !l.holds(&placed(1, &[COLD, 11238])),
            "a bucket not listed yet vouches for nothing"
        );
        assert!(
            !l.holds(&placed(1, &[])),
            "a contact in no bucket is always read back: a deletion would not show"
        );
    }

    #[test]
    fn a_listed_contact_outside_the_bucket_means_the_filter_is_ignored() {
        let mut l = RunListing::begin("r1", &AuditCursor::default());
        let whole_account = json!([{"id": 1, "buckets": [COLD]}, {"id": 2, "buckets": []}]);
        assert_eq!(l.take(COLD, page(whole_account, false)), Err(NotHonoured));
        assert!(!l.holds(&placed(1, &[COLD])), "nothing of the page is kept");
        let no_buckets_shown = json!([{"id": 1}]);
        assert_eq!(
            l.take(COLD, page(no_buckets_shown, false)),
            Err(NotHonoured)
        );
    }

    #[test]
    fn a_listing_begun_too_often_in_one_run_gives_way_to_reads() {
        let mut cursor = AuditCursor::default();
        for _ in 0..MAX_LISTINGS {
            let l = RunListing::begin("r1", &cursor);
            assert_eq!(l.reads, None);
            cursor.listings = l.listings;
        }
        let l = RunListing::begin("r1", &cursor);
        assert_eq!(l.reads, Some(Fallback::ListingUnfinished));
        let ignored = AuditCursor {
            reads: Some(Fallback::FilterIgnored),
            ..AuditCursor::default()
        };
        assert_eq!(
            RunListing::begin("r1", &ignored).reads,
            Some(Fallback::FilterIgnored),
            "a fallback holds for the rest of the run"
        );
    }

    #[test]
    fn the_checkpoint_cursor_round_trips_and_a_bare_walk_cursor_still_resumes() {
        let c = AuditCursor {
            states: Some(json!({"pk": "C#x", "sk": "STATE", "calltools_id": 7})),
            listings: 2,
            reads: Some(Fallback::FilterIgnored),
        };
        assert_eq!(AuditCursor::from_checkpoint(Some(&c.to_checkpoint())), c);
        let bare = json!({"pk": "C#x", "sk": "STATE", "calltools_id": 7});
        assert_eq!(
            AuditCursor::from_checkpoint(Some(&bare)),
            AuditCursor {
                states: Some(bare.clone()),
                ..AuditCursor::default()
            }
        );
        assert_eq!(AuditCursor::from_checkpoint(None), AuditCursor::default());
        assert_eq!(
            AuditCursor::default().to_checkpoint(),
            json!({}),
            "the first page's cursor is not None: the run goes on"
        );
    }
}
