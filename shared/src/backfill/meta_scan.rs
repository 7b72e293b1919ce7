//! The Messenger / Instagram side of the backfill: `GET /{page-id}/conversations?platform=…`
//! newest first, one candidate per person in each thread. A conversation counts as changed when
//! leadsync has no conversation for that person or stored less recent activity than Meta shows:
//! a message the webhooks missed. The consumer then stores the contact, the conversation id and
//! the most recent messages (Meta exposes only the 20 most recent in detail).
//!
//! After a run: the app's subscription to the Page is checked (Meta unsubscribes an app whose
//! endpoint failed for an hour, silently), and contacts whose profile is missing or older than
//! the configured age are sent for a profile refresh.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;

use super::{BackfillError, Candidate, Fetched, Run, Scan, Scope};
use crate::clock::now_ms;
use crate::job::{MetaJob, Origin, SyncJob};
use crate::meta::Channel;
use crate::meta::event::{EventKind, MetaEvent};
use crate::meta::graph::GraphApi;
use crate::meta::store::MetaStore;
use crate::remote::RemoteError;

/// How many contacts one run sends for a profile refresh at most: profiles are not rate limited
/// like conversations, but a first run on a large Page should not flood the queue.
const REFRESH_PER_RUN: usize = 1_000;

pub struct MetaScan {
    graph: Arc<dyn GraphApi>,
    store: Arc<dyn MetaStore>,
    channel: Channel,
    /// The Page: conversations of both channels are read through it.
    page_id: String,
    /// The Page for Messenger, the Instagram account for Instagram: whose contacts these are.
    account_id: String,
    profile_max_age: Duration,
}

impl MetaScan {
    pub fn new(
        graph: Arc<dyn GraphApi>,
        store: Arc<dyn MetaStore>,
        channel: Channel,
        page_id: String,
        account_id: String,
        profile_max_age: Duration,
    ) -> Self {
        Self {
            graph,
            store,
            channel,
            page_id,
            account_id,
            profile_max_age,
        }
    }

    fn job(&self, user_id: &str, at_ms: i64, job_id: String, kind: EventKind) -> SyncJob {
        SyncJob::Meta(MetaJob {
            job_id,
            event: MetaEvent {
                channel: self.channel,
                account_id: self.account_id.clone(),
                user_id: user_id.to_string(),
                timestamp_ms: at_ms,
                standby: false,
                kind,
            },
            received_at_ms: now_ms(),
            origin: Origin::Backfill,
            payload: String::new(),
        })
    }
}

#[async_trait]
impl Scan for MetaScan {
    fn source(&self) -> &'static str {
        self.channel.as_str()
    }

    fn account(&self) -> &str {
        &self.account_id
    }

    async fn fetch(&self, run: &Run) -> Result<Fetched, RemoteError> {
        let after = run.cursor.as_ref().and_then(Value::as_str);
        let page = self
            .graph
            .conversations(&self.page_id, self.channel, after)
            .await?;
        // Newest first: an incremental run stops at the first thread older than its window.
        let since = match run.scope {
            Scope::Since => run.since_ms.unwrap_or(0),
            Scope::Full => i64::MIN,
        };
        let reached_older = page.conversations.iter().any(|c| c.updated_ms < since);
        let mut candidates = Vec::new();
        for c in page.conversations.iter().filter(|c| c.updated_ms >= since) {
            for p in &c.participants {
                if p.id == self.page_id || p.id == self.account_id {
                    continue;
                }
                let kind = EventKind::Conversation {
                    conversation_id: c.id.clone(),
                    name: p.name.clone(),
                    username: p.username.clone(),
                    messages: c.messages.clone(),
                };
                candidates.push(Candidate {
                    key: self.channel.contact_key(&self.account_id, &p.id),
                    fingerprint: c.updated_ms.to_string(),
                    // The same thread at the same activity is the same job, however often a
                    // resumed run sends it.
                    job: self.job(
                        &p.id,
                        c.updated_ms,
                        format!("bf:{}:{}:{}", self.channel.as_str(), c.id, c.updated_ms),
                        kind,
                    ),
                });
            }
        }
        Ok(Fetched {
            candidates,
            next: page.after.filter(|_| !reached_older).map(Value::String),
            total: None,
        })
    }

    async fn changed(&self, candidates: Vec<Candidate>) -> Result<Vec<SyncJob>, BackfillError> {
        let store = &self.store;
        let looks = futures::stream::iter(candidates)
            .map(|c| async move {
                let stored = store.conversation(&c.key).await?;
                let updated: i64 = c.fingerprint.parse().unwrap_or(i64::MAX);
                // Graph's updated_time has whole seconds; a webhook's timestamp has the ms.
                let behind = stored.is_none_or(|s| s.last_activity_ms / 1000 < updated / 1000);
                Ok::<_, BackfillError>(behind.then_some(c.job))
            })
            .buffered(16)
            .collect::<Vec<_>>()
            .await;
        looks.into_iter().filter_map(Result::transpose).collect()
    }

    async fn after_run(&self, run: &mut Run) -> Result<Vec<SyncJob>, BackfillError> {
        match self.graph.subscribed_fields(&self.page_id).await {
            Ok(fields) if fields.iter().any(|f| f == "messages") => {
                metrics::gauge!("meta_subscribed", "source" => self.source()).set(1.0);
            }
            Ok(fields) => {
                metrics::gauge!("meta_subscribed", "source" => self.source()).set(0.0);
                let warning = unsubscribed_warning(&self.page_id, &fields);
                tracing::error!(page = %self.page_id, "{warning}");
                run.warnings.push(warning);
            }
            Err(e) => run.warnings.push(format!(
                "the Page's webhook subscription could not be checked: {e}"
            )),
        }
        let older_than = now_ms() - self.profile_max_age.as_millis() as i64;
        let stale = self
            .store
            .stale_profiles(self.channel, &self.account_id, older_than, REFRESH_PER_RUN)
            .await?;
        metrics::gauge!("meta_enrichment_backlog", "source" => self.source())
            .set(stale.len() as f64);
        let today = now_ms() / 86_400_000;
        Ok(stale
            .iter()
            .map(|user| {
                let job_id = format!(
                    "bf:refresh:{}:{}:{user}:{today}",
                    self.channel.as_str(),
                    self.account_id
                );
                self.job(user, now_ms(), job_id, EventKind::RefreshProfile)
            })
            .collect())
    }
}

/// What an operator needs to read when Meta has dropped the app's subscription.
pub fn unsubscribed_warning(page_id: &str, fields: &[String]) -> String {
    if fields.is_empty() {
        format!(
            "Meta has unsubscribed the app from Page {page_id}: no webhooks arrive. Subscribe it again with POST /{page_id}/subscribed_apps?subscribed_fields=messages,messaging_postbacks,message_echoes,message_deliveries,message_reads,message_reactions,message_edits (a Page token with pages_manage_metadata)"
        )
    } else {
        format!(
            "the app is subscribed to Page {page_id} without `messages` (fields: {}): new messages do not arrive",
            fields.join(",")
        )
    }
}
