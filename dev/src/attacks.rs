//! The attack suite: what someone without our keys (or with a Marketplace app of their own) can
//! send each webhook route, sent through a local stack's HTTP API, and what ingress answered.
//!
//! Run by the end-to-end tests (which fail on any bypass) and printed by `make bench`. The
//! stack must run without a consumer, so every job ingress queued stays on the queue to be
//! counted. Only the suite's few legitimate deliveries (the original of a replay, text with
//! characters SQS refuses) may put jobs there; anything more is an attack that got through.

use std::fmt::Write as _;

use anyhow::{Result, ensure};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use leadsync::domain::clock::now_ms;
use serde_json::{Value, json};

use leadsync_local::{
    LOCAL_CALLTOOLS_HOOK_TOKEN, SANDBOX_LOCATION_ID, SANDBOX_WORKFLOW_SECRET, Stack,
};
use leadsync_sandbox::keys::sign_ghl;
use leadsync_sandbox::{SandboxConfig, sign_meta};

/// Unsigned requests sent at once per route for the flood row.
const FLOOD: usize = 200;
const CONTACT: &str = "atkContact000000001";

/// What an attack may get: refused (4xx), ignored or a duplicate (200, nothing queued). A
/// legitimate delivery the suite sends on purpose is `Accepted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Refused,
    Ignored,
    Accepted,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub route: &'static str,
    pub attack: &'static str,
    pub tried: usize,
    /// Status codes answered, with counts (`401×200`).
    pub answers: String,
    /// Answers outside what the attack may get: a 2xx that queued or a 5xx.
    pub bypasses: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AttackTable {
    pub rows: Vec<Row>,
    /// Jobs on the queue after the suite, beyond its legitimate deliveries.
    pub enqueued: i64,
    pub legitimate: usize,
}

impl AttackTable {
    pub fn bypasses(&self) -> usize {
        self.rows.iter().map(|r| r.bypasses).sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:<18} {:<42} {:>6}  {:<24} {:>8}",
            "route", "attack", "tried", "answers", "bypasses"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "  {:<18} {:<42} {:>6}  {:<24} {:>8}",
                r.route, r.attack, r.tried, r.answers, r.bypasses
            );
        }
        let _ = writeln!(
            out,
            "  not applicable: stale and replayed on ghl/workflow (GHL sends it no time and no id: the secret is all it has);\n  \
             stale on meta (Meta signs no time), and a Meta replay is queued again under the same job id, which the consumer drops;\n  \
             stale and replayed on calltools (CallTools sends no time, no id and no signature: the token is all it has, and every\n  \
             job re-reads its call or contact from CallTools, so a forged body with the right token changes nothing by itself)"
        );
        let _ = writeln!(
            out,
            "  bypasses = {}, enqueued by attacks = {} (the queue holds only the {} legitimate deliveries)",
            self.bypasses(),
            self.enqueued,
            self.legitimate
        );
        out
    }
}

struct Attack {
    route: &'static str,
    name: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expect: Expect,
    times: usize,
}

/// Runs every attack against `stack`, which must have no consumer.
pub async fn run(stack: &Stack) -> Result<AttackTable> {
    let http = reqwest::Client::new();
    let before = stack.queue_depth(&stack.resources.queue_url).await?;
    let attacks = attacks(stack);
    let legitimate = attacks
        .iter()
        .filter(|a| a.expect == Expect::Accepted)
        .map(|a| a.times)
        .sum();
    let mut rows = Vec::new();
    for a in attacks {
        let sends = (0..a.times).map(|_| {
            let mut req = http
                .post(&a.url)
                .header("content-type", "application/json")
                .body(a.body.clone());
            for (k, v) in &a.headers {
                req = req.header(*k, v);
            }
            async move {
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                anyhow::Ok((status, body))
            }
        });
        let answers = futures::future::try_join_all(sends).await?;
        let mut counts = std::collections::BTreeMap::<u16, usize>::new();
        let mut bypasses = 0;
        for (status, body) in &answers {
            *counts.entry(*status).or_default() += 1;
            if !allowed(a.expect, *status, body) {
                bypasses += 1;
            }
        }
        rows.push(Row {
            route: a.route,
            attack: a.name,
            tried: a.times,
            answers: counts
                .iter()
                .map(|(s, n)| format!("{s}×{n}"))
                .collect::<Vec<_>>()
                .join(" "),
            bypasses,
        });
    }
    let after = stack.queue_depth(&stack.resources.queue_url).await?;
    let enqueued = after as i64 - before as i64 - legitimate as i64;
    Ok(AttackTable {
        rows,
        enqueued,
        legitimate,
    })
}

fn allowed(expect: Expect, status: u16, body: &Value) -> bool {
    let said = body["status"].as_str();
    match expect {
        Expect::Refused => (400..500).contains(&status) && status != 429,
        // A Meta POST whose every item is dropped is answered `enqueued` with `jobs: 0`.
        Expect::Ignored => {
            status == 200
                && (matches!(said, Some("ignored") | Some("duplicate")) || body["jobs"] == 0)
                || (400..500).contains(&status) && status != 429
        }
        Expect::Accepted => (200..300).contains(&status),
    }
}

fn attacks(stack: &Stack) -> Vec<Attack> {
    let mut all = ghl_marketplace(stack.webhook_url());
    all.extend(ghl_workflow(stack.workflow_url()));
    all.extend(meta(stack.meta_webhook_url()));
    all.extend(calltools(stack));
    all
}

fn marketplace(location: &str, webhook_id: &str, timestamp_ms: i64) -> Vec<u8> {
    json!({
        "type": "ContactTagUpdate", "locationId": location, "id": CONTACT,
        "tags": ["cold lead"], "webhookId": webhook_id,
        "timestamp": time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp_ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
    })
    .to_string()
    .into_bytes()
}

/// `body` with a padding field of `bytes` bytes in front: a body over the route's size limit.
fn padded(mut body: Vec<u8>, bytes: usize) -> Vec<u8> {
    body.splice(
        1..1,
        format!(r#""pad":"{}","#, "x".repeat(bytes)).into_bytes(),
    );
    body
}

/// The four attacks on a signature header every signed route gets: a forged value, a real one
/// cut short, none at all and an empty one.
fn header_attacks(
    route: &'static str,
    url: &str,
    header: &'static str,
    forged: String,
    good: &str,
    body: &[u8],
) -> Vec<Attack> {
    let a = |name, headers| Attack {
        route,
        name,
        url: url.to_string(),
        headers,
        body: body.to_vec(),
        expect: Expect::Refused,
        times: 1,
    };
    vec![
        a("forged signature", vec![(header, forged)]),
        a(
            "truncated signature",
            vec![(header, good[..40].to_string())],
        ),
        a("no signature", vec![]),
        a("empty signature", vec![(header, String::new())]),
    ]
}

fn deeply_nested(prefix: &str) -> Vec<u8> {
    format!("{prefix}{}{}}}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes()
}

/// The body with one byte inside a string field replaced by one that is not UTF-8.
fn invalid_utf8(mut body: Vec<u8>) -> Vec<u8> {
    let at = body.len() - 3;
    body[at] = 0xff;
    body
}

fn other_ed25519(body: &[u8]) -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key generation");
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("generated key");
    STANDARD.encode(key.sign(body).as_ref())
}

fn ghl_marketplace(url: String) -> Vec<Attack> {
    let now = now_ms();
    let body = marketplace(SANDBOX_LOCATION_ID, "atk-original", now);
    let good = sign_ghl(&body).ed25519_b64;
    let signed = |body: Vec<u8>| {
        let sig = sign_ghl(&body).ed25519_b64;
        (vec![("x-ghl-signature", sig)], body)
    };
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).expect("json"))
            .expect("json");
    let no_timestamp = json!({"type":"ContactTagUpdate","locationId":SANDBOX_LOCATION_ID,"id":CONTACT,"webhookId":"atk-nots"})
        .to_string()
        .into_bytes();
    let sqs_invalid =
        json!({"type":"ContactTagUpdate","locationId":SANDBOX_LOCATION_ID,"id":CONTACT,
        "firstName":"A\u{fffe}B\u{ffff}C","webhookId":"atk-sqs","timestamp":now})
        .to_string()
        .into_bytes();
    let oversized = padded(marketplace(SANDBOX_LOCATION_ID, "atk-big", now), 200_000);
    let route = "ghl";
    let a = |name, (headers, body): (Vec<(&'static str, String)>, Vec<u8>), expect| Attack {
        route,
        name,
        url: url.clone(),
        headers,
        body,
        expect,
        times: 1,
    };
    let mut attacks = header_attacks(
        route,
        &url,
        "x-ghl-signature",
        STANDARD.encode([7u8; 64]),
        &good,
        &body,
    );
    attacks.extend([
        a(
            "signed with another key",
            (
                vec![("x-ghl-signature", other_ed25519(&body))],
                body.clone(),
            ),
            Expect::Refused,
        ),
        a(
            "valid signature, re-serialised body",
            (vec![("x-ghl-signature", good.clone())], reserialised),
            Expect::Refused,
        ),
        a(
            "stale timestamp (11 min)",
            signed(marketplace(SANDBOX_LOCATION_ID, "atk-stale", now - 660_000)),
            Expect::Refused,
        ),
        a("no timestamp", signed(no_timestamp), Expect::Refused),
        a(
            "legitimate delivery (replayed below)",
            (vec![("x-ghl-signature", good.clone())], body.clone()),
            Expect::Accepted,
        ),
        a(
            "replayed delivery",
            (vec![("x-ghl-signature", good)], body.clone()),
            Expect::Ignored,
        ),
        a(
            "foreign location, validly signed",
            signed(marketplace("someoneElsesLocation", "atk-foreign", now)),
            Expect::Ignored,
        ),
        a("oversized (200 KB)", signed(oversized), Expect::Refused),
        a(
            "deeply nested (20,000 levels)",
            signed(deeply_nested("{\"a\":")),
            Expect::Refused,
        ),
        a(
            "invalid UTF-8 in a string",
            signed(invalid_utf8(marketplace(
                SANDBOX_LOCATION_ID,
                "atk-utf8",
                now,
            ))),
            Expect::Refused,
        ),
        a(
            "SQS-invalid characters (legitimate)",
            signed(sqs_invalid),
            Expect::Accepted,
        ),
        Attack {
            times: FLOOD,
            ..a(
                "flood of unsigned requests",
                (vec![], body),
                Expect::Refused,
            )
        },
    ]);
    attacks
}

fn ghl_workflow(url: String) -> Vec<Attack> {
    let body = |location: &str| {
        json!({"contact_id": CONTACT, "location": {"id": location}})
            .to_string()
            .into_bytes()
    };
    let bearer = |s: &str| vec![("authorization", format!("Bearer {s}"))];
    let good = || bearer(SANDBOX_WORKFLOW_SECRET);
    let route = "ghl/workflow";
    let a = |name, headers, body, expect| Attack {
        route,
        name,
        url: url.clone(),
        headers,
        body,
        expect,
        times: 1,
    };
    let oversized = padded(body(SANDBOX_LOCATION_ID), 200_000);
    vec![
        a(
            "forged secret",
            bearer("not-the-secret"),
            body(SANDBOX_LOCATION_ID),
            Expect::Refused,
        ),
        a(
            "truncated secret",
            bearer(&SANDBOX_WORKFLOW_SECRET[..10]),
            body(SANDBOX_LOCATION_ID),
            Expect::Refused,
        ),
        a(
            "no secret",
            vec![],
            body(SANDBOX_LOCATION_ID),
            Expect::Refused,
        ),
        a(
            "empty secret",
            vec![("x-api-key", String::new())],
            body(SANDBOX_LOCATION_ID),
            Expect::Refused,
        ),
        a(
            "foreign location, right secret",
            good(),
            body("someoneElsesLocation"),
            Expect::Ignored,
        ),
        a("oversized (200 KB)", good(), oversized, Expect::Refused),
        a(
            "deeply nested (20,000 levels)",
            good(),
            deeply_nested("{\"contact_id\":"),
            Expect::Refused,
        ),
        a(
            "invalid UTF-8 in a string",
            good(),
            invalid_utf8(body(SANDBOX_LOCATION_ID)),
            Expect::Refused,
        ),
        Attack {
            times: FLOOD,
            ..a(
                "flood without the secret",
                vec![],
                body(SANDBOX_LOCATION_ID),
                Expect::Refused,
            )
        },
    ]
}

fn calltools(stack: &Stack) -> Vec<Attack> {
    let base = stack.calltools_hook_url("call");
    let with_token = |token: &str| base.replace(LOCAL_CALLTOOLS_HOOK_TOKEN, token);
    // A call to a CallTools contact leadsync never placed: nothing to carry back.
    let call = || {
        json!({"id": 5001, "contact": 987_654_321, "disposition": {"id": 3, "name": "Sale"},
               "recording_url": "https://silo.example/rec/5001.mp3"})
        .to_string()
        .into_bytes()
    };
    let route = "calltools";
    let a = |name, url: String, body, expect| Attack {
        route,
        name,
        url,
        headers: vec![],
        body,
        expect,
        times: 1,
    };
    let no_token = base.replace(&format!("&token={LOCAL_CALLTOOLS_HOOK_TOKEN}"), "");
    vec![
        a(
            "forged token",
            with_token("not-the-token"),
            call(),
            Expect::Refused,
        ),
        a(
            "truncated token",
            with_token(&LOCAL_CALLTOOLS_HOOK_TOKEN[..12]),
            call(),
            Expect::Refused,
        ),
        a(
            "token with another case",
            with_token(&LOCAL_CALLTOOLS_HOOK_TOKEN.to_uppercase()),
            call(),
            Expect::Refused,
        ),
        a("no token", no_token.clone(), call(), Expect::Refused),
        Attack {
            headers: vec![("x-token", LOCAL_CALLTOOLS_HOOK_TOKEN.to_string())],
            ..a(
                "token in a header, not the URL",
                no_token.clone(),
                call(),
                Expect::Refused,
            )
        },
        a(
            "right token, no model",
            base.replace("model=call&", ""),
            call(),
            Expect::Refused,
        ),
        a(
            "right token, contact leadsync never placed",
            base.clone(),
            call(),
            Expect::Ignored,
        ),
        a(
            "oversized (200 KB)",
            base.clone(),
            padded(call(), 200_000),
            Expect::Refused,
        ),
        a(
            "deeply nested (20,000 levels)",
            base.clone(),
            deeply_nested("{\"id\":"),
            Expect::Refused,
        ),
        a(
            "invalid UTF-8 in a string",
            base.clone(),
            invalid_utf8(call()),
            Expect::Refused,
        ),
        Attack {
            times: FLOOD,
            ..a("flood without the token", no_token, call(), Expect::Refused)
        },
    ]
}

fn meta(url: String) -> Vec<Attack> {
    let played = SandboxConfig::default();
    let secret = played.meta_app_secret.clone();
    let page = played.meta_page_id.clone();
    let batch = |page: &str, mid: &str, text: &str| {
        json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[
            {"sender":{"id":"24000000000000001"},"recipient":{"id":page},"timestamp":now_ms(),
             "message":{"mid":mid,"text":text}}]}]})
        .to_string()
        .into_bytes()
    };
    let body = batch(&page, "m_atk_1", "hello");
    let good = sign_meta(&secret, &body);
    let signed = |body: Vec<u8>| {
        let sig = sign_meta(&secret, &body);
        (vec![("x-hub-signature-256", sig)], body)
    };
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).expect("json"))
            .expect("json");
    let oversized = padded(batch(&page, "m_atk_big", "x"), 5 * 1024 * 1024);
    let route = "meta";
    let a = |name, (headers, body): (Vec<(&'static str, String)>, Vec<u8>), expect| Attack {
        route,
        name,
        url: url.clone(),
        headers,
        body,
        expect,
        times: 1,
    };
    let mut attacks = header_attacks(
        route,
        &url,
        "x-hub-signature-256",
        format!("sha256={}", "ab".repeat(32)),
        &good,
        &body,
    );
    attacks.extend([
        a(
            "signed with another app secret",
            (
                vec![("x-hub-signature-256", sign_meta("another-app", &body))],
                body.clone(),
            ),
            Expect::Refused,
        ),
        a(
            "valid signature, re-serialised body",
            (vec![("x-hub-signature-256", good.clone())], reserialised),
            Expect::Refused,
        ),
        a(
            "legitimate delivery (replayed below)",
            (vec![("x-hub-signature-256", good.clone())], body.clone()),
            Expect::Accepted,
        ),
        a(
            "replayed delivery: same job id, dropped by the consumer",
            (vec![("x-hub-signature-256", good.clone())], body.clone()),
            Expect::Accepted,
        ),
        a(
            "foreign Page, validly signed",
            signed(batch("100000000000999", "m_atk_foreign", "hi")),
            Expect::Ignored,
        ),
        a(
            "ids that are not Meta's (path in sender)",
            signed(
                json!({"object":"page","entry":[{"id":page,"time":1,"messaging":[
                    {"sender":{"id":"../../me/accounts"},"recipient":{"id":page},"timestamp":1,
                     "message":{"mid":"m_atk_path","text":"hi"}}]}]})
                .to_string()
                .into_bytes(),
            ),
            Expect::Ignored,
        ),
        a("oversized (5 MiB)", signed(oversized), Expect::Refused),
        a(
            "deeply nested (20,000 levels)",
            signed(deeply_nested("{\"object\":")),
            Expect::Refused,
        ),
        a(
            "invalid UTF-8 in a string",
            signed(invalid_utf8(batch(&page, "m_atk_utf8", "hello"))),
            Expect::Refused,
        ),
        a(
            "SQS-invalid characters (legitimate)",
            signed(batch(&page, "m_atk_sqs", "A\u{fffe}B\u{ffff}C")),
            Expect::Accepted,
        ),
        Attack {
            times: FLOOD,
            ..a(
                "flood of unsigned requests",
                (vec![], body),
                Expect::Refused,
            )
        },
    ]);
    attacks
}

/// Fails with the table when any attack got through.
pub fn assert_held(table: &AttackTable) -> Result<()> {
    ensure!(
        table.bypasses() == 0 && table.enqueued == 0,
        "attacks got through:\n{}",
        table.render()
    );
    Ok(())
}
