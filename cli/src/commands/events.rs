//! `leadsync events`: writes the sample events in `events/` — API Gateway v2 events for each
//! ingress route, signed with the sandbox's test keys, and an SQS batch for the consumer. They
//! feed the tests, `cargo lambda invoke --data-file` and `sam local invoke -e`.
//!
//! Signatures are deterministic (Ed25519, RSA PKCS#1 v1.5), so regenerating gives identical
//! files; a test fails if the committed files drift from what this writes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::local::SANDBOX_WORKFLOW_SECRET;
use crate::local::apigw::api_gateway_event;
use crate::sandbox::keys::sign_ghl;

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Where to write the files.
    #[arg(long, default_value = "events")]
    pub dir: PathBuf,
}

/// A GHL ContactTagUpdate as GHL documents it (research/ghl_calltools.md §1). It has no
/// `timestamp`, so it never goes stale as a fixture, and no `webhookId`, so invoking it twice is
/// not a replay: the job id is a hash of the body and the consumer recognises the duplicate.
pub const CONTACT_TAG_UPDATE: &str = r#"{"type":"ContactTagUpdate","locationId":"ve9EPM428h8vShlRW1KT","id":"nmFmQEsNgz6AVpgLVUJ0","address1":"3535 1st St N","city":"Birmingham","state":"AL","companyName":"Loram ipsum","country":"US","source":"xyz form","dateAdded":"2021-11-26T12:41:02.193Z","dateOfBirth":"2000-01-05T00:00:00.000Z","dnd":false,"email":"johndeo@example.com","name":"John Deo","firstName":"John","lastName":"Deo","phone":"+14155550132","postalCode":"35203","tags":["cold lead","newsletter"],"website":"https://www.example.com/","attachments":[],"assignedTo":"nmFmQEsNgz6AVpgLVUJ0","customFields":[{"id":"BcdmQEsNgz6AVpgLVUJ0","value":"XYZ Corp"}]}"#;

/// The workflow Custom Webhook's default payload (§2.5): tags as one comma-separated string.
pub const WORKFLOW: &str = r#"{"contact_id":"nmFmQEsNgz6AVpgLVUJ0","first_name":"John","last_name":"Deo","full_name":"John Deo","phone":"+14155550132","email":"johndeo@example.com","tags":"cold lead,newsletter","country":"US","date_created":"2021-11-26T12:41:02.193Z","contact_type":"lead","location":{"id":"ve9EPM428h8vShlRW1KT","name":"Sandbox Location"},"workflow":{"id":"7d3f1c52-9a4b-4e0f-8b61-2c5e9d0a7f13","name":"Cold lead → CallTools"},"triggerData":{},"customData":{}}"#;

/// Every sample event: file name and content.
pub fn all() -> Vec<(&'static str, Value)> {
    let sig = sign_ghl(CONTACT_TAG_UPDATE.as_bytes());
    let mut events = vec![
        (
            "apigw-ghl-contact-tag-update.json",
            http_event(
                "/webhooks/ghl",
                &[("x-ghl-signature", &sig.ed25519_b64)],
                CONTACT_TAG_UPDATE,
            ),
        ),
        (
            "apigw-ghl-contact-tag-update-legacy-rsa.json",
            http_event(
                "/webhooks/ghl",
                &[("x-wh-signature", &sig.rsa_b64)],
                CONTACT_TAG_UPDATE,
            ),
        ),
        (
            "apigw-ghl-workflow.json",
            http_event(
                "/webhooks/ghl/workflow",
                &[(
                    "authorization",
                    &format!("Bearer {SANDBOX_WORKFLOW_SECRET}"),
                )],
                WORKFLOW,
            ),
        ),
    ];
    events.push(("sqs-batch.json", sqs_batch()));
    events
}

fn http_event(path: &str, extra: &[(&'static str, &str)], body: &str) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/json".parse().expect("valid header"),
    );
    headers.insert(
        "user-agent",
        "GoHighLevel-Webhooks".parse().expect("valid header"),
    );
    for (k, v) in extra {
        headers.insert(*k, v.parse().expect("valid header"));
    }
    let mut event = api_gateway_event(
        "POST",
        path,
        "",
        &format!("POST {path}"),
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
    let record = |id: &str, body: String| {
        json!({
            "messageId": id,
            "receiptHandle": format!("sample-receipt-{id}"),
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795428000000",
                           "SenderId": "AROAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795428000100"},
            "messageAttributes": {"source": {"stringValue": "ghl", "dataType": "String"}},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:leadsync-JobQueue",
            "awsRegion": "us-east-1"
        })
    };
    json!({"Records": [
        record("6f1c8a52-0000-4000-8000-000000000001", job.to_string()),
        record("6f1c8a52-0000-4000-8000-000000000002", "{\"not\":\"a job\"}".to_string()),
    ]})
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
                .unwrap_or_else(|e| panic!("events/{name}: {e}; run `leadsync events`"));
            assert_eq!(
                committed,
                render(&v),
                "events/{name} is stale; run `leadsync events`"
            );
        }
    }
}
