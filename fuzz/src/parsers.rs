//! The readers of what GoHighLevel's and CallTools' APIs answer, fed the answer's bytes.

use std::collections::BTreeSet;

use leadsync::domain::contact::{Contact, DoNotCall, normalize_phone};
use leadsync::sinks::calltools::client::{
    Created, ListedContact, NamedItem, created_from, listing_not_served,
};
use leadsync::sinks::calltools::placement::{Placement, bucket_answer_contradicts, learned_from};
use leadsync::sinks::calltools::upsert::MembershipChange;
use leadsync::sources::ghl::client::parse_contact;
use leadsync::sources::ghl::search::parse_page;
use serde_json::Value;

/// A `POST /contacts/search` answer, read as a full page (cursor wanted) and as a short one.
pub fn ghl_search_page(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let raw = body["contacts"].as_array();
    for page_limit in [1, 500] {
        let Ok(page) = parse_page(&body, page_limit) else {
            continue;
        };
        let raw = raw.expect("a page that parsed has a contacts array");
        assert_eq!(page.contacts.len(), raw.len(), "every contact is read");
        for (found, item) in page.contacts.iter().zip(raw) {
            assert_eq!(Some(found.id.as_str()), item["id"].as_str());
            assert_contact_reads(&found.contact, item);
        }
        if raw.len() < page_limit as usize {
            assert_eq!(page.next, None, "a short page is the last");
        }
        if let Some(next) = &page.next {
            assert!(
                next.as_array().is_some_and(|a| !a.is_empty()),
                "a cursor is a non-empty array: {next}"
            );
        }
    }
}

/// A `GET /contacts/{id}` answer, as the client reads it (text decoded lossily, like reqwest).
pub fn ghl_contact(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(contact) = parse_contact(&text) else {
        return;
    };
    // A field the parser skips may hold what `Value` refuses (a number like 1e400).
    if let Ok(raw) = serde_json::from_str::<Value>(&text) {
        assert_contact_reads(&contact, &raw["contact"]);
    }
}

/// What a contact read from GHL's JSON must say: its DND and tags as written there, and a
/// version only from a date it carries.
fn assert_contact_reads(contact: &Contact, raw: &Value) {
    if raw["dnd"] == Value::Bool(true) {
        assert_eq!(contact.do_not_call, Some(DoNotCall::AllChannels));
    }
    let call_status = raw["dndSettings"]["Call"]["status"].as_str().map(str::trim);
    if raw["dnd"] != Value::Bool(true)
        && call_status.is_some_and(|s| !s.is_empty() && !s.eq_ignore_ascii_case("inactive"))
    {
        assert_eq!(contact.do_not_call, Some(DoNotCall::Calls), "{raw}");
    }
    if let Some(tags) = raw["tags"].as_array() {
        let written: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
        assert_eq!(contact.tags, written, "tags as written");
    }
    if contact.version_ms.is_some() {
        assert!(raw["dateUpdated"].is_string() || raw["dateAdded"].is_string());
    }
}

/// A CallTools answer body, through every reader of one.
pub fn calltools_answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert!(
        listing_not_served(404, &text),
        "a 404 never serves a listing"
    );
    assert!(!listing_not_served(200, &text), "a 200 always serves it");
    let _ = listing_not_served(400, &text);
    let Ok(answer) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    match created_from(&answer) {
        Ok(Created::New { answer: kept, .. }) => {
            assert_eq!(
                kept, answer,
                "the created contact's answer is kept as it came"
            );
        }
        Ok(Created::Merged(id)) => {
            let first = &answer["duplicate_contacts"][0];
            let first_id = first
                .as_i64()
                .or_else(|| first.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(first_id, Some(id), "the merged id is the first duplicate");
        }
        Err(e) => assert!(!e.is_transient(), "an answer without an id is permanent"),
    }
    let change = MembershipChange {
        add_buckets: BTreeSet::from([1, 2]),
        remove_buckets: BTreeSet::from([3]),
        add_tags: BTreeSet::from([7]),
        remove_tags: BTreeSet::from([8]),
    };
    let unseen = change.unseen_in(Some(&answer));
    assert!(unseen.add_buckets.is_subset(&change.add_buckets));
    assert!(unseen.remove_buckets.is_subset(&change.remove_buckets));
    assert!(unseen.add_tags.is_subset(&change.add_tags));
    assert!(unseen.remove_tags.is_subset(&change.remove_tags));
    assert_eq!(change.unseen_in(None), change, "no answer shows nothing");
    for fresh in [true, false] {
        let learned = learned_from(&change, Some(&answer), fresh);
        if learned == Some(Placement::Inline) {
            assert!(fresh && !unseen.has_buckets(), "inline only when proven");
        }
        let tags_only = change.with_buckets_if(false);
        assert_eq!(learned_from(&tags_only, Some(&answer), fresh), None);
    }
    for contact_id in [1, 3] {
        assert!(
            !(bucket_answer_contradicts(&answer, contact_id, true)
                && bucket_answer_contradicts(&answer, contact_id, false)),
            "a bucket answer cannot contradict both an add and a remove"
        );
    }
    if let Some(results) = answer.get("results") {
        if let Ok(listed) = serde_json::from_value::<Vec<ListedContact>>(results.clone()) {
            for contact in &listed {
                let _ = contact.has_phone("+14155550100");
            }
        }
        let _ = serde_json::from_value::<Vec<NamedItem>>(results.clone());
    }
}

/// A phone field as GHL, Meta or a user typed it, normalised for each default region a
/// configuration might name: never a crash (the phone library has panicked on RFC 3966 parts in
/// the wrong order), and what comes out is E.164 that normalises to itself.
pub fn phone(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    for region in ["US", "GB", "FR", "in", "XX", "001", ""] {
        let Ok(e164) = normalize_phone(Some(&raw), region) else {
            continue;
        };
        let digits = e164.strip_prefix('+').expect("E.164 starts with +");
        assert!(
            (1..=17).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
            "{e164:?}"
        );
        assert_eq!(normalize_phone(Some(&e164), "US").as_ref(), Ok(&e164));
    }
}
