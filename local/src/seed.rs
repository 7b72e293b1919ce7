//! Fills the local stack's table as if leadsync had already applied GHL's contacts: for the
//! backfill's scale test and benchmark, where pushing tens of thousands of contacts through the
//! consumer first would take an hour of moto.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use leadsync::app::ghl_client;
use leadsync::aws::dynamo::DynamoStore;
use leadsync::domain::contact::{ContactKey, source_hash};
use leadsync::ports::remote::RemoteError;
use leadsync::ports::store::ContactState;
use leadsync::sources::ghl::client::GhlApi;
use leadsync::sources::ghl::search::{MAX_PAGE_LIMIT, SearchPage, SearchQuery};

use super::Stack;

/// Reads every page of the contacts the rules' tags select, the way a full backfill reads
/// them, with the stack's GHL client (its token, OAuth or not, and its rate limit).
pub async fn tagged_pages(stack: &Stack, mut each: impl FnMut(SearchPage)) -> Result<()> {
    let cfg = &stack.config;
    let location = location(stack)?;
    let ghl = ghl_client(
        cfg,
        reqwest::Client::new(),
        &aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.resources.table,
    )?;
    let mut query = SearchQuery::tagged(location, &cfg.rules.tags(), MAX_PAGE_LIMIT);
    loop {
        let mut page = search_waiting_out_429(&ghl, &query).await?;
        let next = page.next.take();
        each(page);
        match next {
            Some(next) => query.search_after = Some(next),
            None => return Ok(()),
        }
    }
}

/// One search page; a 429 (another client of the location spent the budget) is waited out as
/// GHL asks, the way the backfill waits, instead of failing a seeding that has read for minutes.
async fn search_waiting_out_429(ghl: &impl GhlApi, query: &SearchQuery) -> Result<SearchPage> {
    let mut waits = 0;
    loop {
        match ghl.search_contacts(query).await {
            Err(RemoteError::Transient {
                status: Some(429),
                retry_after,
                ..
            }) if waits < 30 => {
                waits += 1;
                tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(1))).await;
            }
            other => return Ok(other?),
        }
    }
}

fn location(stack: &Stack) -> Result<String> {
    stack
        .config
        .ghl
        .default_location_id
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the stack has no GHL_LOCATION_ID"))
}

/// Saves, for every contact the rules' tags select except those in `except`, the state the
/// consumer would have saved: read back the way the backfill reads them and hashed the same
/// way. Answers how many states were written. The hash is the backfill's own, so a later run
/// finds these contacts unchanged by construction: a figure measured over seeded states says so
/// where it is printed, and the consumer's agreement is checked end to end elsewhere.
pub async fn applied_states(stack: &Stack, except: &BTreeSet<&str>) -> Result<usize> {
    let location = location(stack)?;
    let fingerprint = stack.config.rules.fingerprint();
    let mut states = Vec::new();
    tagged_pages(stack, |page| {
        for f in page.contacts {
            if except.contains(f.id.as_str()) {
                continue;
            }
            let state = ContactState {
                version_ms: f.contact.version_ms,
                source_hash: Some(source_hash(&f.contact, &fingerprint)),
                read_at_ms: Some(leadsync::domain::clock::now_ms()),
                ..ContactState::default()
            };
            states.push((ContactKey::ghl(&location, &f.id), state));
        }
    })
    .await?;
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        &stack.resources.table,
    )
    .import_states(&states)
    .await?;
    Ok(states.len())
}
