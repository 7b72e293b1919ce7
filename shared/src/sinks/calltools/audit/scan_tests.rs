//! The audit as the backfill runs it, on an account in miniature (two contacts a listing page)
//! and a walk over placed contacts three a page: what it costs in CallTools calls with the
//! bucket filter honoured, and that a filter the account ignores never causes a repair.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::listing::{AuditCursor, Fallback, MAX_LISTINGS};
use super::*;
use crate::backfill::memory::MemoryCheckpoints;
use crate::backfill::{Backfill, BackfillSettings, Ending, Request, Scope, Status};
use crate::memory::MemoryQueue;
use crate::ports::store::{ContactState, StatesPage, StoreError};
use crate::testing::calltools::FakeCallTools;

const COLD: i64 = 11237;
const FIRST_ID: i64 = 48_210_001;

/// The placed contacts' states, walked three a page.
struct Placed(Vec<(ContactKey, ContactState)>);

#[async_trait]
impl StateScan for Placed {
    async fn states_page(
        &self,
        cursor: Option<&Value>,
        _limit: i32,
    ) -> Result<StatesPage, StoreError> {
        let from = cursor.and_then(|c| c["at"].as_u64()).unwrap_or(0) as usize;
        let to = (from + 3).min(self.0.len());
        Ok(StatesPage {
            states: self.0[from..to].to_vec(),
            next: (to < self.0.len()).then(|| json!({"at": to})),
        })
    }
}

/// `n` GHL contacts leadsync placed in the cold bucket, there in CallTools too; and one more it
/// placed in no bucket (its tag rule has none).
fn account(n: i64, honours_filter: bool) -> (Arc<FakeCallTools>, Arc<Placed>) {
    let api = FakeCallTools {
        honours_bucket_filter: honours_filter,
        ..FakeCallTools::default()
    };
    let mut states = Vec::new();
    for i in 0..=n {
        let id = FIRST_ID + i;
        let buckets: BTreeSet<i64> = if i < n { [COLD].into() } else { [].into() };
        api.members
            .lock()
            .unwrap()
            .insert(id, (buckets.clone(), BTreeSet::new()));
        let placed = SinkState {
            id: Some(id),
            buckets,
            ..SinkState::default()
        };
        states.push((
            ContactKey::ghl("loc", format!("c{i:02}")),
            ContactState::default().with_sink(SinkId::CallTools, placed),
        ));
    }
    (Arc::new(api), Arc::new(Placed(states)))
}

fn audit(api: &Arc<FakeCallTools>, states: &Arc<Placed>, filter: BucketFilter) -> CallToolsAudit {
    CallToolsAudit::new(
        states.clone(),
        api.clone(),
        "acct".into(),
        AuditMode::Repair,
        filter,
    )
}

/// One whole audit run; the run, and the contacts it sent to be put back.
async fn run_audit(scan: CallToolsAudit) -> (Run, Vec<String>) {
    let queue = Arc::new(MemoryQueue::default());
    let backfill = Backfill::new(
        vec![Arc::new(scan)],
        queue.clone(),
        Arc::new(MemoryCheckpoints::default()),
        BackfillSettings {
            reserve: Duration::ZERO,
            ..BackfillSettings::default()
        },
    );
    let request = Request {
        source: Some("calltools".into()),
        ..Request::default()
    };
    let run = match backfill
        .handle(&request, crate::domain::clock::now_ms() + 60_000)
        .await
        .unwrap()
    {
        Ending::Finished(run) => run,
        other => panic!("the run did not finish: {other:?}"),
    };
    let mut sent: Vec<String> = queue.jobs().iter().map(|j| j.contact_key().id).collect();
    sent.sort();
    (run, sent)
}

/// The contact deleted in CallTools (c01) and the one taken out of the bucket there (c02).
fn drift_two(api: &FakeCallTools) {
    api.delete(FIRST_ID + 1);
    api.members
        .lock()
        .unwrap()
        .get_mut(&(FIRST_ID + 2))
        .unwrap()
        .0
        .clear();
}

fn reads(api: &FakeCallTools) -> Vec<String> {
    api.calls()
        .into_iter()
        .filter(|c| c.starts_with("GET 4"))
        .collect()
}

fn listings(api: &FakeCallTools) -> Vec<String> {
    api.calls()
        .into_iter()
        .filter(|c| c.starts_with("GET contacts buckets="))
        .collect()
}

#[tokio::test]
async fn with_the_filter_honoured_only_the_contacts_missing_from_the_listing_are_read_back() {
    // GIVEN 8 contacts placed in the bucket, one deleted and one unbucketed in CallTools, and
    // one placed in no bucket
    let (api, states) = account(8, true);
    drift_two(&api);
    // WHEN the audit runs with the filter honoured
    let (run, sent) = run_audit(audit(&api, &states, BucketFilter::Honoured)).await;
    // THEN the two drifted contacts are sent to be put back, and nothing else
    assert_eq!(sent, ["c01", "c02"]);
    assert_eq!((run.status, run.seen, run.enqueued), (Status::Done, 9, 2));
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    // AND CallTools was asked for the bucket's 6 members, 2 a page, once in the run
    assert_eq!(
        listings(&api),
        [1, 2, 3].map(|p| format!("GET contacts buckets={COLD} page={p}"))
    );
    // AND only the two missing from it and the one in no bucket were read back
    assert_eq!(
        reads(&api),
        [1, 2, 8].map(|i| format!("GET {}", FIRST_ID + i))
    );
}

#[tokio::test]
async fn with_the_filter_ignored_by_configuration_every_placed_contact_is_read_back() {
    let (api, states) = account(8, true);
    drift_two(&api);
    let (run, sent) = run_audit(audit(&api, &states, BucketFilter::Ignored)).await;
    assert_eq!(sent, ["c01", "c02"]);
    assert_eq!(run.seen, 9);
    assert!(listings(&api).is_empty());
    assert_eq!(reads(&api).len(), 9, "one read per placed contact");
}

#[tokio::test]
async fn an_account_ignoring_the_filter_is_caught_and_nothing_in_line_is_put_back() {
    // GIVEN the filter configured honoured on an account that ignores it: the listing answers
    // every contact, the unbucketed one and the one in no bucket too
    let (api, states) = account(8, false);
    drift_two(&api);
    // WHEN the audit runs
    let (run, sent) = run_audit(audit(&api, &states, BucketFilter::Honoured)).await;
    // THEN it stops listing at the first page showing a contact outside the bucket, reads
    // every placed contact back, repairs only the drift, and says so
    assert_eq!(sent, ["c01", "c02"]);
    assert_eq!((run.seen, run.enqueued), (9, 2));
    assert_eq!(listings(&api).len(), 1, "{:?}", api.calls());
    assert_eq!(reads(&api).len(), 9);
    assert_eq!(run.warnings, [Fallback::FilterIgnored.warning()]);
}

#[tokio::test]
async fn a_contact_placed_since_the_listing_is_read_back_and_found_in_line() {
    // GIVEN the bucket listed while c05 was not in it yet (the listing is a snapshot)
    let (api, states) = account(6, true);
    let scan = audit(&api, &states, BucketFilter::Honoured);
    let mut run = test_run(None);
    api.members
        .lock()
        .unwrap()
        .get_mut(&(FIRST_ID + 5))
        .unwrap()
        .0
        .clear();
    loop {
        let page = scan.fetch(&run).await.unwrap();
        run.cursor = page.next;
        if !page.candidates.is_empty() {
            break;
        }
    }
    assert_eq!(listings(&api).len(), 3, "{:?}", api.calls());
    // WHEN it is placed again before the page holding it is compared
    api.members
        .lock()
        .unwrap()
        .get_mut(&(FIRST_ID + 5))
        .unwrap()
        .0
        .insert(COLD);
    let mut drifted = Vec::new();
    while run.cursor.is_some() {
        let page = scan.fetch(&run).await.unwrap();
        run.cursor = page.next;
        drifted.extend(scan.changed(page.candidates).await.unwrap());
    }
    // THEN its read confirms it is in line: no repair
    assert!(drifted.is_empty());
    assert!(reads(&api).contains(&format!("GET {}", FIRST_ID + 5)));
}

#[tokio::test]
async fn a_listing_begun_by_too_many_invocations_of_one_run_gives_way_to_reads_and_says_so() {
    // GIVEN a run whose listing MAX_LISTINGS invocations began and none finished
    let (api, states) = account(2, true);
    let cursor = AuditCursor {
        states: None,
        listings: MAX_LISTINGS,
        reads: None,
    };
    let run = test_run(Some(cursor.to_checkpoint()));
    // WHEN another invocation (a fresh one: nothing in memory) takes the run's next page
    let scan = audit(&api, &states, BucketFilter::Honoured);
    let page = scan.fetch(&run).await.unwrap();
    // THEN it reads the page's contacts back instead of listing, and the run says why
    assert!(listings(&api).is_empty());
    assert_eq!(page.candidates.len(), 3);
    assert_eq!(reads(&api).len(), 3);
    let mut run = run;
    scan.after_run(&mut run).await.unwrap();
    assert_eq!(run.warnings, [Fallback::ListingUnfinished.warning()]);
}

fn test_run(cursor: Option<Value>) -> Run {
    Run {
        run_id: "0000000000001-0001".into(),
        source: "calltools".into(),
        account: "acct".into(),
        scope: Scope::Full,
        since_ms: None,
        started_at_ms: 1,
        status: Status::Running,
        cursor,
        pages: 0,
        seen: 0,
        unchanged: 0,
        enqueued: 0,
        errors: 0,
        invocations: 1,
        finished_at_ms: None,
        error: None,
        refreshed: 0,
        warnings: Vec::new(),
    }
}
