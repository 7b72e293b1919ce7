//! Balancing the ledger: every webhook the sandbox GHL delivered, matched against what ingress
//! answered and what leadsync's event log says each job came to; then CallTools and the DLQ
//! checked against the contacts as GHL holds them at the end. Pure: the run collects, this
//! decides, so every rule here has a test.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use leadsync::domain::job::SyncJob;
use leadsync::ports::events::{LoggedEvent, SETTLED};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use leadsync_cli::dlq::ParkedMessage;

/// One delivery attempt, as the sandbox GHL logged it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Delivery {
    pub kind: String,
    pub webhook_id: Option<String>,
    pub contact_id: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub answer: Option<String>,
    pub duplicate: bool,
    pub held_ms: u64,
    /// The exact bytes sent.
    pub body: String,
}

/// Everything the run collected once the queue drained after the replay.
#[derive(Debug, Default)]
pub struct Observed {
    pub deliveries: Vec<Delivery>,
    /// Every event-log entry of every contact.
    pub events: Vec<LoggedEvent>,
    /// `/_sandbox/ghl/contacts`: the contacts as GHL has them now.
    pub ghl_contacts: Vec<Value>,
    /// `/_sandbox/calltools/contacts`.
    pub calltools_contacts: Vec<Value>,
    /// Phones CallTools was told to refuse.
    pub rejected_phones: BTreeSet<String>,
    /// Phones of the contacts whose tag the run removed: each may stay in CallTools (nothing is
    /// deleted there), out of the bucket.
    pub untagged_phones: BTreeSet<String>,
    /// The contacts the run deleted in GHL, phone → GHL id: likewise out of the bucket.
    pub deleted: BTreeMap<String, String>,
    /// The bucket the rule sends tagged contacts to.
    pub bucket: i64,
    pub tag: String,
    /// The DLQ before and after the replay.
    pub parked_before: Vec<ParkedMessage>,
    pub parked_after: Vec<ParkedMessage>,
    pub replayed: usize,
    /// `/_sandbox/calltools/calls` and the number of GHL API calls.
    pub calltools_calls: Vec<Value>,
    pub ghl_calls: usize,
}

/// The printed ledger.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ledger {
    /// Delivery attempts the sandbox GHL made (duplicates and 429 retries included).
    pub sent: usize,
    pub accepted: usize,
    /// Answered `duplicate` by ingress (same webhook id) and never queued.
    pub duplicates_at_ingress: usize,
    /// Answered 429 (GHL retries a Marketplace webhook; the job must exist in the end).
    pub busy_retried: usize,
    /// Answered anything else: each is a violation.
    pub refused: usize,
    pub synced: usize,
    /// Consumer attempts over all jobs (retries, deferrals and redeliveries included).
    pub attempts: usize,
    /// Skipped jobs by reason (`duplicate_job`, `stale`, `covered`, `unchanged`, …).
    pub skipped: BTreeMap<String, usize>,
    /// Parked jobs after the replay, by reason.
    pub parked: BTreeMap<String, usize>,
    /// Jobs not settled after the drain (`queued`, `retried`, `deferred`): each is a violation.
    pub unsettled: usize,
    /// In the DLQ before the replay: parked by the consumer, moved by SQS redrive.
    pub parked_before_replay: usize,
    pub redriven_before_replay: usize,
    pub replayed: usize,
    pub contacts: usize,
    /// Contacts whose tag the run removed, and contacts it deleted in GHL.
    pub untagged: usize,
    pub deleted: usize,
    pub calltools_contacts: usize,
    pub calltools_calls: usize,
    pub calltools_calls_failed: usize,
    pub ghl_calls: usize,
    /// Received by ingress → applied, over synced jobs.
    pub latency_p50_ms: i64,
    pub latency_p99_ms: i64,
    pub latency_max_ms: i64,
    /// From the first GHL change to the drained queue after the replay.
    pub elapsed_secs: f64,
    /// Where that time went (filled by the run, not by the balance).
    pub timing: crate::ledger::timing::Timing,
    pub violations: Vec<String>,
}

impl Ledger {
    pub fn balances(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The job id ingress gave a delivery it accepted, from its answer.
fn accepted_job(d: &Delivery) -> Option<String> {
    let answer: Value = serde_json::from_str(d.answer.as_deref()?).ok()?;
    (answer["status"] == "enqueued")
        .then(|| answer["job_id"].as_str().map(str::to_string))
        .flatten()
}

fn is_duplicate_answer(d: &Delivery) -> bool {
    d.status == Some(200)
        && d.answer
            .as_deref()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .is_some_and(|a| a["status"] == "duplicate")
}

/// Violations listed one by one before the rest are only counted.
const SHOWN: usize = 20;

pub fn account(o: &Observed) -> Ledger {
    let mut l = Ledger {
        sent: o.deliveries.len(),
        replayed: o.replayed,
        calltools_calls: o.calltools_calls.len(),
        calltools_calls_failed: o
            .calltools_calls
            .iter()
            .filter(|c| c["status"].as_u64().is_none_or(|s| s >= 400))
            .count(),
        ghl_calls: o.ghl_calls,
        contacts: o.ghl_contacts.len(),
        untagged: o.untagged_phones.len(),
        deleted: o.deleted.len(),
        calltools_contacts: o.calltools_contacts.len(),
        parked_before_replay: o.parked_before.iter().filter(|m| !m.redriven).count(),
        redriven_before_replay: o.parked_before.iter().filter(|m| m.redriven).count(),
        ..Ledger::default()
    };
    let mut violations = Vec::new();
    balance_deliveries(o, &mut l, &mut violations);
    check_calltools(o, &mut violations);
    check_dlq(o, &mut violations);
    let mut latencies: Vec<i64> = o
        .events
        .iter()
        .filter(|e| e.outcome == "synced")
        .map(|e| (e.last_attempt_ms - e.received_at_ms).max(0))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    (l.latency_p50_ms, l.latency_p99_ms) = (pct(0.5), pct(0.99));
    l.latency_max_ms = latencies.last().copied().unwrap_or(0);
    let hidden = violations.len().saturating_sub(SHOWN);
    violations.truncate(SHOWN);
    if hidden > 0 {
        violations.push(format!("… and {hidden} more"));
    }
    l.violations = violations;
    l
}

/// The job a delivery is about: what ingress names it, whatever the answer was. A Marketplace
/// webhook's is `ghl:<webhookId>`. A workflow webhook's is its body's digest and its arrival on
/// ingress's clock: the answer names it; a delivery whose answer was lost may still have made a
/// job, found as one of that body that no answer named (`unnamed`, taken once each); otherwise
/// the digest alone, which no job carries.
fn job_of(d: &Delivery, unnamed: &mut BTreeSet<&str>) -> String {
    if let Some(id) = &d.webhook_id {
        return format!("ghl:{id}");
    }
    let body = leadsync::ingress::body_job_id("ghlwf", d.body.as_bytes());
    let of_this_body = format!("{body}:");
    if let Some(answered) = accepted_job(d).filter(|a| a.starts_with(&of_this_body)) {
        return answered;
    }
    let found = unnamed
        .iter()
        .find(|j| j.starts_with(&of_this_body))
        .copied();
    match found {
        Some(job) => {
            unnamed.remove(job);
            job.to_string()
        }
        None => body,
    }
}

/// Every webhook GHL sent is one job that the event log shows settled. A delivery answered 202
/// made an entry; one answered `duplicate` is covered by the job of the same id; one answered
/// 429 or never answered is covered only if the job exists anyway (a retry got in, or the
/// enqueue had happened before the answer was lost). Anything else is refused.
fn balance_deliveries(o: &Observed, l: &mut Ledger, violations: &mut Vec<String>) {
    let mut logged: HashMap<&str, Vec<&LoggedEvent>> = HashMap::new();
    for e in &o.events {
        logged.entry(e.job_id.as_str()).or_default().push(e);
    }
    let named: BTreeSet<String> = o.deliveries.iter().filter_map(accepted_job).collect();
    let mut unnamed: BTreeSet<&str> = logged
        .keys()
        .copied()
        .filter(|j| j.starts_with("ghlwf:") && !named.contains(*j))
        .collect();
    // job → (deliveries answered 202, deliveries that may have made an entry unseen)
    let mut jobs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for d in &o.deliveries {
        let job = job_of(d, &mut unnamed);
        let counts = jobs.entry(job.clone()).or_default();
        if let Some(answered) = accepted_job(d) {
            l.accepted += 1;
            counts.0 += 1;
            if answered != job {
                violations.push(format!(
                    "{} webhook for contact {}: ingress named its job {answered}, expected {job}",
                    d.kind, d.contact_id
                ));
            }
        } else if is_duplicate_answer(d) {
            l.duplicates_at_ingress += 1;
        } else if d.status == Some(429) || d.status.is_none() && d.error.is_some() {
            l.busy_retried += usize::from(d.status == Some(429));
            counts.1 += 1;
        } else {
            l.refused += 1;
            violations.push(format!(
                "{} webhook for contact {} (attempt {}) was answered {:?} {}: refused",
                d.kind,
                d.contact_id,
                d.attempt,
                d.status,
                d.answer.as_deref().unwrap_or("")
            ));
        }
    }
    for (job, (accepted, unsure)) in &jobs {
        let entries = logged.get(job.as_str()).map_or(0, Vec::len);
        if entries == 0 {
            violations.push(format!(
                "job {job}: sent by GHL but never queued (lost): no event-log entry"
            ));
        } else if entries < *accepted || entries > accepted + unsure {
            violations.push(format!(
                "job {job}: ingress accepted it {accepted}× ({unsure} unsure) but the event log has {entries} entries"
            ));
        }
    }
    for (job, entries) in &logged {
        if !jobs.contains_key(*job) {
            violations.push(format!(
                "job {job}: in the event log ({} entries) but GHL never sent it",
                entries.len()
            ));
        }
        for e in entries {
            l.attempts += e.attempts as usize;
            if SETTLED.contains(&e.outcome.as_str()) {
                let reason = e.reason.clone().unwrap_or_else(|| "-".into());
                match e.outcome.as_str() {
                    "synced" => l.synced += 1,
                    "skipped" => *l.skipped.entry(reason).or_default() += 1,
                    _ => *l.parked.entry(reason).or_default() += 1,
                }
            } else {
                l.unsettled += 1;
                violations.push(format!(
                    "job {job}: still {} after the drain ({})",
                    e.outcome,
                    e.reason.as_deref().unwrap_or("-")
                ));
            }
        }
    }
}

fn phone_of(contact: &Value) -> Option<&str> {
    contact["phone"].as_str().filter(|p| !p.is_empty())
}

fn has_tag(contact: &Value, tag: &str) -> bool {
    contact["tags"].as_array().is_some_and(|t| {
        t.iter()
            .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(tag)))
    })
}

fn in_bucket(ct: &Value, bucket: i64) -> bool {
    ct["buckets"]
        .as_array()
        .is_some_and(|b| b.iter().any(|x| x.as_i64() == Some(bucket)))
}

/// One CallTools contact per phone that should be there, with GHL's latest fields and the
/// bucket; at most one, out of the bucket, for a contact whose tag was removed or that was
/// deleted; none for phones CallTools refuses or contacts no rule ever selected; and none that
/// matches no GHL contact at all (an orphan).
fn check_calltools(o: &Observed, violations: &mut Vec<String>) {
    let mut by_phone: HashMap<&str, Vec<&Value>> = HashMap::new();
    for c in &o.calltools_contacts {
        for p in c["_phone_numbers"].as_array().into_iter().flatten() {
            if let Some(p) = p.as_str() {
                by_phone.entry(p).or_default().push(c);
            }
        }
    }
    let found = |phone: &str| by_phone.get(phone).map(Vec::as_slice).unwrap_or_default();
    let mut known: BTreeSet<&str> = BTreeSet::new();
    for g in &o.ghl_contacts {
        let id = g["id"].as_str().unwrap_or("?");
        let Some(phone) = phone_of(g) else { continue };
        known.insert(phone);
        let found = found(phone);
        if has_tag(g, &o.tag) && !o.rejected_phones.contains(phone) {
            check_wanted(o, id, g, found, violations);
        } else if o.untagged_phones.contains(phone) {
            check_left(o, &format!("contact {id} (tag removed)"), found, violations);
        } else if !found.is_empty() {
            violations.push(format!(
                "contact {id}: {} CallTools contacts although it should have none",
                found.len()
            ));
        }
    }
    for (phone, id) in &o.deleted {
        known.insert(phone);
        check_left(
            o,
            &format!("contact {id} (deleted in GHL)"),
            found(phone),
            violations,
        );
    }
    for c in &o.calltools_contacts {
        let phones = c["_phone_numbers"].as_array().into_iter().flatten();
        if !phones.filter_map(Value::as_str).any(|p| known.contains(p)) {
            violations.push(format!(
                "CallTools contact {}: matches no GHL contact (an orphan)",
                c["id"]
            ));
        }
    }
}

/// A contact the rule selects: exactly one CallTools contact, up to date and in the bucket.
fn check_wanted(o: &Observed, id: &str, g: &Value, found: &[&Value], v: &mut Vec<String>) {
    match found {
        [] => v.push(format!("contact {id}: not in CallTools")),
        [ct] => {
            for (ghl_field, ct_field) in [
                ("firstName", "first_name"),
                ("lastName", "last_name"),
                ("email", "email"),
            ] {
                if g[ghl_field] != ct[ct_field] {
                    v.push(format!(
                        "contact {id}: CallTools {ct_field} is {} but GHL's latest is {}",
                        ct[ct_field], g[ghl_field]
                    ));
                }
            }
            if !in_bucket(ct, o.bucket) {
                v.push(format!("contact {id}: not in bucket {}", o.bucket));
            }
        }
        _ => v.push(format!(
            "contact {id}: {} CallTools contacts for one phone (a duplicate)",
            found.len()
        )),
    }
}

/// A contact that left the rule: at most one CallTools contact, out of the bucket.
fn check_left(o: &Observed, who: &str, found: &[&Value], v: &mut Vec<String>) {
    match found {
        [] => {}
        [ct] if in_bucket(ct, o.bucket) => v.push(format!("{who}: still in bucket {}", o.bucket)),
        [_] => {}
        _ => v.push(format!(
            "{who}: {} CallTools contacts for one phone (a duplicate)",
            found.len()
        )),
    }
}

/// After the replay only the refused phones are parked, each with CallTools' 400 as reason,
/// and every refused tagged contact is parked.
fn check_dlq(o: &Observed, violations: &mut Vec<String>) {
    let phone_by_id: HashMap<&str, &str> = o
        .ghl_contacts
        .iter()
        .filter_map(|g| Some((g["id"].as_str()?, phone_of(g)?)))
        .collect();
    let mut parked_contacts = BTreeSet::new();
    for m in &o.parked_after {
        let contact = SyncJob::from_json(&m.body)
            .ok()
            .map(|j| j.contact_key().id.clone());
        let phone = contact.as_deref().and_then(|c| phone_by_id.get(c).copied());
        match phone {
            Some(p) if o.rejected_phones.contains(p) => {
                if m.http_status != Some(400) || !m.reason.contains("CallTools") {
                    violations.push(format!(
                        "parked job {:?}: reason {:?} ({:?}), expected CallTools' 400",
                        m.job_id, m.reason, m.http_status
                    ));
                }
                parked_contacts.insert(p.to_string());
            }
            _ => violations.push(format!(
                "job {:?} for contact {contact:?} is still parked after the replay: {} ({:?})",
                m.job_id, m.reason, m.http_status
            )),
        }
    }
    for g in &o.ghl_contacts {
        if let Some(phone) = phone_of(g)
            && o.rejected_phones.contains(phone)
            && has_tag(g, &o.tag)
            && !parked_contacts.contains(phone)
        {
            violations.push(format!(
                "contact {}: CallTools refuses its phone but nothing of it is parked",
                g["id"].as_str().unwrap_or("?")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(webhook: Option<&str>, attempt: u32, status: u16, answer: Value) -> Delivery {
        Delivery {
            kind: "ContactUpdate".into(),
            webhook_id: webhook.map(str::to_string),
            contact_id: "c1".into(),
            attempt,
            status: Some(status),
            answer: Some(answer.to_string()),
            ..Delivery::default()
        }
    }

    fn event(job: &str, received: i64, outcome: &str, reason: Option<&str>) -> LoggedEvent {
        LoggedEvent {
            source: "ghl".into(),
            account: "loc".into(),
            contact_id: "c1".into(),
            job_id: job.into(),
            trigger: "ContactUpdate".into(),
            received_at_ms: received,
            outcome: outcome.into(),
            reason: reason.map(str::to_string),
            http_status: None,
            calltools_id: None,
            attempts: 1,
            duplicates: 0,
            duplicate_deliveries: 0,
            last_receive_count: 1,
            first_seen_ms: received,
            last_attempt_ms: received + 100,
            expires_at: 0,
        }
    }

    const WORKFLOW_BODY: &str = r#"{"contact_id":"c1"}"#;

    /// The job ingress names a workflow delivery that arrived at `arrival_ms`.
    fn workflow_job(arrival_ms: i64) -> String {
        leadsync::sources::ghl::routes::workflow_job_id(WORKFLOW_BODY.as_bytes(), arrival_ms)
    }

    fn workflow(status: u16, answer: Value) -> Delivery {
        Delivery {
            kind: "Workflow".into(),
            body: WORKFLOW_BODY.into(),
            ..delivery(None, 1, status, answer)
        }
    }

    fn enqueued(job: &str) -> Value {
        json!({"status": "enqueued", "job_id": job})
    }

    fn balanced() -> Observed {
        Observed {
            deliveries: vec![
                delivery(Some("w1"), 1, 202, enqueued("ghl:w1")),
                delivery(
                    Some("w1"),
                    1,
                    200,
                    json!({"status": "duplicate", "job_id": "ghl:w1"}),
                ),
                delivery(Some("w2"), 1, 429, json!({"error": "queue_unavailable"})),
                delivery(Some("w2"), 2, 202, enqueued("ghl:w2")),
                workflow(202, enqueued(&workflow_job(3))),
                workflow(202, enqueued(&workflow_job(4))),
            ],
            events: vec![
                event("ghl:w1", 1, "synced", None),
                event("ghl:w2", 2, "skipped", Some("stale")),
                event(&workflow_job(3), 3, "skipped", Some("covered")),
                event(&workflow_job(4), 4, "skipped", Some("unchanged")),
            ],
            ghl_contacts: vec![
                json!({"id": "c1", "firstName": "Ada", "lastName": "L", "email": "a@x.io", "phone": "+14152000001", "tags": ["Cold Lead"]}),
                json!({"id": "c2", "firstName": "Bo", "phone": "+14152000002", "tags": ["cold lead"]}),
                json!({"id": "c3", "firstName": "Cy", "phone": "+14152000003", "tags": []}),
            ],
            calltools_contacts: vec![json!({
                "first_name": "Ada", "last_name": "L", "email": "a@x.io",
                "_phone_numbers": ["+14152000001"], "buckets": [7]
            })],
            rejected_phones: BTreeSet::from(["+14152000002".to_string()]),
            bucket: 7,
            tag: "cold lead".into(),
            parked_after: vec![parked("c2", 400, "CallTools refused the request")],
            ..Observed::default()
        }
    }

    fn parked(contact: &str, status: u16, reason: &str) -> ParkedMessage {
        ParkedMessage {
            message_id: "m".into(),
            job_id: Some("ghl:w9".into()),
            source: None,
            contact: None,
            reason: reason.into(),
            redriven: false,
            http_status: Some(status),
            response_excerpt: None,
            parked_at_ms: None,
            parked_at: None,
            receive_count: None,
            replay_count: 1,
            attributes: BTreeMap::new(),
            body: format!(
                r#"{{"kind":"ghl_contact.v1","job_id":"ghl:w9","location_id":"loc","contact_id":"{contact}","trigger":"ContactUpdate","version_ms":null,"received_at_ms":1,"payload":"{{}}"}}"#
            ),
        }
    }

    #[test]
    fn a_run_where_everything_is_accounted_for_balances() {
        let l = account(&balanced());
        assert!(l.balances(), "{:#?}", l.violations);
        assert_eq!(
            (l.sent, l.accepted, l.duplicates_at_ingress, l.busy_retried),
            (6, 4, 1, 1)
        );
        assert_eq!(l.synced, 1);
        assert_eq!(l.skipped.values().sum::<usize>(), 3);
        assert_eq!(l.skipped["covered"], 1);
    }

    #[test]
    fn a_job_accepted_but_missing_from_the_event_log_unbalances_it() {
        let mut o = balanced();
        o.events.retain(|e| e.job_id != "ghl:w2");
        let l = account(&o);
        assert!(
            l.violations
                .iter()
                .any(|v| v.contains("ghl:w2") && v.contains("lost")),
            "{:#?}",
            l.violations
        );
    }

    #[test]
    fn a_webhook_only_ever_answered_429_or_duplicate_is_lost_unless_its_job_exists() {
        let mut o = balanced();
        o.deliveries.push(delivery(
            Some("w5"),
            1,
            429,
            json!({"error": "queue_unavailable"}),
        ));
        o.deliveries.push(delivery(
            Some("w5"),
            2,
            200,
            json!({"status": "duplicate", "job_id": "ghl:w5"}),
        ));
        assert!(account(&o).violations.iter().any(|v| v.contains("ghl:w5")));
        // The first enqueue had happened before its answer was lost: the job is there.
        o.events.push(event("ghl:w5", 5, "synced", None));
        assert!(account(&o).balances(), "{:#?}", account(&o).violations);
    }

    #[test]
    fn a_workflow_delivery_whose_answer_was_lost_is_covered_by_the_job_it_made() {
        let mut o = balanced();
        o.deliveries.push(Delivery {
            status: None,
            error: Some("timed out".into()),
            answer: None,
            ..workflow(202, json!({}))
        });
        let l = account(&o);
        assert!(
            l.violations.iter().any(|v| v.contains("lost")),
            "no job made: {:#?}",
            l.violations
        );
        o.events.push(event(&workflow_job(9), 9, "synced", None));
        assert!(account(&o).balances(), "{:#?}", account(&o).violations);
    }

    #[test]
    fn a_workflow_webhook_refused_with_429_is_lost_because_ghl_does_not_retry_it() {
        let mut o = balanced();
        o.deliveries.push(Delivery {
            body: r#"{"contact_id":"c9"}"#.into(),
            ..workflow(429, json!({"error": "queue_unavailable"}))
        });
        let l = account(&o);
        assert!(
            l.violations.iter().any(|v| v.contains("lost")),
            "{:#?}",
            l.violations
        );
    }

    #[test]
    fn a_job_still_queued_or_retrying_after_the_drain_unbalances_it() {
        let mut o = balanced();
        o.events[0].outcome = "retried".into();
        let l = account(&o);
        assert_eq!(l.unsettled, 1);
        assert!(!l.balances());
    }

    #[test]
    fn a_refused_delivery_unbalances_it() {
        let mut o = balanced();
        o.deliveries.push(delivery(
            Some("w3"),
            1,
            401,
            json!({"error": "signature_invalid"}),
        ));
        let l = account(&o);
        assert_eq!(l.refused, 1, "{:#?}", l.violations);
        assert!(!l.balances());
    }

    #[test]
    fn a_duplicate_or_stale_calltools_contact_unbalances_it() {
        let mut o = balanced();
        o.calltools_contacts.push(o.calltools_contacts[0].clone());
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("a duplicate"))
        );
        let mut o = balanced();
        o.calltools_contacts[0]["first_name"] = json!("Ada-old");
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("first_name"))
        );
        let mut o = balanced();
        o.calltools_contacts[0]["buckets"] = json!([]);
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("not in bucket"))
        );
    }

    #[test]
    fn a_rejected_phone_in_calltools_or_a_tagless_contact_synced_unbalances_it() {
        let mut o = balanced();
        o.calltools_contacts
            .push(json!({"_phone_numbers": ["+14152000003"], "buckets": []}));
        assert!(account(&o).violations.iter().any(|v| v.contains("c3")));
    }

    #[test]
    fn a_calltools_contact_that_matches_no_ghl_contact_unbalances_it() {
        let mut o = balanced();
        o.calltools_contacts
            .push(json!({"id": 99, "_phone_numbers": ["+14152000099"], "buckets": []}));
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("99") && v.contains("orphan")),
            "{:#?}",
            account(&o).violations
        );
    }

    #[test]
    fn a_contact_whose_tag_was_removed_may_stay_in_calltools_but_not_in_the_bucket() {
        let mut o = balanced();
        o.ghl_contacts[0]["tags"] = json!([]);
        o.untagged_phones.insert("+14152000001".into());
        o.calltools_contacts[0]["buckets"] = json!([]);
        assert!(account(&o).balances(), "{:#?}", account(&o).violations);
        o.calltools_contacts[0]["buckets"] = json!([7]);
        let l = account(&o);
        assert!(
            l.violations
                .iter()
                .any(|v| v.contains("c1") && v.contains("still in bucket")),
            "{:#?}",
            l.violations
        );
    }

    #[test]
    fn a_deleted_contact_may_stay_in_calltools_once_but_not_in_the_bucket() {
        let mut o = balanced();
        o.ghl_contacts.remove(0);
        o.deleted.insert("+14152000001".into(), "c1".into());
        let left = json!({"id": 1, "first_name": "Ada", "_phone_numbers": ["+14152000001"], "buckets": []});
        o.calltools_contacts = vec![left.clone()];
        assert!(account(&o).balances(), "{:#?}", account(&o).violations);
        let mut still_in = left.clone();
        still_in["buckets"] = json!([7]);
        o.calltools_contacts = vec![still_in];
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("c1") && v.contains("still in bucket"))
        );
        o.calltools_contacts = vec![left.clone(), left];
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("c1") && v.contains("a duplicate"))
        );
    }

    #[test]
    fn only_refused_phones_may_stay_parked_and_each_of_them_must() {
        let mut o = balanced();
        o.parked_after
            .push(parked("c1", 503, "CallTools unavailable"));
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("still parked"))
        );
        let mut o = balanced();
        o.parked_after.clear();
        assert!(
            account(&o)
                .violations
                .iter()
                .any(|v| v.contains("nothing of it is parked"))
        );
    }

    #[test]
    fn latency_percentiles_come_from_synced_jobs() {
        let mut o = balanced();
        o.events[0].last_attempt_ms = o.events[0].received_at_ms + 250;
        let l = account(&o);
        assert_eq!((l.latency_p50_ms, l.latency_p99_ms), (250, 250));
    }
}
