//! The Messenger / Instagram side of the backfill: `GET /{page-id}/conversations?platform=…`
//! newest first, one candidate per person in each thread. A conversation counts as changed when
//! leadsync has no conversation for that person or stored less recent activity than Meta shows:
//! a message the webhooks missed. The consumer then stores the contact, the conversation id and
//! the most recent messages (Meta exposes only the 20 most recent in detail).
//!
//! After a run: leadsync's app's subscription to the Page is checked (Meta unsubscribes an app
//! whose endpoint failed for an hour, silently), and contacts whose profile is missing or older
//! than the configured age are sent for a profile refresh.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;

use crate::backfill::{BackfillError, Candidate, Fetched, Run, Scan, Scope};
use crate::domain::clock::now_ms;
use crate::domain::job::{Origin, SyncJob};
use crate::ports::remote::RemoteError;
use crate::sources::meta::Channel;
use crate::sources::meta::event::{EventKind, MetaEvent};
use crate::sources::meta::graph::GraphApi;
use crate::sources::meta::job::MetaJob;
use crate::sources::meta::store::MetaStore;
use crate::sources::meta::subscription;

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
    /// leadsync's Meta app, looked for among the apps subscribed to the Page.
    app_id: Option<String>,
    profile_max_age: Duration,
}

/// Where a scan reads from: the Page, the account whose contacts it finds, and leadsync's app.
pub struct MetaAccount {
    pub channel: Channel,
    pub page_id: String,
    pub account_id: String,
    pub app_id: Option<String>,
}

impl MetaScan {
    pub fn new(
        graph: Arc<dyn GraphApi>,
        store: Arc<dyn MetaStore>,
        account: MetaAccount,
        profile_max_age: Duration,
    ) -> Self {
        Self {
            graph,
            store,
            channel: account.channel,
            page_id: account.page_id,
            account_id: account.account_id,
            app_id: account.app_id,
            profile_max_age,
        }
    }

    /// Reads the Page's subscriptions; the gauge and the run's warnings say what they mean for
    /// leadsync's app.
    async fn check_subscription(&self, run: &mut Run) {
        let apps = match self.graph.subscribed_apps(&self.page_id).await {
            Ok(apps) => apps,
            Err(e) => {
                run.warnings.push(format!(
                    "the Page's webhook subscription could not be checked: {e}"
                ));
                return;
            }
        };
        let health = subscription::health(self.app_id.as_deref(), apps);
        metrics::gauge!("meta_subscribed", "source" => self.name()).set(health.gauge());
        if let Some(warning) = health.warning(&self.page_id, self.app_id.as_deref()) {
            tracing::error!(page = %self.page_id, status = health.status(), "{warning}");
            run.warnings.push(warning);
        }
    }

    fn job(&self, user_id: &str, at_ms: i64, job_id: String, kind: EventKind) -> SyncJob {
        SyncJob::new(MetaJob {
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
    fn name(&self) -> &'static str {
        self.channel.source().as_str()
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
        self.check_subscription(run).await;
        let older_than = now_ms() - self.profile_max_age.as_millis() as i64;
        let stale = self
            .store
            .stale_profiles(self.channel, &self.account_id, older_than, REFRESH_PER_RUN)
            .await?;
        metrics::gauge!("meta_enrichment_backlog", "source" => self.name()).set(stale.len() as f64);
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
