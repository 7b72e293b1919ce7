//! The GoHighLevel side of the backfill: `POST /contacts/search` pages (the rules' tags for a
//! full run, `dateUpdated` for an incremental one), and a contact counts as changed when its
//! source hash differs from the one leadsync saved when it last applied it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::backfill::{BackfillError, Candidate, Fetched, Run, Scan, Scope};
use crate::domain::clock::now_ms;
use crate::domain::contact::{ContactKey, source_hash};
use crate::domain::job::SyncJob;
use crate::domain::rules::Rules;
use crate::domain::source::Source;
use crate::ports::remote::RemoteError;
use crate::ports::store::StateStore;
use crate::sources::ghl::client::GhlApi;
use crate::sources::ghl::job::{GhlContactJob, GhlTrigger};
use crate::sources::ghl::search::{SearchQuery, updated_since_filter};

pub struct GhlScan {
    ghl: Arc<dyn GhlApi>,
    states: Arc<dyn StateStore>,
    rules: Rules,
    rules_fingerprint: String,
    location_id: String,
    page_limit: u32,
}

impl GhlScan {
    pub fn new(
        ghl: Arc<dyn GhlApi>,
        states: Arc<dyn StateStore>,
        rules: Rules,
        location_id: String,
        page_limit: u32,
    ) -> Self {
        Self {
            ghl,
            states,
            rules_fingerprint: rules.fingerprint(),
            rules,
            location_id,
            page_limit,
        }
    }

    fn query(&self, run: &Run) -> SearchQuery {
        let (location, limit) = (&self.location_id, self.page_limit);
        let mut query = match run.scope {
            Scope::Full => SearchQuery::tagged(location, &self.rules.tags(), limit),
            Scope::Since => SearchQuery::new(
                location,
                vec![updated_since_filter(run.since_ms.unwrap_or(0))],
                limit,
            ),
        };
        query.search_after = run.cursor.clone();
        query
    }
}

#[async_trait]
impl Scan for GhlScan {
    fn name(&self) -> &'static str {
        Source::Ghl.as_str()
    }

    fn account(&self) -> &str {
        &self.location_id
    }

    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError> {
        let page = self.ghl.search_contacts(&self.query(run)).await?;
        let now = now_ms();
        let location = &self.location_id;
        let candidates = page
            .contacts
            .into_iter()
            .map(|f| {
                let version = f.contact.version_ms.unwrap_or(0);
                let fingerprint = source_hash(&f.contact, &self.rules_fingerprint);
                Candidate {
                    key: ContactKey::ghl(location, &f.id),
                    job: SyncJob::new(GhlContactJob {
                        job_id: backfill_job_id(location, &f.id, version, &fingerprint),
                        location_id: location.clone(),
                        contact_id: f.id,
                        trigger: GhlTrigger::Backfill,
                        version_ms: f.contact.version_ms,
                        received_at_ms: now,
                        arrival: None,
                        payload: String::new(),
                    }),
                    fingerprint,
                }
            })
            .collect::<Vec<_>>();
        // A full last page still carries a cursor; when the run will have seen exactly as many
        // contacts as GHL says match, the empty page after it is not worth a call.
        let seen = run.seen + candidates.len() as u64;
        let next = page.next.filter(|_| page.total != Some(seen));
        Ok(Fetched {
            candidates,
            next,
            total: page.total,
        })
    }

    async fn changed(&self, candidates: Vec<Candidate>) -> Result<Vec<SyncJob>, BackfillError> {
        let keys: Vec<ContactKey> = candidates.iter().map(|c| c.key.clone()).collect();
        let applied = self.states.source_hashes(&keys).await?;
        Ok(candidates
            .into_iter()
            .filter(|c| applied.get(&c.key.storage_id()) != Some(&c.fingerprint))
            .map(|c| c.job)
            .collect())
    }
}

/// The same contact, in the same state, under the same rules is the same job, however often a
/// resumed run sends it. The fingerprint ([`source_hash`]: the fields leadsync reads and the
/// rules' fingerprint) is part of it, so a rules change — or a change GHL made without moving
/// `dateUpdated`, such as DND — is a new job, not a duplicate of the one applied before it.
fn backfill_job_id(location: &str, contact_id: &str, version_ms: i64, fingerprint: &str) -> String {
    format!("bf:{location}:{contact_id}:{version_ms}:{fingerprint}")
}
