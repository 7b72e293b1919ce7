use serde_json::{Value, json};

use super::*;
use crate::backfill::checkpoint::Status;
use crate::domain::clock::Millis;
use crate::domain::contact::ContactKey;
use crate::ports::store::{ContactState, SinkState};
use crate::sources::calltools::hook::format_datetime;
use crate::testing::calltools::FakeCallTools;
use crate::testing::clock::ManualClock;
use crate::testing::store::MemoryStateStore;

const NOW: i64 = 1_795_428_000_000;

fn run(since_ms: Option<i64>) -> Run {
    Run {
        run_id: "r".into(),
        source: CALLS_SCAN.into(),
        account: "ct".into(),
        scope: if since_ms.is_some() {
            Scope::Since
        } else {
            Scope::Full
        },
        since_ms,
        started_at_ms: NOW,
        status: Status::Running,
        cursor: None,
        pages: 0,
        seen: 0,
        unchanged: 0,
        enqueued: 0,
        errors: 0,
        invocations: 0,
        finished_at_ms: None,
        error: None,
        refreshed: 0,
        warnings: Vec::new(),
    }
}

fn call(id: i64, contact: i64, disposed: bool, at_ms: i64) -> Value {
    json!({"id": id, "contact": contact, "start_time": format_datetime(at_ms),
           "disposition": if disposed { json!({"id": 3, "name": "Not Interested"}) } else { Value::Null }})
}

/// GHL `c1` placed as CallTools 123 (having carried call `carried`, if any); 456 is nobody's.
fn setup(calls: &[Value], carried: Option<i64>) -> (CallsScan, Arc<FakeCallTools>) {
    setup_with(
        calls,
        SinkState {
            // The disposition `call` gives (id 3).
            done: carried
                .map(|id| Carried::new(id, Some(3)))
                .into_iter()
                .collect(),
            ..SinkState::default()
        },
    )
}

/// `c1` placed as CallTools contact 123, its GHL entry `ghl`.
fn setup_with(calls: &[Value], ghl: SinkState) -> (CallsScan, Arc<FakeCallTools>) {
    let ct = Arc::new(FakeCallTools::default());
    for c in calls {
        ct.dialed
            .lock()
            .unwrap()
            .insert(c["id"].as_i64().unwrap(), c.clone());
    }
    let store = Arc::new(MemoryStateStore::new(Arc::new(ManualClock::new(Millis(
        NOW,
    )))));
    let state = ContactState::default()
        .with_sink(
            SinkId::CallTools,
            SinkState {
                id: Some(123),
                ..SinkState::default()
            },
        )
        .with_sink(SinkId::Ghl, ghl);
    store.put_state(&ContactKey::ghl("loc", "c1"), state);
    (
        CallsScan::new(ct.clone(), store.clone(), store, "ct".into()),
        ct,
    )
}

/// The jobs a run sends, each as `<call>:<disposition>` (its id names them first).
async fn jobs(scan: &CallsScan, run: &mut Run) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let page = scan.fetch(run).await.unwrap();
        let jobs = scan.changed(page.candidates).await.unwrap();
        // As the backfill counts them.
        run.enqueued += jobs.len() as u64;
        for job in jobs {
            let id = job.id().strip_prefix("calltools:call:").unwrap_or_default();
            out.push(id.splitn(3, ':').take(2).collect::<Vec<_>>().join(":"));
        }
        run.cursor = page.next;
        if run.cursor.is_none() {
            scan.after_run(run).await.unwrap();
            return out;
        }
    }
}

#[tokio::test]
async fn a_missed_disposed_call_to_a_placed_contact_is_sent_and_nothing_else() {
    let hour = 3_600_000;
    let calls = [
        call(5001, 123, true, NOW - 2 * hour),    // missed: sent
        call(5002, 123, false, NOW - hour),       // no disposition yet
        call(5003, 456, true, NOW - hour),        // not a contact leadsync placed
        call(5004, 123, true, NOW - 30 * 60_000), // already carried
        call(5005, 123, true, NOW - 10 * 60_000), // missed: sent
    ];
    let (scan, api) = setup(&calls, Some(5004));
    let mut r = run(Some(NOW - 3 * hour));
    assert_eq!(jobs(&scan, &mut r).await, ["5001:3", "5005:3"]);
    let pages = api
        .calls()
        .iter()
        .filter(|c| c.starts_with("GET calls"))
        .count();
    assert_eq!(pages, 3, "five calls, two a page");
    assert!(r.warnings.is_empty());
}

#[tokio::test]
async fn an_account_that_ignores_the_time_filter_has_its_older_calls_skipped_and_said() {
    let old = call(5001, 123, true, NOW - 10 * 86_400_000);
    let recent = call(5002, 123, true, NOW - 60_000);
    let (mut scan, _) = setup(&[old.clone(), recent.clone()], None);
    let mut ignoring = FakeCallTools {
        ignores_call_filter: true,
        ..FakeCallTools::default()
    };
    ignoring
        .dialed
        .get_mut()
        .unwrap()
        .extend([(5001, old), (5002, recent)]);
    scan.api = Arc::new(ignoring);
    let mut r = run(Some(NOW - 3_600_000));
    assert_eq!(jobs(&scan, &mut r).await, ["5002:3"]);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("ignores start_time__gte"),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn a_call_disposed_hours_after_it_started_is_found_by_the_next_run() {
    let hour = 3_600_000;
    // Started five hours before the previous run began; its agent chose the disposition since.
    let (scan, api) = setup(&[call(5001, 123, true, NOW - 6 * hour)], None);
    let mut r = run(Some(NOW - hour));
    assert_eq!(jobs(&scan, &mut r).await, ["5001:3"]);
    let since = NOW - hour - LATE_DISPOSITION.as_millis() as i64;
    assert_eq!(
        api.calls()[0],
        format!("GET calls since={since} page=1"),
        "read from 12 h before the previous run"
    );
}

#[tokio::test]
async fn a_call_whose_job_was_parked_waits_for_the_replay_and_the_run_says_so() {
    let hour = 3_600_000;
    let calls = [
        call(5001, 123, true, NOW - 2 * hour), // parked: GHL refused it
        call(5002, 123, true, NOW - hour),     // missed: sent
    ];
    let (scan, _) = setup_with(
        &calls,
        SinkState {
            parked: [Carried::new(5001, Some(3))].into(),
            ..SinkState::default()
        },
    );
    let mut r = run(Some(NOW - 3 * hour));
    assert_eq!(jobs(&scan, &mut r).await, ["5002:3"]);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with("1 call outcomes"),
        "{:?}",
        r.warnings
    );
    // Corrected since (another disposition): a new outcome, sent.
    let (scan, _) = setup_with(
        &calls,
        SinkState {
            parked: [Carried::new(5001, Some(2))].into(),
            ..SinkState::default()
        },
    );
    let mut r = run(Some(NOW - 3 * hour));
    assert_eq!(jobs(&scan, &mut r).await, ["5001:3", "5002:3"]);
    assert!(r.warnings.is_empty());
}

#[tokio::test]
async fn a_carried_call_whose_recording_came_later_is_sent_until_it_is_carried_too() {
    let hour = 3_600_000;
    let mut recorded = call(5001, 123, true, NOW - hour);
    recorded["recording_url"] = json!("https://silo.example/rec/5001.mp3");
    let calls = [recorded, call(5002, 123, true, NOW - hour)];
    let done = || [Carried::new(5001, Some(3)), Carried::new(5002, Some(3))].into();
    let (scan, _) = setup_with(
        &calls,
        SinkState {
            done: done(),
            ..SinkState::default()
        },
    );
    let mut r = run(Some(NOW - 3 * hour));
    assert_eq!(jobs(&scan, &mut r).await, ["5001:3"]);
    assert_eq!(
        (r.enqueued, r.refreshed),
        (0, 1),
        "a late link is not a missed hook"
    );
    let (scan, _) = setup_with(
        &calls,
        SinkState {
            done: done(),
            recorded: [5001].into(),
            ..SinkState::default()
        },
    );
    let mut r = run(Some(NOW - 3 * hour));
    assert!(jobs(&scan, &mut r).await.is_empty());
}
