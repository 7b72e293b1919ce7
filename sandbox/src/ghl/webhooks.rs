//! Turns store events into the exact HTTP requests GoHighLevel would send: the signed, flat
//! Marketplace webhook (§1, §2.1–2.2) and the unsigned workflow "Custom Webhook" (§2.5).

use crate::SandboxConfig;
use crate::ghl::account::GhlAccount;
use crate::ghl::render::workflow_json;
use crate::ghl::store::{Event, GhlContact};
use crate::keys::sign_ghl;
use crate::support::uuid_v4;

/// One webhook ready to go: the body bytes are fixed here and re-sent unchanged on retries.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// The event type (`ContactCreate`, …) or `Workflow`.
    pub kind: String,
    pub webhook_id: Option<String>,
    pub contact_id: String,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Only Marketplace webhooks are retried, and only on 429 (§2.4).
    pub retry_on_429: bool,
}

/// Builds the requests for the events, skipping the kinds whose URL is not configured. The
/// bodies are rendered as `account` renders them (empty fields, timestamp precision, clock).
pub(crate) fn outbound(
    cfg: &SandboxConfig,
    account: &GhlAccount,
    events: Vec<Event>,
) -> Vec<Outbound> {
    events
        .into_iter()
        .filter_map(|event| match event {
            Event::Marketplace { kind, contact } => cfg
                .marketplace_webhook_url
                .as_ref()
                .map(|url| marketplace(cfg, account, url, kind, &contact)),
            Event::Workflow { contact } => cfg
                .workflow_webhook_url
                .as_ref()
                .map(|url| workflow(cfg, account, url, &contact)),
        })
        .collect()
}

fn marketplace(
    cfg: &SandboxConfig,
    account: &GhlAccount,
    url: &str,
    kind: &str,
    contact: &GhlContact,
) -> Outbound {
    let webhook_id = uuid_v4();
    let mut body = contact.webhook_json(kind, &webhook_id, account.now_ms());
    account.shape(&mut body);
    body["timestamp"] = account.timestamp(account.now_ms()).into();
    let body = body.to_string().into_bytes();
    // Signed over the exact bytes sent (§2.2): the receiver must verify the raw body.
    let sigs = sign_ghl(&body);
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("x-ghl-signature", sigs.ed25519_b64),
    ];
    if cfg.legacy_rsa_signature {
        headers.push(("x-wh-signature", sigs.rsa_b64));
    }
    Outbound {
        kind: kind.to_owned(),
        webhook_id: Some(webhook_id),
        contact_id: contact.id.clone(),
        url: url.to_owned(),
        headers,
        body,
        retry_on_429: true,
    }
}

fn workflow(
    cfg: &SandboxConfig,
    account: &GhlAccount,
    url: &str,
    contact: &GhlContact,
) -> Outbound {
    let mut body = workflow_json(cfg, contact);
    account.shape(&mut body);
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(secret) = &cfg.workflow_secret {
        headers.push(("authorization", format!("Bearer {secret}")));
    }
    Outbound {
        kind: "Workflow".to_owned(),
        webhook_id: None,
        contact_id: contact.id.clone(),
        url: url.to_owned(),
        headers,
        body: body.to_string().into_bytes(),
        retry_on_429: false,
    }
}
