//! The webhook routes, called as an attacker would (forged or missing signatures or tokens) and
//! as the sender does (signed with the test key, or with the hook token), with what must hold
//! for each answer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leadsync::domain::clock::now_ms;
use leadsync::domain::contact::ContactKey;
use leadsync::sources::calltools::hook::{HookModel, parse_hook};
use leadsync::sources::calltools::routes::CALLTOOLS_PATH;
use leadsync::sources::ghl::routes::{GHL_MARKETPLACE_PATH, GHL_WORKFLOW_PATH};
use leadsync::sources::ghl::webhook::{MarketplaceEvent, parse_marketplace, parse_workflow};
use leadsync::sources::meta::routes::META_PATH;
use leadsync::sources::meta::webhook::{Batch, Item, parse};

use crate::harness::{
    CALLTOOLS_HOOK_TOKEN, LOCATION_ID, META_IG_ACCOUNT_ID, META_PAGE_ID, PLACED_CALLTOOLS_CONTACT,
    TIMESTAMP_TOLERANCE, WORKFLOW_SECRET, assert_queue_matches, assert_refused, forge_meta,
    other_bytes, sign_ghl, sign_meta, stack,
};

/// Margin for the clock moving between the harness's reading and the ingress's.
const CLOCK_MARGIN_MS: u64 = 24 * 3600 * 1000;

/// `POST /webhooks/ghl` with `data` as the body.
pub fn ghl_marketplace(body: &[u8]) {
    let stack = stack(true);
    let forged = stack.post(
        GHL_MARKETPLACE_PATH,
        &[("x-ghl-signature", sign_ghl(&other_bytes(body)))],
        body,
    );
    assert_refused(&stack, &forged, "an Ed25519 signature over other bytes");
    let legacy = STANDARD.encode(&body[..body.len().min(512)]);
    let forged = stack.post(GHL_MARKETPLACE_PATH, &[("x-wh-signature", legacy)], body);
    assert_refused(&stack, &forged, "a legacy RSA header made of the body");
    let unsigned = stack.post(GHL_MARKETPLACE_PATH, &[], body);
    assert_refused(&stack, &unsigned, "an unsigned body");

    let signed = [("x-ghl-signature", sign_ghl(body))];
    let first = stack.post(GHL_MARKETPLACE_PATH, &signed, body);
    let enqueued = usize::from(first.status == 202);
    assert_queue_matches(&stack, &first, enqueued);
    let event = match parse_marketplace(body) {
        Ok(MarketplaceEvent::Contact(event)) => event,
        Ok(MarketplaceEvent::Other { .. }) => {
            assert_eq!(first.status, 200, "another event type: {}", first.body);
            assert_queue_matches(&stack, &first, 0);
            return;
        }
        Err(e) => {
            assert_eq!(
                first.status, 400,
                "an unreadable body ({e}): {}",
                first.body
            );
            return;
        }
    };
    let fresh = event.timestamp_ms.is_some_and(|ts| {
        ts.abs_diff(now_ms()) + CLOCK_MARGIN_MS < TIMESTAMP_TOLERANCE.as_millis() as u64
    });
    if fresh && event.location_id == LOCATION_ID {
        assert_eq!(
            first.status, 202,
            "a signed, fresh contact event of our location: {}",
            first.body
        );
    }
    if enqueued == 0 {
        return;
    }
    let jobs = stack.queue.jobs();
    assert_eq!(
        jobs[0].contact_key(),
        ContactKey::ghl(&event.location_id, &event.contact_id)
    );
    if let Some(id) = &event.webhook_id {
        assert_eq!(jobs[0].id(), format!("ghl:{id}"));
    }

    // GHL's retry of the same delivery: never a second job for the same webhook id, and the
    // same job id whenever the body carries its own event time.
    let again = stack.post(GHL_MARKETPLACE_PATH, &signed, body);
    match &event.webhook_id {
        Some(_) => {
            assert_eq!(again.status, 200, "a replayed webhook id: {}", again.body);
            assert_queue_matches(&stack, &again, 1);
        }
        None => {
            assert_eq!(again.status, 202, "a redelivery: {}", again.body);
            assert_queue_matches(&stack, &again, 2);
            let jobs = stack.queue.jobs();
            if event.timestamp_ms.is_some() {
                assert_eq!(jobs[0].id(), jobs[1].id(), "a retry is the same job");
            }
        }
    }
}

/// `POST /webhooks/ghl/workflow` with `data` as the body.
pub fn ghl_workflow(body: &[u8]) {
    let parsed = parse_workflow(body);
    for default_location in [true, false] {
        let stack = stack(default_location);
        let wrong = [
            (vec![], "no secret"),
            (
                vec![("authorization", format!("Bearer {WORKFLOW_SECRET}x"))],
                "a longer secret",
            ),
            (
                vec![("x-api-key", WORKFLOW_SECRET[1..].to_string())],
                "a shorter secret",
            ),
            (
                vec![("authorization", WORKFLOW_SECRET.to_string())],
                "the secret without Bearer",
            ),
        ];
        for (headers, attempt) in &wrong {
            let answer = stack.post(GHL_WORKFLOW_PATH, headers, body);
            assert_refused(&stack, &answer, attempt);
        }
        // Both ways the workflow action can present the secret.
        let presented = if default_location {
            ("authorization", format!("Bearer {WORKFLOW_SECRET}"))
        } else {
            ("x-api-key", WORKFLOW_SECRET.to_string())
        };
        let answer = stack.post(GHL_WORKFLOW_PATH, &[presented], body);
        let enqueued = usize::from(answer.status == 202);
        assert_queue_matches(&stack, &answer, enqueued);
        let event = match &parsed {
            Ok(event) => event,
            Err(e) => {
                assert_eq!(
                    answer.status, 400,
                    "an unreadable body ({e}): {}",
                    answer.body
                );
                continue;
            }
        };
        let location = event
            .location_id
            .clone()
            .or_else(|| default_location.then(|| LOCATION_ID.to_string()));
        match &location {
            None => assert_eq!(answer.status, 400, "no location: {}", answer.body),
            Some(l) if l == LOCATION_ID => {
                assert_eq!(answer.status, 202, "our location: {}", answer.body);
            }
            Some(_) => {}
        }
        if let (1, Some(location)) = (enqueued, location) {
            assert_eq!(
                stack.queue.jobs()[0].contact_key(),
                ContactKey::ghl(&location, &event.contact_id)
            );
        }
    }
}

/// `POST /webhooks/meta` with `data` as the body, and `GET /webhooks/meta` with it as the query.
pub fn meta_webhook(body: &[u8]) {
    let stack = stack(true);
    let forged = stack.post(
        META_PATH,
        &[("x-hub-signature-256", forge_meta(body))],
        body,
    );
    assert_refused(&stack, &forged, "another app's signature");
    let forged = stack.post(
        META_PATH,
        &[("x-hub-signature-256", sign_meta(&other_bytes(body)))],
        body,
    );
    assert_refused(&stack, &forged, "a signature over other bytes");
    let unsigned = stack.post(META_PATH, &[], body);
    assert_refused(&stack, &unsigned, "an unsigned body");

    let query = String::from_utf8_lossy(body);
    let handshake = stack.get(META_PATH, &query);
    match handshake.status {
        // The challenge is echoed only to whoever knows the verify token, and never a long one.
        200 => assert!(handshake.body.len() <= 256 && query.contains("hub.verify_token=")),
        403 => {}
        other => panic!("the handshake answered {other}: {}", handshake.body),
    }
    assert_queue_matches(&stack, &handshake, 0);

    let answer = stack.post(META_PATH, &[("x-hub-signature-256", sign_meta(body))], body);
    match parse(body) {
        Ok(Batch::Items { items, .. }) => {
            // Only items for our Page or Instagram account become jobs (the allow-list).
            let events = items
                .iter()
                .filter(|i| {
                    matches!(i, Item::Event { event, .. }
                        if [META_PAGE_ID, META_IG_ACCOUNT_ID].contains(&event.account_id.as_str()))
                })
                .count();
            assert_eq!(answer.status, 200, "a signed batch: {}", answer.body);
            assert_queue_matches(&stack, &answer, events);
        }
        Ok(Batch::OtherObject(_)) => {
            assert_eq!(answer.status, 200, "another object: {}", answer.body);
            assert_queue_matches(&stack, &answer, 0);
        }
        Err(e) => {
            assert_eq!(
                answer.status, 400,
                "an unreadable body ({e}): {}",
                answer.body
            );
            assert_queue_matches(&stack, &answer, 0);
        }
    }
}

/// `POST /webhooks/calltools` with `data` as the body: without the token, with a wrong one, and
/// with the right one for each model. CallTools signs nothing, so the body is never trusted:
/// only a hook about the contact leadsync placed becomes a job (which reads the object again).
pub fn calltools_hook(body: &[u8]) {
    let stack = stack(true);
    for query in [
        "model=call".to_string(),
        "model=call&token=not-the-token".to_string(),
        format!("model=call&token={}", &CALLTOOLS_HOOK_TOKEN[..8]),
    ] {
        let refused = stack.post_query(CALLTOOLS_PATH, &query, &[], body);
        assert_refused(&stack, &refused, "a hook without the right token");
    }
    for (model, name) in [(HookModel::Call, "call"), (HookModel::Contact, "contact")] {
        let stack = crate::harness::stack(true);
        let query = format!("model={name}&token={CALLTOOLS_HOOK_TOKEN}");
        let answer = stack.post_query(CALLTOOLS_PATH, &query, &[], body);
        match parse_hook(model, body) {
            Ok(h) if h.contact_id == PLACED_CALLTOOLS_CONTACT => {
                assert_eq!(
                    answer.status, 202,
                    "a hook about our contact: {}",
                    answer.body
                );
                assert_queue_matches(&stack, &answer, 1);
            }
            Ok(_) => {
                assert_eq!(
                    answer.status, 200,
                    "a hook about another contact: {}",
                    answer.body
                );
                assert_queue_matches(&stack, &answer, 0);
            }
            Err(e) => {
                assert!(
                    [400, 413].contains(&answer.status),
                    "an unreadable hook ({e}) answered {}: {}",
                    answer.status,
                    answer.body
                );
                assert_queue_matches(&stack, &answer, 0);
            }
        }
    }
}
