//! `leadsync-dev events`: writes the sample events in `events/` — API Gateway v2 events for each
//! ingress route (signed with the sandbox's test keys, or for CallTools carrying the local
//! stack's hook token), an SQS batch for the consumer, and the
//! backfill's two scheduled events (the daily run and the resume tick, as `template.yaml`'s
//! schedules send them). They feed the tests, `cargo lambda invoke --data-file` and
//! `sam local invoke -e`.
//!
//! Signatures are deterministic (Ed25519, RSA PKCS#1 v1.5), so regenerating gives identical
//! files; a test fails if the committed files drift from what this writes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use leadsync_local::apigw::api_gateway_event;
use leadsync_local::{LOCAL_CALLTOOLS_HOOK_TOKEN, SANDBOX_WORKFLOW_SECRET};
use leadsync_sandbox::keys::sign_ghl;
use leadsync_sandbox::{SandboxConfig, meta_escaped_json, sign_meta};

use crate::sqs_records::{sqs_event, sqs_record};

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Where to write the files.
    #[arg(long, default_value = "events")]
    pub dir: PathBuf,
}

/// A GHL ContactTagUpdate as GHL documents it (research/ghl_calltools.md §1), with the envelope's
/// `timestamp` ingress requires. The time is fixed so the file does not change when regenerated:
/// a function accepts it only with a large `GHL_WEBHOOK_TOLERANCE_SECS` (docs/development.md,
/// "Tests"). It has no `webhookId`, so invoking it twice is not a replay: the job id is a hash of
/// the body and the consumer recognises the duplicate.
pub const CONTACT_TAG_UPDATE: &str = r#"{"type":"ContactTagUpdate","locationId":"ve9EPM428h8vShlRW1KT","id":"nmFmQEsNgz6AVpgLVUJ0","timestamp":"2026-11-24T12:00:00.000Z","address1":"3535 1st St N","city":"Birmingham","state":"AL","companyName":"Loram ipsum","country":"US","source":"xyz form","dateAdded":"2021-11-26T12:41:02.193Z","dateOfBirth":"2000-01-05T00:00:00.000Z","dnd":false,"email":"johndeo@example.com","name":"John Deo","firstName":"John","lastName":"Deo","phone":"+14155550132","postalCode":"35203","tags":["cold lead","newsletter"],"website":"https://www.example.com/","attachments":[],"assignedTo":"nmFmQEsNgz6AVpgLVUJ0","customFields":[{"id":"BcdmQEsNgz6AVpgLVUJ0","value":"XYZ Corp"}]}"#;

/// The workflow Custom Webhook's default payload (§2.5): tags as one comma-separated string.
pub const WORKFLOW: &str = r#"{"contact_id":"nmFmQEsNgz6AVpgLVUJ0","first_name":"John","last_name":"Deo","full_name":"John Deo","phone":"+14155550132","email":"johndeo@example.com","tags":"cold lead,newsletter","country":"US","date_created":"2021-11-26T12:41:02.193Z","contact_type":"lead","location":{"id":"ve9EPM428h8vShlRW1KT","name":"Sandbox Location"},"workflow":{"id":"7d3f1c52-9a4b-4e0f-8b61-2c5e9d0a7f13","name":"Cold lead → CallTools"},"triggerData":{},"customData":{}}"#;

/// Every sample event: file name and content.
pub fn all() -> Vec<(&'static str, Value)> {
    let sig = sign_ghl(CONTACT_TAG_UPDATE.as_bytes());
    let mut events = vec![
        (
            "apigw-ghl-contact-tag-update.json",
            ghl_event(
                "/webhooks/ghl",
                &[("x-ghl-signature", &sig.ed25519_b64)],
                CONTACT_TAG_UPDATE,
            ),
        ),
        (
            "apigw-ghl-contact-tag-update-legacy-rsa.json",
            ghl_event(
                "/webhooks/ghl",
                &[("x-wh-signature", &sig.rsa_b64)],
                CONTACT_TAG_UPDATE,
            ),
        ),
        (
            "apigw-ghl-workflow.json",
            ghl_event(
                "/webhooks/ghl/workflow",
                &[(
                    "authorization",
                    &format!("Bearer {SANDBOX_WORKFLOW_SECRET}"),
                )],
                WORKFLOW,
            ),
        ),
    ];
    events.extend(meta_events());
    events.push(("apigw-calltools-call.json", calltools_call_event()));
    events.push(("sqs-batch.json", sqs_batch()));
    events.extend(BACKFILL_SCHEDULES.map(|(name, input)| {
        let event = serde_json::from_str(input).expect("a schedule's input is JSON");
        (name, event)
    }));
    events
}

/// The backfill's GHL schedules in `template.yaml` (`BackfillFunction` → `Events`) and the event
/// each delivers: EventBridge Scheduler passes the `Input` as the whole event.
pub const BACKFILL_SCHEDULES: [(&str, &str); 2] = [
    ("backfill-schedule.json", "{}"),
    ("backfill-resume.json", r#"{"resume":true}"#),
];

/// The Meta handshake, and one Messenger and one Instagram POST signed with the sandbox's app
/// secret, in Meta's escaped form (non-ASCII as `\uXXXX`), as Meta sends them (research §1-3).
fn meta_events() -> Vec<(&'static str, Value)> {
    let played = SandboxConfig::default();
    let (page, ig) = (
        played.meta_page_id.as_str(),
        played.meta_ig_account_id.as_str(),
    );
    let t = 1_795_428_000_000_i64;
    let psid = "2400000000000001";
    let igsid = "1700000000000001";
    let messenger = json!({"object": "page", "entry": [
        {"id": page, "time": t, "messaging": [
            {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": t,
             "message": {"mid": "m_sample_0001", "text": "Grüße! Can you call me? 📞",
                         "quick_reply": {"payload": "+14155550142"}}},
            {"sender": {"id": page}, "recipient": {"id": psid}, "timestamp": t + 1000,
             "message": {"mid": "m_sample_0002", "text": "Sure, what time suits you?", "is_echo": true, "app_id": 1_517_000_000_000_001_i64}},
            {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": t + 2000,
             "delivery": {"mids": ["m_sample_0002"], "watermark": t + 1500}},
            {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": t + 3000,
             "read": {"watermark": t + 1500}}
        ]}
    ]});
    let instagram = json!({"object": "instagram", "entry": [
        {"id": ig, "time": t, "messaging": [
            {"sender": {"id": igsid}, "recipient": {"id": ig}, "timestamp": t,
             "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "Hola 👋"}},
            {"sender": {"id": igsid}, "recipient": {"id": ig}, "timestamp": t + 1000,
             "reaction": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "action": "react", "reaction": "love", "emoji": "❤"}}
        ]}
    ]});
    let signed = |v: &Value| {
        let body = meta_escaped_json(v);
        let sig = sign_meta(&played.meta_app_secret, body.as_bytes());
        (body, sig)
    };
    let (m_body, m_sig) = signed(&messenger);
    let (i_body, i_sig) = signed(&instagram);
    let query = format!(
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={}",
        played.meta_verify_token
    );
    vec![
        (
            "apigw-meta-handshake.json",
            http_event("GET", "/webhooks/meta", &query, META_AGENT, &[], ""),
        ),
        (
            "apigw-meta-messenger.json",
            http_event(
                "POST",
                "/webhooks/meta",
                "",
                META_AGENT,
                &[("x-hub-signature-256", &m_sig)],
                &m_body,
            ),
        ),
        (
            "apigw-meta-instagram.json",
            http_event(
                "POST",
                "/webhooks/meta",
                "",
                META_AGENT,
                &[("x-hub-signature-256", &i_sig)],
                &i_body,
            ),
        ),
    ]
}

/// A Call as CallTools' REST hook posts it (the object as `GET /api/calls/{id}/` returns it,
/// research §5.8; the sandbox's shape, which research marks unconfirmed beyond `id`): contact 123
/// was dialed and given "Not Interested". CallTools does not sign hooks; the subscription URL's
/// token is the local stack's (`LOCAL_CALLTOOLS_HOOK_TOKEN`, not a secret).
pub const CALLTOOLS_CALL: &str = r#"{"id":9001,"contact":123,"disposition":{"id":1,"name":"Not Interested","is_dnc":false},"user":{"id":7,"username":"agent.smith","first_name":"Agent","last_name":"Smith"},"duration":84,"start_time":"2026-11-23 10:00:00","end_time":"2026-11-23 10:01:24","recording_url":null,"direction":"outbound"}"#;

fn calltools_call_event() -> Value {
    let query = format!("model=call&token={LOCAL_CALLTOOLS_HOOK_TOKEN}");
    http_event(
        "POST",
        "/webhooks/calltools",
        &query,
        CALLTOOLS_AGENT,
        &[],
        CALLTOOLS_CALL,
    )
}

const GHL_AGENT: &str = "GoHighLevel-Webhooks";
/// Research does not record the user agent CallTools' hooks send, and ingress does not read it:
/// this one only says where the fixture stands in for CallTools.
const CALLTOOLS_AGENT: &str = "calltools-resthook-fixture";
const META_AGENT: &str = "facebookexternalua";

fn ghl_event(path: &str, extra: &[(&'static str, &str)], body: &str) -> Value {
    http_event("POST", path, "", GHL_AGENT, extra, body)
}

fn http_event(
    method: &str,
    path: &str,
    query: &str,
    agent: &str,
    extra: &[(&'static str, &str)],
    body: &str,
) -> Value {
    let mut headers = HeaderMap::new();
    if method == "POST" {
        headers.insert(
            "content-type",
            "application/json".parse().expect("valid header"),
        );
    }
    headers.insert("user-agent", agent.parse().expect("valid header"));
    for (k, v) in extra {
        headers.insert(*k, v.parse().expect("valid header"));
    }
    let mut event = api_gateway_event(
        method,
        path,
        query,
        &format!("{method} {path}"),
        &headers,
        body.as_bytes(),
    );
    // Fixed request metadata so regenerating gives the same file.
    event["requestContext"]["requestId"] = json!("sample-request-0001");
    event["requestContext"]["time"] = json!("23/Nov/2026:10:00:00 +0000");
    event["requestContext"]["timeEpoch"] = json!(1_795_428_000_000_i64);
    event
}

/// Two records: a job as ingress enqueues it, and a body that is not a job (parked as unreadable).
fn sqs_batch() -> Value {
    let job = json!({
        "kind": "ghl_contact.v1",
        "job_id": "ghl:sample-webhook-0001",
        "location_id": "ve9EPM428h8vShlRW1KT",
        "contact_id": "nmFmQEsNgz6AVpgLVUJ0",
        "trigger": "ContactTagUpdate",
        "received_at_ms": 1_795_428_000_000_i64,
        "payload": CONTACT_TAG_UPDATE,
    });
    let sent_at_ms = 1_795_428_000_000_i64;
    sqs_event(vec![
        sqs_record(
            "6f1c8a52-0000-4000-8000-000000000001",
            job.to_string(),
            sent_at_ms,
        ),
        sqs_record(
            "6f1c8a52-0000-4000-8000-000000000002",
            "{\"not\":\"a job\"}".to_string(),
            sent_at_ms,
        ),
    ])
}

pub fn render(v: &Value) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(v).expect("JSON renders")
    )
}

pub fn write(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    all()
        .into_iter()
        .map(|(name, v)| {
            let path = dir.join(name);
            std::fs::write(&path, render(&v))?;
            Ok(path)
        })
        .collect()
}

pub fn run(args: EventsArgs) -> Result<()> {
    for path in write(&args.dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_events_match_what_the_generator_writes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        for (name, v) in all() {
            let committed = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("events/{name}: {e}; run `leadsync-dev events`"));
            assert_eq!(
                committed,
                render(&v),
                "events/{name} is stale; run `leadsync-dev events`"
            );
        }
    }

    /// The backfill fixtures are what the deployed schedules send, so the test that runs them
    /// through the backfill (`backfill::tests`) runs what production receives.
    #[test]
    fn the_backfill_fixtures_are_the_inputs_of_the_templates_schedules() {
        let template: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
            )
            .expect("template.yaml"),
        )
        .expect("YAML");
        let events = &template["Resources"]["BackfillFunction"]["Properties"]["Events"];
        let input = |event: &str| -> Value {
            let text = events[event]["Properties"]["Input"]
                .as_str()
                .unwrap_or_else(|| panic!("BackfillFunction has a schedule {event} with an Input"));
            serde_json::from_str(text).expect("the Input is JSON")
        };
        let fixtures: Vec<(&str, Value)> = all()
            .into_iter()
            .filter(|(name, _)| name.starts_with("backfill-"))
            .collect();
        assert_eq!(
            fixtures,
            [
                ("backfill-schedule.json", input("Run")),
                ("backfill-resume.json", input("Resume")),
            ]
        );
    }
}
