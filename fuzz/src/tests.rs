//! The committed seeds through their targets on the stable toolchain: every target's assertions
//! hold for every seed, and a signed seed really gets past verification to the queue (else the
//! fuzzer would only ever exercise the signature check).

use std::path::PathBuf;

use leadsync::sources::calltools::routes::CALLTOOLS_PATH;
use leadsync::sources::ghl::routes::{GHL_MARKETPLACE_PATH, GHL_WORKFLOW_PATH};
use leadsync::sources::meta::routes::META_PATH;

use crate::harness::{CALLTOOLS_HOOK_TOKEN, WORKFLOW_SECRET, sign_ghl, sign_meta, stack};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 8] = [
    ("ghl_marketplace", crate::ghl_marketplace),
    ("ghl_workflow", crate::ghl_workflow),
    ("meta_webhook", crate::meta_webhook),
    ("ghl_search_page", crate::ghl_search_page),
    ("ghl_contact", crate::ghl_contact),
    ("calltools_answer", crate::calltools_answer),
    ("calltools_hook", crate::calltools_hook),
    ("phone", crate::phone),
];

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(corpus(target).join(name)).expect("a committed seed")
}

#[test]
fn every_seed_holds_its_targets_assertions() {
    for (target, run) in TARGETS {
        let seeds: Vec<_> = std::fs::read_dir(corpus(target))
            .expect("every target has a seed corpus")
            .map(|e| e.expect("a readable corpus entry").path())
            .collect();
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for path in seeds {
            run(&std::fs::read(&path).expect("a readable seed"));
        }
    }
}

#[test]
fn a_signed_marketplace_seed_is_enqueued_and_an_unsigned_one_is_not() {
    let body = seed("ghl_marketplace", "contact-tag-update.json");
    let s = stack(true);
    assert_eq!(s.post(GHL_MARKETPLACE_PATH, &[], &body).status, 401);
    let answer = s.post(
        GHL_MARKETPLACE_PATH,
        &[("x-ghl-signature", sign_ghl(&body))],
        &body,
    );
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(s.queue.len(), 1);
}

#[test]
fn a_workflow_seed_with_the_secret_is_enqueued() {
    let body = seed("ghl_workflow", "workflow.json");
    let s = stack(false);
    let bearer = ("authorization", format!("Bearer {WORKFLOW_SECRET}"));
    let answer = s.post(GHL_WORKFLOW_PATH, &[bearer], &body);
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(s.queue.len(), 1);
}

#[test]
fn a_signed_meta_seed_enqueues_its_events() {
    let body = seed("meta_webhook", "messenger.json");
    let s = stack(true);
    let answer = s.post(
        META_PATH,
        &[("x-hub-signature-256", sign_meta(&body))],
        &body,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        s.queue.len(),
        6,
        "every item but the optin: {}",
        answer.body
    );
}

#[test]
fn the_handshake_seed_gets_its_challenge_back() {
    let query = String::from_utf8(seed("meta_webhook", "handshake.txt")).unwrap();
    let answer = stack(true).get(META_PATH, &query);
    assert_eq!((answer.status, answer.body.as_str()), (200, "1158201444"));
}

#[test]
fn a_calltools_seed_about_our_contact_with_the_token_enqueues_one_job() {
    let body = seed("calltools_hook", "call-placed.json");
    let s = stack(true);
    let query = format!("model=call&token={CALLTOOLS_HOOK_TOKEN}");
    let answer = s.post_query(CALLTOOLS_PATH, &query, &[], &body);
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(s.queue.len(), 1);
}
