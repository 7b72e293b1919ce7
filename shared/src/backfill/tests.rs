//! The backfill against a scripted GHL, in-memory checkpoints and queue, and a state map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::memory::MemoryCheckpoints;
use super::*;
use crate::domain::contact::Contact;
use crate::domain::contact::source_hash;
use crate::domain::rules::Rules;
use crate::ports::store::StateStore;

use crate::memory::MemoryQueue;
use crate::ports::store::{ContactState, JobClaim, Lease, StoreError};
use crate::sources::ghl::job::{GhlContactJob, GhlTrigger};
use crate::sources::ghl::scan::GhlScan;
use crate::sources::ghl::search::Found;
use crate::testing::ghl::FakeGhl;

const LOC: &str = "loc";

fn contact(i: usize) -> Found {
    Found {
        id: format!("c{i:03}"),
        contact: Contact {
            first_name: Some(format!("Lead{i}")),
            last_name: None,
            email: None,
            phone: Some(format!("+1415200{i:04}")),
            tags: vec!["cold lead".into()],
            version_ms: Some(1_000 + i as i64),
            do_not_call: None,
            call: None,
        },
    }
}

/// Saved contact states; only the batch read is used by the backfill. With GHL set in `.1`,
/// each batch read waits (at most a second) until GHL was asked for the page after the ones
/// read so far, and notes in `.2` how many search calls GHL had had when it ended.
#[derive(Default)]
struct States(
    Mutex<HashMap<String, ContactState>>,
    std::sync::OnceLock<Arc<FakeGhl>>,
    Mutex<Vec<usize>>,
);

impl States {
    fn applied(&self, f: &Found, fingerprint: &str) {
        self.0.lock().unwrap().insert(
            ContactKey::ghl(LOC, &f.id).storage_id(),
            ContactState {
                source_hash: Some(source_hash(&f.contact, fingerprint)),
                ..ContactState::default()
            },
        );
    }
}

fn unused<T>() -> Result<T, StoreError> {
    Err(StoreError::permanent("not used by the backfill"))
}

#[async_trait]
impl StateStore for States {
    async fn claim_job(&self, _: &str, _: i64) -> Result<JobClaim, StoreError> {
        unused()
    }
    async fn complete_job(&self, _: &str, _: &str) -> Result<(), StoreError> {
        unused()
    }
    async fn release_job(&self, _: &str) -> Result<(), StoreError> {
        unused()
    }
    async fn lease_contact(&self, _: &ContactKey, _: &str, _: i64) -> Result<Lease, StoreError> {
        unused()
    }
    async fn save_contact(
        &self,
        _: &ContactKey,
        _: &str,
        _: &ContactState,
    ) -> Result<(), StoreError> {
        unused()
    }
    async fn release_contact(&self, _: &ContactKey, _: &str) -> Result<(), StoreError> {
        unused()
    }
    async fn contact_state(&self, key: &ContactKey) -> Result<Option<ContactState>, StoreError> {
        Ok(self.0.lock().unwrap().get(&key.storage_id()).cloned())
    }
    async fn contact_states(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<String, ContactState>, StoreError> {
        if let Some(ghl) = self.1.get() {
            let pages_read = self.2.lock().unwrap().len();
            for _ in 0..1_000 {
                if ghl.calls() > pages_read + 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.2.lock().unwrap().push(ghl.calls());
        }
        let states = self.0.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.storage_id(), states.get(&k.storage_id())?.clone())))
            .collect())
    }
}

#[tokio::test]
async fn the_next_page_is_read_while_this_one_is_compared() {
    let w = world((0..12).map(contact).collect());
    w.states.1.set(w.ghl.clone()).ok();
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!((run.pages, run.seen), (3, 12));
    // Page 1's states were still being read when page 2 was asked for, and so on; the last
    // page has none after it.
    assert_eq!(*w.states.2.lock().unwrap(), [2, 3, 3]);
    assert_eq!(w.ghl.calls(), 3, "nothing read twice");
}

struct World {
    ghl: Arc<FakeGhl>,
    states: Arc<States>,
    queue: Arc<MemoryQueue>,
    checkpoints: Arc<MemoryCheckpoints>,
    backfill: Backfill,
}

fn world(contacts: Vec<Found>) -> World {
    world_with_rules(contacts, Rules::default_rules())
}

fn world_with_rules(contacts: Vec<Found>, rules: Rules) -> World {
    let ghl = Arc::new(FakeGhl::new(contacts));
    let states = Arc::new(States::default());
    let queue = Arc::new(MemoryQueue::default());
    let checkpoints = Arc::new(MemoryCheckpoints::default());
    let scan = GhlScan::new(ghl.clone(), states.clone(), rules, LOC.into(), 5);
    let backfill = Backfill::new(
        vec![Arc::new(scan)],
        queue.clone(),
        checkpoints.clone(),
        BackfillSettings {
            reserve: Duration::ZERO,
            ..BackfillSettings::default()
        },
    );
    World {
        ghl,
        states,
        queue,
        checkpoints,
        backfill,
    }
}

fn later() -> i64 {
    now_ms() + 60_000
}

fn enqueued_ids(q: &MemoryQueue) -> Vec<String> {
    q.jobs().iter().map(|j| j.contact_key().id).collect()
}

fn finished(e: Ending) -> Run {
    match e {
        Ending::Finished(run) => run,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

#[tokio::test]
async fn only_missing_and_changed_contacts_become_jobs_carrying_their_version() {
    let applied: Vec<Found> = (0..12).map(contact).collect();
    // c003 changed in GHL since it was applied; c010 and c011 were never seen.
    let mut in_ghl = applied.clone();
    in_ghl[3].contact.first_name = Some("Renamed".into());
    let w = world(in_ghl);
    let fp = Rules::default_rules().fingerprint();
    for f in &applied[..10] {
        w.states.applied(f, &fp);
    }
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(run.status, Status::Done);
    assert_eq!(run.scope, Scope::Full, "the first run of all is full");
    assert_eq!(
        (run.pages, run.seen, run.unchanged, run.enqueued),
        (3, 12, 9, 3)
    );
    assert_eq!(enqueued_ids(&w.queue), ["c003", "c010", "c011"]);
    let jobs = w.queue.jobs();
    let Some(job) = jobs[0].payload::<GhlContactJob>() else {
        panic!("a GHL job")
    };
    assert_eq!(job.trigger, GhlTrigger::Backfill);
    assert_eq!(job.version_ms, Some(1_003));
    assert_eq!(
        job.job_id,
        format!(
            "bf:loc:c003:1003:{}",
            source_hash(&w.ghl.contacts[3].contact, &fp)
        )
    );
    assert_eq!(w.ghl.calls(), 3, "ceil(12 / 5) search calls");
}

#[tokio::test]
async fn a_rules_change_makes_a_new_job_for_a_contact_at_the_same_version() {
    // GIVEN a contact the backfill already sent under the default rules
    let before = world(vec![contact(1)]);
    finished(
        before
            .backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    // WHEN the rules change and the backfill sends it again, unchanged in GHL
    let rules = Rules::from_json(
        r#"[{"tag":"cold lead","bucket_id":7}]"#,
        crate::domain::rules::OnTagRemoved::RemoveFromBucket,
    )
    .unwrap();
    let after = world_with_rules(vec![contact(1)], rules);
    finished(
        after
            .backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    // THEN its job id differs, so the consumer applies it instead of dropping a duplicate
    let id = |w: &World| w.queue.jobs()[0].id().to_string();
    assert!(
        id(&before).starts_with("bf:loc:c001:1001:"),
        "{}",
        id(&before)
    );
    assert_ne!(id(&before), id(&after));
}

#[tokio::test]
async fn an_exact_multiple_of_the_page_size_costs_no_empty_page() {
    let w = world((0..10).map(contact).collect());
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!((run.pages, run.seen, run.enqueued), (2, 10, 10));
    assert_eq!(
        w.ghl.calls(),
        2,
        "GHL's total says the second full page was the last"
    );
}

#[tokio::test]
async fn a_second_run_after_everything_was_applied_enqueues_nothing() {
    let contacts: Vec<Found> = (0..7).map(contact).collect();
    let w = world(contacts.clone());
    let first = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(first.enqueued, 7);
    let fp = Rules::default_rules().fingerprint();
    for f in &contacts {
        w.states.applied(f, &fp);
    }
    let second = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(second.enqueued, 0);
    assert_eq!(second.scope, Scope::Since);
    assert_eq!(
        second.since_ms,
        Some(first.started_at_ms - 600_000),
        "from the last run's start, with overlap"
    );
    let history = w.checkpoints.history("ghl", LOC, 10).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].run_id, second.run_id, "newest first");
}

#[tokio::test]
async fn a_run_cut_short_resumes_from_its_checkpoint_without_repeating_a_page() {
    let contacts: Vec<Found> = (0..23).map(contact).collect();
    let w = world(contacts);
    // Page 3 gets a 429 whose wait outlasts the invocation: the run pauses after two pages.
    w.ghl.fail_next_after(
        2,
        RemoteError::Transient {
            service: "GoHighLevel",
            reason: "HTTP 429".into(),
            status: Some(429),
            retry_after: Some(Duration::from_secs(120)),
        },
    );
    let paused = match w
        .backfill
        .handle(&Request::default(), later())
        .await
        .unwrap()
    {
        Ending::Paused(run) => run,
        other => panic!("{other:?}"),
    };
    assert_eq!(paused.pages, 2);
    assert_eq!(w.queue.len(), 10);
    // The schedule's resume tick goes on from the checkpoint.
    let run = finished(
        w.backfill
            .handle(
                &Request {
                    resume: true,
                    ..Request::default()
                },
                later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!((run.pages, run.seen, run.enqueued), (5, 23, 23));
    let ids = enqueued_ids(&w.queue);
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (23, 23),
        "no page twice, none skipped"
    );
    assert_eq!(run.invocations, 2);
    // With nothing in progress, a resume tick does nothing.
    let idle = w
        .backfill
        .handle(
            &Request {
                resume: true,
                ..Request::default()
            },
            later(),
        )
        .await
        .unwrap();
    assert_eq!(idle, Ending::Idle);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_for_as_long_as_ghl_asks() {
    let w = world((0..3).map(contact).collect());
    w.ghl.fail_next(RemoteError::Transient {
        service: "GoHighLevel",
        reason: "HTTP 429".into(),
        status: Some(429),
        retry_after: Some(Duration::from_millis(150)),
    });
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(run.enqueued, 3);
    let calls = w.ghl.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert!(calls[1] - calls[0] >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_scan_that_fails_part_way_keeps_what_it_saw_and_touches_nothing_else() {
    let w = world((0..12).map(contact).collect());
    w.ghl.fail_next_after(
        1,
        RemoteError::Permanent {
            service: "GoHighLevel",
            reason: "HTTP 401".into(),
            status: Some(401),
            excerpt: String::new(),
        },
    );
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(run.status, Status::Failed);
    assert!(run.error.as_deref().is_some_and(|e| e.contains("401")));
    assert_eq!(w.queue.len(), 5, "only the page it saw");
    assert!(w.checkpoints.current("ghl", LOC).await.unwrap().is_none());
}

#[tokio::test]
async fn refused_credentials_stop_the_run_at_once_and_say_what_to_fix() {
    let w = world((0..12).map(contact).collect());
    w.ghl.fail_next_after(
        1,
        RemoteError::from_status("GoHighLevel", 401, None, r#"{"message":"Invalid JWT"}"#),
    );
    let run = finished(
        w.backfill
            .handle(&Request::default(), later())
            .await
            .unwrap(),
    );
    assert_eq!(run.status, Status::Failed);
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains("refused leadsync's credentials (HTTP 401)")
            && error.contains("GHL_API_TOKEN"),
        "{error}"
    );
    assert_eq!(w.ghl.calls(), 2, "the refused page is not asked again");
    assert!(w.checkpoints.current("ghl", LOC).await.unwrap().is_none());
}

#[tokio::test]
async fn a_run_in_progress_is_continued_not_doubled() {
    let w = world((0..12).map(contact).collect());
    w.ghl.fail_next_after(
        1,
        RemoteError::Transient {
            service: "GoHighLevel",
            reason: "HTTP 503".into(),
            status: Some(503),
            retry_after: Some(Duration::from_secs(120)),
        },
    );
    let Ending::Paused(first) = w
        .backfill
        .handle(&Request::default(), later())
        .await
        .unwrap()
    else {
        panic!("paused");
    };
    // A manual full run while one is in progress continues that one.
    let run = finished(
        w.backfill
            .handle(
                &Request {
                    full: true,
                    ..Request::default()
                },
                later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(run.run_id, first.run_id);
    assert_eq!(w.queue.len(), 12);
    // And a stale invocation cannot advance a run someone else moved on.
    let mut stale = first.clone();
    stale.pages += 1;
    assert!(!w.checkpoints.advance(&stale, first.pages).await.unwrap());
}

/// `events/backfill-schedule.json` and `events/backfill-resume.json` (the inputs of the
/// template's schedules) read as the Lambda main reads them, and do what each schedule is for: the
/// daily event starts a run, the tick carries on a run that ran out of time, and a tick with
/// nothing in progress starts nothing.
#[tokio::test]
async fn the_scheduled_event_fixtures_start_a_run_and_resume_it() {
    let event = |text: &str| Request::from_event(serde_json::from_str(text).unwrap()).unwrap();
    let schedule = event(include_str!("../../../events/backfill-schedule.json"));
    let resume = event(include_str!("../../../events/backfill-resume.json"));
    assert_eq!((schedule.resume, resume.resume), (false, true));

    let w = world((0..12).map(contact).collect());
    assert_eq!(
        w.backfill.handle(&resume, later()).await.unwrap(),
        Ending::Idle,
        "a tick before any run starts none"
    );
    w.ghl.fail_next_after(
        1,
        RemoteError::Transient {
            service: "GoHighLevel",
            reason: "HTTP 429".into(),
            status: Some(429),
            retry_after: Some(Duration::from_secs(120)),
        },
    );
    let paused = match w.backfill.handle(&schedule, later()).await.unwrap() {
        Ending::Paused(run) => run,
        other => panic!("the daily event starts a run: {other:?}"),
    };
    assert_eq!(paused.pages, 1);
    let run = finished(w.backfill.handle(&resume, later()).await.unwrap());
    assert_eq!((run.pages, run.seen, run.enqueued), (3, 12, 12));
    assert_eq!(
        w.backfill.handle(&resume, later()).await.unwrap(),
        Ending::Idle
    );
}
