//! The token GHL API calls carry: a Private Integration Token as configured, or an OAuth access
//! token refreshed before it expires (research/ghl_calltools.md §4).
//!
//! An OAuth refresh spends the refresh token: GHL answers a new one and the old one stops
//! working. A rotated refresh token that is not saved locks leadsync out until someone authorises
//! the app again. So a refresh is done by one invocation at a time (a lease on the stored tokens),
//! and its result is saved — conditional on the version it read — before the new access token is
//! sent anywhere. An invocation that finds the lease taken waits and reads what the other saved.
//!
//! The lease must outlive the token call, or a second invocation could send the same refresh
//! token while the first still waits for its answer: the call is bounded by
//! [`OAuthSettings::call_timeout`], and the lease lasts that long plus a margin. A refresh that
//! the invocation's end could cut short would spend the refresh token and lose its successor, so
//! none starts without a lease's worth of time left in the invocation ([`crate::support::invocation`]).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::domain::clock::{Clock, WallClock};
use crate::ports::remote::RemoteError;
use crate::ports::store::StoreError;
use crate::support::secret::Secret;

const SERVICE: &str = "GoHighLevel OAuth";

/// Where a GHL client gets the token for its next call.
#[async_trait]
pub trait AccessToken: Send + Sync {
    /// The token to send now.
    async fn current(&self) -> Result<Secret, RemoteError>;
    /// GHL answered 401 to `token`: the next `current` must not hand it out again. `true` when
    /// another token may be had, so the request is worth sending once more.
    async fn refused(&self, token: &Secret) -> bool;
}

/// A Private Integration Token: static until someone rotates it in GHL's settings.
pub struct StaticToken(pub Secret);

#[async_trait]
impl AccessToken for StaticToken {
    async fn current(&self) -> Result<Secret, RemoteError> {
        Ok(self.0.clone())
    }

    async fn refused(&self, _token: &Secret) -> bool {
        false
    }
}

/// The OAuth tokens of one location as stored, with the version every save increments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub access_token: Option<Secret>,
    pub refresh_token: Secret,
    pub expires_at_ms: i64,
    pub version: u64,
    /// A digest of the configured refresh token the chain started from.
    pub seed_hash: String,
    /// GHL refused the refresh token: only a newly configured one (the app authorised again)
    /// can start a new chain. A warm invocation still holding an older configuration never
    /// replaces a working chain.
    pub broken: bool,
}

/// The digest that tells one configured refresh token from another, without keeping it.
pub fn seed_hash(seed: &Secret) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, seed.expose().as_bytes());
    hex::encode(&d.as_ref()[..16])
}

/// The durable home of the tokens, shared by every invocation.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn load(&self, account: &str) -> Result<Option<StoredTokens>, StoreError>;
    /// Writes a chain started from a configured refresh token, if the stored tokens are still
    /// at version `replacing` and broken (`None`: if there are none).
    async fn start_chain(
        &self,
        account: &str,
        tokens: &StoredTokens,
        replacing: Option<u64>,
    ) -> Result<bool, StoreError>;
    /// Takes the refresh lease until `until_ms`, if the tokens are still at `version` and nobody
    /// holds a lease that is unexpired at `now_ms`.
    async fn claim_refresh(
        &self,
        account: &str,
        version: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Saves rotated tokens as `version + 1` and frees the lease, if still at `version`.
    async fn save(
        &self,
        account: &str,
        tokens: &StoredTokens,
        version: u64,
    ) -> Result<bool, StoreError>;
    /// Marks `access_token` expired if it is still the stored one. Neither the version nor the
    /// lease changes: a refresh under way must still be able to save what it rotated.
    async fn expire_access(&self, account: &str, access_token: &Secret) -> Result<(), StoreError>;
}

/// What the token endpoint answers to a refresh.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_in: Duration,
}

/// `POST /oauth/token` with `grant_type=refresh_token`.
#[async_trait]
pub trait TokenEndpoint: Send + Sync {
    async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RemoteError>;
}

/// GHL's token endpoint (`application/x-www-form-urlencoded`, §4).
pub struct GhlTokenEndpoint {
    pub http: reqwest::Client,
    pub base_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

#[async_trait]
impl TokenEndpoint for GhlTokenEndpoint {
    async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RemoteError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("user_type", "Location"),
        ];
        let resp = self
            .http
            .post(format!("{}/oauth/token", self.base_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        let status = resp.status().as_u16();
        let wait = crate::ports::remote::retry_after(resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        if status != 200 {
            return Err(token_error(status, wait, &text));
        }
        // The answer holds secrets: an unreadable one is reported without its text.
        let a: TokenAnswer = serde_json::from_str(&text).map_err(|e| RemoteError::Permanent {
            service: SERVICE,
            reason: format!(
                "unreadable token answer: {}",
                crate::ports::remote::json_error(&e)
            ),
            status: Some(200),
            excerpt: String::new(),
        })?;
        Ok(Grant {
            access_token: Secret::new(a.access_token),
            refresh_token: Secret::new(a.refresh_token),
            expires_in: Duration::from_secs(a.expires_in),
        })
    }
}

/// A refused refresh. `invalid_grant` (RFC 6749 §5.2) says the refresh token itself is spent or
/// revoked, whatever the status: the chain is broken. Anything else is classified as any answer
/// is — a 401 `invalid_client` is a refusal of the client credentials, which leaves the refresh
/// token unspent, so jobs wait for someone to fix them.
pub fn token_error(status: u16, wait: Option<Duration>, body: &str) -> RemoteError {
    let error = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned));
    if error.as_deref() == Some("invalid_grant") {
        return RemoteError::Permanent {
            service: SERVICE,
            reason: format!("HTTP {status}: invalid_grant"),
            status: Some(status),
            excerpt: crate::ports::remote::excerpt(body),
        };
    }
    RemoteError::from_status(SERVICE, status, wait, body)
}

/// How an OAuth token is kept fresh.
#[derive(Debug, Clone, Copy)]
pub struct OAuthSettings {
    /// Refresh this long before the access token expires (GHL's own SDK uses 30 s).
    pub refresh_margin: Duration,
    /// The longest a token call may take; the token endpoint's HTTP client uses it too.
    pub call_timeout: Duration,
    /// How much longer than the call the lease lasts: the save after it, and clock differences
    /// between execution environments.
    pub lease_margin: Duration,
    /// How long an invocation waits for another one's refresh before giving up for now.
    pub wait_for_other: Duration,
}

impl OAuthSettings {
    /// How long a refresh holds the lease: always longer than its call can take.
    pub fn lease(&self) -> Duration {
        self.call_timeout + self.lease_margin
    }

    /// Whether a refresh may start at `now_ms` in an invocation that ends at `deadline_ms`
    /// (`None`: outside one): only with the whole lease still ahead, so the invocation cannot
    /// end between spending the refresh token and saving its successor.
    pub fn may_start_refresh(&self, now_ms: i64, deadline_ms: Option<i64>) -> bool {
        deadline_ms.is_none_or(|d| d - now_ms >= self.lease().as_millis() as i64)
    }
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(300),
            call_timeout: Duration::from_secs(30),
            lease_margin: Duration::from_secs(10),
            wait_for_other: Duration::from_secs(25),
        }
    }
}

/// OAuth access tokens for one location, refreshed through the store's lease.
pub struct OAuthToken {
    account: String,
    store: std::sync::Arc<dyn TokenStore>,
    endpoint: std::sync::Arc<dyn TokenEndpoint>,
    seed: Option<Secret>,
    settings: OAuthSettings,
    clock: std::sync::Arc<dyn Clock>,
    cached: Mutex<Option<(Secret, i64)>>,
}

impl OAuthToken {
    pub fn new(
        account: impl Into<String>,
        store: std::sync::Arc<dyn TokenStore>,
        endpoint: std::sync::Arc<dyn TokenEndpoint>,
        seed: Option<Secret>,
        settings: OAuthSettings,
    ) -> Self {
        Self {
            account: account.into(),
            store,
            endpoint,
            seed,
            settings,
            clock: std::sync::Arc::new(WallClock),
            cached: Mutex::new(None),
        }
    }

    /// Reads the time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn fresh(&self, expires_at_ms: i64) -> bool {
        expires_at_ms - self.settings.refresh_margin.as_millis() as i64 > self.now_ms()
    }

    fn cache(&self, token: &Secret, expires_at_ms: i64) {
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((token.clone(), expires_at_ms));
        }
    }

    /// The stored tokens, after starting the chain from the configured refresh token where
    /// there is none, or where the stored one is broken and started from another token (the app
    /// was authorised again). A warm invocation holding an older configuration never replaces a
    /// working chain.
    async fn stored(&self) -> Result<StoredTokens, RemoteError> {
        let loaded = self.store.load(&self.account).await.map_err(store_error)?;
        let (seed, replacing) = match (&self.seed, loaded) {
            (Some(seed), Some(t)) if t.broken && t.seed_hash != seed_hash(seed) => {
                (seed, Some(t.version))
            }
            (_, Some(t)) => return Ok(t),
            (Some(seed), None) => (seed, None),
            (None, None) => {
                return Err(RemoteError::Permanent {
                    service: SERVICE,
                    reason: format!(
                        "no OAuth tokens are stored for location {} and no GHL_OAUTH_REFRESH_TOKEN is configured to start from",
                        self.account
                    ),
                    status: None,
                    excerpt: String::new(),
                });
            }
        };
        let chain = StoredTokens {
            access_token: None,
            refresh_token: seed.clone(),
            expires_at_ms: 0,
            version: replacing.map_or(0, |v| v + 1),
            seed_hash: seed_hash(seed),
            broken: false,
        };
        if self
            .store
            .start_chain(&self.account, &chain, replacing)
            .await
            .map_err(store_error)?
        {
            return Ok(chain);
        }
        // Another invocation seeded or rotated first: what it stored is what to use.
        self.store
            .load(&self.account)
            .await
            .map_err(store_error)?
            .ok_or_else(|| store_error(StoreError::permanent("the stored tokens vanished")))
    }

    /// Refreshes the stored tokens at `version`, or waits for whoever holds the lease.
    async fn refresh_or_wait(&self, stored: &StoredTokens) -> Result<Option<Secret>, RemoteError> {
        let now = self.now_ms();
        if !self
            .settings
            .may_start_refresh(now, crate::support::invocation::deadline_ms())
        {
            return self.without_refresh(stored, now).map(Some);
        }
        let until = now + self.settings.lease().as_millis() as i64;
        if !self
            .store
            .claim_refresh(&self.account, stored.version, now, until)
            .await
            .map_err(store_error)?
        {
            return Ok(None);
        }
        let call = self.endpoint.refresh(&stored.refresh_token);
        let answer = tokio::time::timeout(self.settings.call_timeout, call)
            .await
            .unwrap_or_else(|_| {
                // The lease is kept until it expires: the endpoint may still spend the token.
                Err(RemoteError::Transient {
                    service: SERVICE,
                    reason: format!(
                        "the token endpoint did not answer within {} s",
                        self.settings.call_timeout.as_secs()
                    ),
                    status: None,
                    retry_after: None,
                })
            });
        let grant = match answer {
            Ok(g) => g,
            Err(RemoteError::Permanent {
                status, excerpt, ..
            }) => {
                let broken = StoredTokens {
                    broken: true,
                    ..stored.clone()
                };
                if let Err(e) = self
                    .store
                    .save(&self.account, &broken, stored.version)
                    .await
                {
                    tracing::warn!(error = %e, "could not mark the GHL token chain broken");
                }
                return Err(RemoteError::Permanent {
                    service: SERVICE,
                    reason: format!(
                        "GHL refused the stored refresh token (HTTP {}): it was spent or revoked; authorise the app again and configure the new refresh token as GHL_OAUTH_REFRESH_TOKEN",
                        status.map_or("-".into(), |s| s.to_string())
                    ),
                    status,
                    excerpt,
                });
            }
            Err(e) => return Err(e),
        };
        let rotated = StoredTokens {
            access_token: Some(grant.access_token.clone()),
            refresh_token: grant.refresh_token,
            expires_at_ms: self.now_ms() + grant.expires_in.as_millis() as i64,
            version: stored.version + 1,
            seed_hash: stored.seed_hash.clone(),
            broken: false,
        };
        // Saved before the new access token is used anywhere: the old refresh token is spent.
        if !self
            .store
            .save(&self.account, &rotated, stored.version)
            .await
            .map_err(store_error)?
        {
            tracing::error!(
                account = %self.account,
                "the rotated GHL refresh token could not be saved: the stored tokens changed during the refresh lease"
            );
            return Err(RemoteError::Permanent {
                service: SERVICE,
                reason: "the rotated refresh token could not be saved".into(),
                status: None,
                excerpt: String::new(),
            });
        }
        metrics::counter!("ghl_token_refreshes").increment(1);
        tracing::info!(account = %self.account, version = rotated.version, "GHL OAuth tokens rotated and saved");
        self.cache(&grant.access_token, rotated.expires_at_ms);
        Ok(Some(grant.access_token))
    }

    /// Too little of the invocation is left to refresh safely: the stored access token while it
    /// still works (it is only inside the refresh margin), else a wait for the next invocation.
    fn without_refresh(&self, stored: &StoredTokens, now: i64) -> Result<Secret, RemoteError> {
        match &stored.access_token {
            Some(token) if stored.expires_at_ms > now => Ok(token.clone()),
            _ => Err(RemoteError::Transient {
                service: SERVICE,
                reason: format!(
                    "too little of this invocation is left to refresh the GHL token safely (a refresh needs {} s)",
                    self.settings.lease().as_secs()
                ),
                status: None,
                retry_after: Some(Duration::from_secs(1)),
            }),
        }
    }
}

#[async_trait]
impl AccessToken for OAuthToken {
    async fn current(&self) -> Result<Secret, RemoteError> {
        if let Ok(c) = self.cached.lock()
            && let Some((token, expires)) = c.as_ref()
            && self.fresh(*expires)
        {
            return Ok(token.clone());
        }
        let give_up = self.now_ms() + self.settings.wait_for_other.as_millis() as i64;
        loop {
            let stored = self.stored().await?;
            if let Some(token) = &stored.access_token
                && self.fresh(stored.expires_at_ms)
            {
                self.cache(token, stored.expires_at_ms);
                return Ok(token.clone());
            }
            if let Some(token) = self.refresh_or_wait(&stored).await? {
                return Ok(token);
            }
            if self.now_ms() > give_up {
                return Err(RemoteError::Transient {
                    service: SERVICE,
                    reason: "another invocation is refreshing the GHL token".into(),
                    status: None,
                    retry_after: Some(Duration::from_secs(5)),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn refused(&self, token: &Secret) -> bool {
        if let Ok(mut c) = self.cached.lock()
            && c.as_ref().is_some_and(|(t, _)| t == token)
        {
            *c = None;
        }
        // A token GHL refused before its time (revoked, or the app re-installed): marked expired
        // so the next call refreshes instead of reading it back from the store.
        if let Err(e) = self.store.expire_access(&self.account, token).await {
            tracing::warn!(error = %e, "could not mark the refused GHL access token expired");
        }
        true
    }
}

fn store_error(e: StoreError) -> RemoteError {
    RemoteError::Transient {
        service: SERVICE,
        reason: format!("token store: {e}"),
        status: None,
        retry_after: None,
    }
}

/// Tokens in memory, for tests.
#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<Tokens>,
}

type Tokens = std::collections::HashMap<String, (StoredTokens, i64)>;

impl MemoryTokenStore {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tokens>, StoreError> {
        self.tokens
            .lock()
            .map_err(|_| StoreError::permanent("token store lock poisoned"))
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, account: &str) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.lock()?.get(account).map(|(t, _)| t.clone()))
    }

    async fn start_chain(
        &self,
        account: &str,
        tokens: &StoredTokens,
        replacing: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut all = self.lock()?;
        let free = match (all.get(account), replacing) {
            (None, None) => true,
            (Some((t, _)), Some(v)) => t.broken && t.version == v,
            _ => false,
        };
        if !free {
            return Ok(false);
        }
        all.insert(account.to_string(), (tokens.clone(), 0));
        Ok(true)
    }

    async fn claim_refresh(
        &self,
        account: &str,
        version: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut all = self.lock()?;
        match all.get_mut(account) {
            Some((t, lease)) if t.version == version && *lease < now_ms => {
                *lease = until_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn save(
        &self,
        account: &str,
        tokens: &StoredTokens,
        version: u64,
    ) -> Result<bool, StoreError> {
        let mut all = self.lock()?;
        match all.get_mut(account) {
            Some((t, lease)) if t.version == version => {
                *t = StoredTokens {
                    version: version + 1,
                    ..tokens.clone()
                };
                *lease = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn expire_access(&self, account: &str, access_token: &Secret) -> Result<(), StoreError> {
        if let Some((t, _)) = self.lock()?.get_mut(account)
            && t.access_token.as_ref() == Some(access_token)
        {
            t.expires_at_ms = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// GHL's token endpoint: each refresh token works once and is replaced the moment the
    /// request arrives; the answer comes `delay` later.
    struct RotatingEndpoint {
        current: Mutex<String>,
        calls: AtomicU32,
        refused: AtomicU32,
        delay: Duration,
    }

    impl RotatingEndpoint {
        fn new(first: &str) -> Arc<Self> {
            Self::slow(first, Duration::from_millis(50))
        }

        fn slow(first: &str, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                current: Mutex::new(first.into()),
                calls: AtomicU32::new(0),
                refused: AtomicU32::new(0),
                delay,
            })
        }
    }

    #[async_trait]
    impl TokenEndpoint for RotatingEndpoint {
        async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, RemoteError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let accepted = {
                let mut current = self.current.lock().unwrap();
                let accepted = refresh_token.expose() == current.as_str();
                if accepted {
                    *current = format!("refresh-{n}");
                }
                accepted
            };
            tokio::time::sleep(self.delay).await;
            if !accepted {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(token_error(400, None, r#"{"error":"invalid_grant"}"#));
            }
            Ok(Grant {
                access_token: Secret::new(format!("access-{n}")),
                refresh_token: Secret::new(format!("refresh-{n}")),
                expires_in: Duration::from_secs(86_399),
            })
        }
    }

    /// Epoch time on tokio's clock, which a paused test advances as fast as it likes.
    struct PausedClock(tokio::time::Instant);

    impl Clock for PausedClock {
        fn now_ms(&self) -> i64 {
            1_800_000_000_000 + self.0.elapsed().as_millis() as i64
        }
    }

    /// The consumer's Lambda timeout (template.yaml, ConsumerFunction).
    const CONSUMER_TIMEOUT: Duration = Duration::from_secs(60);

    /// A cold invocation of the consumer starting now on `clock`, asking for a token.
    fn invocation(
        store: &Arc<MemoryTokenStore>,
        endpoint: &Arc<RotatingEndpoint>,
        clock: &Arc<PausedClock>,
        timeout: Duration,
    ) -> tokio::task::JoinHandle<Result<Secret, RemoteError>> {
        let token = token(store, endpoint).with_clock(clock.clone());
        let deadline = clock.now_ms() + timeout.as_millis() as i64;
        tokio::spawn(
            async move { crate::support::invocation::within(deadline, token.current()).await },
        )
    }

    fn token(store: &Arc<MemoryTokenStore>, endpoint: &Arc<RotatingEndpoint>) -> OAuthToken {
        OAuthToken::new(
            "loc",
            store.clone(),
            endpoint.clone(),
            Some(Secret::new("refresh-0")),
            OAuthSettings::default(),
        )
    }

    #[tokio::test]
    async fn the_first_call_rotates_the_seed_and_saves_before_using() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let t = token(&store, &endpoint);
        assert_eq!(t.current().await.unwrap().expose(), "access-1");
        let saved = store.load("loc").await.unwrap().unwrap();
        assert_eq!(saved.refresh_token.expose(), "refresh-1");
        assert_eq!(saved.version, 1);
        // Cached: no second refresh while the token is fresh.
        assert_eq!(t.current().await.unwrap().expose(), "access-1");
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_invocations_refresh_once_and_share_the_result() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        // Eight cold invocations, each with its own cache, all needing a token at once.
        let tokens: Vec<_> = (0..8).map(|_| token(&store, &endpoint)).collect();
        let got = futures::future::join_all(tokens.iter().map(|t| t.current())).await;
        for g in got {
            assert_eq!(g.unwrap().expose(), "access-1");
        }
        assert_eq!(
            endpoint.calls.load(Ordering::SeqCst),
            1,
            "one refresh, one spent refresh token"
        );
        assert_eq!(
            store
                .load("loc")
                .await
                .unwrap()
                .unwrap()
                .refresh_token
                .expose(),
            "refresh-1"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_token_endpoint_never_gets_a_refresh_token_twice() {
        // GIVEN a token endpoint that takes 25 s to answer and accepts each refresh token once
        let clock = Arc::new(PausedClock(tokio::time::Instant::now()));
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::slow("refresh-0", Duration::from_secs(25));
        // WHEN two invocations need a token 21 s apart, the first one's refresh still under way
        let first = invocation(&store, &endpoint, &clock, CONSUMER_TIMEOUT);
        tokio::time::sleep(Duration::from_secs(21)).await;
        let second = invocation(&store, &endpoint, &clock, CONSUMER_TIMEOUT);
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        // THEN both get the one rotated token and the chain goes on from its successor
        assert_eq!(first.unwrap().expose(), "access-1");
        assert_eq!(second.unwrap().expose(), "access-1");
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            endpoint.refused.load(Ordering::SeqCst),
            0,
            "a refresh token was sent twice"
        );
        let saved = store.load("loc").await.unwrap().unwrap();
        assert_eq!(saved.refresh_token.expose(), "refresh-1");
        assert!(!saved.broken);
    }

    #[test]
    fn the_lease_outlives_the_token_call_and_fits_in_a_consumer_invocation() {
        let s = OAuthSettings::default();
        assert!(s.lease() > s.call_timeout);
        assert!(s.call_timeout > Duration::from_secs(25));
        assert!(s.may_start_refresh(0, Some(CONSUMER_TIMEOUT.as_millis() as i64)));
        assert!(!s.may_start_refresh(0, Some(s.lease().as_millis() as i64 - 1)));
        assert!(s.may_start_refresh(0, None), "outside an invocation");
    }

    #[tokio::test(start_paused = true)]
    async fn no_refresh_starts_without_a_leases_worth_of_time_left() {
        let clock = Arc::new(PausedClock(tokio::time::Instant::now()));
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let late = OAuthSettings::default().lease() - Duration::from_secs(1);
        // Nothing stored yet: the job waits for an invocation with time to refresh.
        let e = invocation(&store, &endpoint, &clock, late)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            e.is_transient() && e.to_string().contains("too little"),
            "{e}"
        );
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 0);
        // With time, the refresh happens; four minutes before it expires (inside the margin)...
        let first = invocation(&store, &endpoint, &clock, CONSUMER_TIMEOUT)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(86_399 - 240)).await;
        // ...a late invocation uses the token, which still works, instead of refreshing.
        let again = invocation(&store, &endpoint, &clock, late).await.unwrap();
        assert_eq!(again.unwrap(), first);
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn invalid_grant_breaks_the_chain_and_invalid_client_waits() {
        let spent = token_error(401, None, r#"{"error":"invalid_grant"}"#);
        assert!(matches!(spent, RemoteError::Permanent { .. }), "{spent:?}");
        let client = token_error(401, None, r#"{"error":"invalid_client"}"#);
        assert!(
            matches!(client, RemoteError::CredentialsRejected { status: 401, .. }),
            "{client:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_refreshed_not_reused() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let t = token(&store, &endpoint);
        let first = t.current().await.unwrap();
        t.refused(&first).await;
        let other = token(&store, &endpoint);
        assert_eq!(other.current().await.unwrap().expose(), "access-2");
        assert_eq!(t.current().await.unwrap().expose(), "access-2");
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_refused_during_another_refresh_does_not_lose_the_rotation() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let (a, b) = (token(&store, &endpoint), token(&store, &endpoint));
        let revoked = a.current().await.unwrap();
        assert_eq!(b.current().await.unwrap(), revoked);
        // GHL revokes access-1: `a` learns it first and refreshes; while its refresh is under
        // way, `b`'s call with access-1 is refused too.
        a.refused(&revoked).await;
        let (rotated, _) = tokio::join!(a.current(), async {
            tokio::time::sleep(endpoint.delay / 2).await;
            b.refused(&revoked).await
        });
        assert_eq!(rotated.unwrap().expose(), "access-2");
        let saved = store.load("loc").await.unwrap().unwrap();
        assert_eq!(
            saved.refresh_token.expose(),
            "refresh-2",
            "the rotation was saved"
        );
        assert_eq!(b.current().await.unwrap().expose(), "access-2");
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_spent_refresh_token_is_a_clear_permanent_error() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("rotated-elsewhere");
        let e = token(&store, &endpoint).current().await.unwrap_err();
        assert!(!e.is_transient(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("400") && text.contains("authorise the app again"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_newly_configured_refresh_token_restarts_a_broken_chain_only() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let old = token(&store, &endpoint);
        let first = old.current().await.unwrap();
        // The app is authorised again: GHL's chain restarts and the stored one is spent.
        *endpoint.current.lock().unwrap() = "reauthorised".into();
        let new_config = || {
            OAuthToken::new(
                "loc",
                store.clone(),
                endpoint.clone(),
                Some(Secret::new("reauthorised")),
                OAuthSettings::default(),
            )
        };
        // While the stored chain works, a new configuration does not replace it.
        assert_eq!(new_config().current().await.unwrap(), first);
        // GHL refuses the access token, then the stored refresh token: the chain is broken.
        old.refused(&first).await;
        assert!(token(&store, &endpoint).current().await.is_err());
        assert!(store.load("loc").await.unwrap().unwrap().broken);
        // Now the newly configured refresh token starts a new chain...
        let renewed = new_config().current().await.unwrap();
        assert_eq!(renewed.expose(), "access-3");
        // ...which an invocation still holding the old configuration uses, not rolls back.
        assert_eq!(token(&store, &endpoint).current().await.unwrap(), renewed);
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn without_stored_tokens_or_a_seed_it_says_what_to_configure() {
        let store = Arc::new(MemoryTokenStore::default());
        let endpoint = RotatingEndpoint::new("refresh-0");
        let t = OAuthToken::new("loc", store, endpoint, None, OAuthSettings::default());
        let e = t.current().await.unwrap_err().to_string();
        assert!(e.contains("GHL_OAUTH_REFRESH_TOKEN"), "{e}");
    }
}
