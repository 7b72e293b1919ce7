//! Fills the local stack's table as if leadsync had already applied GHL's contacts: for the
//! backfill's scale test and benchmark, where pushing tens of thousands of contacts through the
//! consumer first would take an hour of moto.

use std::collections::BTreeSet;

use anyhow::Result;
use leadsync::contact::{ContactKey, source_hash};
use leadsync::ghl::client::{GhlApi, GhlClient};
use leadsync::ghl::search::{SearchQuery, any_tag_filter};
use leadsync::store::ContactState;
use leadsync::store::dynamo::DynamoStore;

use super::Stack;

/// Saves, for every contact the rules' tags select except those in `except`, the state the
/// consumer would have saved: read back the way the backfill reads them and hashed the same
/// way. Answers how many states were written.
pub async fn applied_states(stack: &Stack, except: &BTreeSet<&str>) -> Result<usize> {
    let cfg = &stack.config;
    let location = cfg
        .ghl
        .default_location_id
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the stack has no GHL_LOCATION_ID"))?;
    let ghl = GhlClient::new(
        reqwest::Client::new(),
        cfg.ghl.api_base_url.clone(),
        cfg.ghl.api_token.require("GHL_API_TOKEN")?.clone(),
    );
    let fingerprint = cfg.rules.fingerprint();
    let mut query = SearchQuery {
        location_id: location.clone(),
        page_limit: leadsync::ghl::search::MAX_PAGE_LIMIT,
        filters: any_tag_filter(&cfg.rules.tags()).into_iter().collect(),
        search_after: None,
    };
    let mut states = Vec::new();
    loop {
        let page = ghl.search_contacts(&query).await?;
        for f in page.contacts {
            if except.contains(f.id.as_str()) {
                continue;
            }
            let state = ContactState {
                version_ms: f.contact.version_ms,
                source_hash: Some(source_hash(&f.contact, &fingerprint)),
                read_at_ms: Some(leadsync::clock::now_ms()),
                ..ContactState::default()
            };
            states.push((ContactKey::ghl(&location, &f.id), state));
        }
        match page.next {
            Some(next) => query.search_after = Some(next),
            None => break,
        }
    }
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.resources.table,
    )
    .import_states(&states)
    .await?;
    Ok(states.len())
}
