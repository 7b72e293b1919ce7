//! CallTools as a sink: the HTTP client, field mapping, bucket/tag resolution and the upsert.

pub mod audit;
pub mod client;
pub mod placement;
pub mod plan;
pub mod sink;
pub mod target;
pub mod unconfirmed;
pub mod upsert;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::app::config::{CallToolsConfig, DuplicateMode};
use crate::domain::contact::Contact;
use crate::domain::rules::{BucketRef, Membership};
use crate::ports::breaker::{CallResult, CircuitBreaker, Permit};
use crate::ports::remote::RemoteError;
use crate::sinks::calltools::client::CallToolsApi;
use crate::sinks::calltools::placement::{Placement, PlacementStore};
use crate::sinks::calltools::plan::{FieldNames, contact_fields};
use crate::sinks::calltools::upsert::{Applied, ContactWrite, MembershipChange, upsert};

/// Membership resolved to CallTools ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedMembership {
    pub buckets: BTreeSet<i64>,
    pub tags: BTreeSet<i64>,
}

pub struct CallToolsSink {
    api: Arc<dyn CallToolsApi>,
    breaker: Option<Arc<CircuitBreaker>>,
    mode: DuplicateMode,
    field_names: FieldNames,
    /// Bucket and tag names resolve to ids once per cold start, not once per contact.
    bucket_ids: Mutex<Option<HashMap<String, i64>>>,
    tag_ids: Mutex<HashMap<String, i64>>,
    placement: PlacementMemory,
}

/// The account's placement method: read from the store once per cold start, then kept here.
struct PlacementMemory {
    store: Option<(Arc<dyn PlacementStore>, String)>,
    /// `None` until loaded; then the method known, if any.
    known: Mutex<Option<Option<Placement>>>,
}

impl CallToolsSink {
    pub fn new(api: Arc<dyn CallToolsApi>, cfg: &CallToolsConfig) -> Self {
        Self {
            api,
            breaker: None,
            mode: cfg.duplicate_mode,
            field_names: FieldNames {
                phone: cfg.phone_field.clone(),
                email: cfg.email_field.clone(),
            },
            bucket_ids: Mutex::new(None),
            tag_ids: Mutex::new(HashMap::new()),
            placement: PlacementMemory {
                store: None,
                known: Mutex::new(None),
            },
        }
    }

    /// Remembers the account's placement method in `store` under `account` (see
    /// [`placement::account_id`]), so a cold start does not learn it again.
    pub fn with_placement_store(mut self, store: Arc<dyn PlacementStore>, account: String) -> Self {
        self.placement.store = Some((store, account));
        self
    }

    async fn known_placement(&self) -> Option<Placement> {
        let mut known = self.placement.known.lock().await;
        if let Some(k) = *known {
            return k;
        }
        let loaded = match &self.placement.store {
            None => None,
            Some((store, account)) => match store.placement(account).await {
                Ok(k) => k,
                // Not knowing costs at most the inline attempt the write makes anyway.
                Err(e) => {
                    tracing::warn!(error = %e, "CallTools placement method not read; learning it again");
                    None
                }
            },
        };
        *known = Some(loaded);
        loaded
    }

    async fn learn(&self, method: Placement) {
        *self.placement.known.lock().await = Some(Some(method));
        metrics::counter!("calltools_placement_learned", "method" => method.as_str()).increment(1);
        tracing::info!(
            method = method.as_str(),
            "CallTools placement method learned"
        );
        if let Some((store, account)) = &self.placement.store
            && let Err(e) = store.save_placement(account, method).await
        {
            tracing::warn!(error = %e, "CallTools placement method not saved; kept for this cold start");
        }
    }

    pub async fn resolve(&self, m: &Membership) -> Result<ResolvedMembership, RemoteError> {
        let mut out = ResolvedMembership::default();
        for bucket in &m.buckets {
            out.buckets.insert(match bucket {
                BucketRef::Id(id) => *id,
                BucketRef::Name(name) => self.bucket_id(name).await?,
            });
        }
        for tag in &m.calltools_tags {
            out.tags.insert(self.tag_id(tag).await?);
        }
        Ok(out)
    }

    async fn bucket_id(&self, name: &str) -> Result<i64, RemoteError> {
        let mut cache = self.bucket_ids.lock().await;
        if cache.as_ref().is_none_or(|c| !c.contains_key(name)) {
            let listed = self.guarded(self.api.list_buckets()).await?;
            *cache = Some(listed.into_iter().map(|b| (b.name, b.id)).collect());
        }
        cache
            .as_ref()
            .and_then(|c| c.get(name).copied())
            .ok_or_else(|| RemoteError::Permanent {
                service: "CallTools",
                reason: format!(
                    "bucket {name:?} does not exist in CallTools; create it or fix LEADSYNC_RULES"
                ),
                status: None,
                excerpt: String::new(),
            })
    }

    async fn tag_id(&self, name: &str) -> Result<i64, RemoteError> {
        let mut cache = self.tag_ids.lock().await;
        if let Some(id) = cache.get(name) {
            return Ok(*id);
        }
        let id = match self.guarded(self.api.find_tag(name)).await? {
            Some(id) => id,
            None => self.guarded(self.api.create_tag(name)).await?,
        };
        cache.insert(name.to_string(), id);
        Ok(id)
    }

    /// The contact's CallTools fields: non-empty values only.
    pub fn fields(&self, contact: &Contact, e164: &str) -> Map<String, Value> {
        contact_fields(&self.field_names, contact, e164)
    }

    /// The account's fields for the phone and the email.
    pub fn field_names(&self) -> &FieldNames {
        &self.field_names
    }

    pub async fn upsert(&self, write: &ContactWrite) -> Result<Applied, RemoteError> {
        let known = self.known_placement().await;
        let applied = self
            .guarded(upsert(self.api.as_ref(), self.mode, known, write))
            .await?;
        if let Some(method) = applied.learned {
            self.learn(method).await;
        }
        Ok(applied)
    }

    /// The id of a CallTools contact carrying `e164`, if any (a lookup that works whatever the
    /// account's duplicate handling).
    pub async fn find_existing(&self, e164: &str) -> Result<Option<i64>, RemoteError> {
        let found = self.guarded(self.api.find_by_phone(e164)).await?;
        Ok(found.iter().find(|c| c.has_phone(e164)).map(|c| c.id))
    }

    /// Puts a circuit breaker around every CallTools call of this sink.
    pub fn with_breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Runs `call` unless the circuit is open, and tells the breaker how it went. A 4xx counts
    /// as an answer: CallTools is up, the request was wrong.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        let Some(breaker) = &self.breaker else {
            return call.await;
        };
        let permit = breaker.permit().await;
        if let Permit::Denied { retry_after } = permit {
            return Err(RemoteError::CircuitOpen {
                service: "CallTools",
                retry_after,
            });
        }
        let result = call.await;
        let seen = match &result {
            Err(e) if e.is_transient() => CallResult::Unavailable,
            _ => CallResult::Answered,
        };
        match (breaker.record(permit, seen).await, result) {
            (Some(retry_after), Err(cause)) => Err(RemoteError::CircuitOpened {
                cause: Box::new(cause),
                retry_after,
            }),
            (_, result) => result,
        }
    }

    /// Takes a mapped contact out of buckets/tags, confirmed like any write, setting `fields`
    /// (e.g. `do_not_contact`) in the same call; a contact already gone from CallTools has
    /// nothing left to remove. Returns the calls spent.
    pub async fn remove_membership(
        &self,
        id: i64,
        fields: &Map<String, Value>,
        change: &MembershipChange,
    ) -> Result<u32, RemoteError> {
        let known = self.known_placement().await;
        let removed = self
            .guarded(upsert::remove_membership(
                self.api.as_ref(),
                known,
                id,
                fields,
                change,
            ))
            .await?;
        match removed {
            Some(applied) => {
                if let Some(method) = applied.learned {
                    self.learn(method).await;
                }
                Ok(applied.calls)
            }
            None => Ok(1),
        }
    }
}

/// CallTools rejects a whole contact for a bad email (research §5.7); an email that cannot be
/// right is left out so the lead still becomes dialable.
pub fn plausible_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_emails_are_recognised() {
        assert!(plausible_email("john@example.com"));
        assert!(!plausible_email("Osmolinskathy12@gmal..com"));
        assert!(!plausible_email("john@localhost"));
        assert!(!plausible_email("john doe@example.com"));
        assert!(!plausible_email("@example.com"));
        assert!(!plausible_email("a@b@c.com"));
    }
}
