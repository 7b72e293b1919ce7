//! The sandbox's whole world, shared by every handler and delivery task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::SandboxConfig;
use super::call_log::CallLog;
use super::support::lock;
use crate::calltools::store::CtWorld;
use crate::delivery::calltools::HookLog;
use crate::delivery::ghl::DeliveryLog;
use crate::faults::calltools::Faults;
use crate::faults::delivery::Chaos;
use crate::ghl::oauth::OAuth;
use crate::ghl::rate_limit::RateLimiter;
use crate::ghl::search::CursorStyle;
use crate::ghl::store::GhlStore;
use crate::meta::state::Meta;

pub(crate) type AppState = Arc<Inner>;

pub(crate) struct Inner {
    pub cfg: SandboxConfig,
    pub url: String,
    pub ghl: Mutex<GhlStore>,
    pub ghl_limiter: Mutex<RateLimiter>,
    pub ghl_calls: CallLog,
    pub deliveries: DeliveryLog,
    pub chaos: Mutex<Chaos>,
    /// Where search answers put the next-page cursor.
    pub search_cursor: Mutex<CursorStyle>,
    pub calltools: Mutex<CtWorld>,
    pub calltools_calls: CallLog,
    /// CallTools' REST hook deliveries and how they misbehave.
    pub calltools_hooks: HookLog,
    /// The API key CallTools accepts now: the configured one until a test rotates it.
    pub calltools_api_key: Mutex<String>,
    pub faults: Mutex<Faults>,
    /// The OAuth token chain (`/oauth/token`).
    pub oauth: Mutex<OAuth>,
    /// The Meta world, Graph call log and webhook deliveries.
    pub meta: Meta,
    /// Client for outgoing webhooks. GoHighLevel gives up on an endpoint after 10 s (§2.4).
    pub http: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
    /// Bumped by a reset so webhook retries scheduled before it are dropped, not delivered
    /// into the next test.
    generation: AtomicU64,
}

impl Inner {
    pub fn new(
        cfg: SandboxConfig,
        url: String,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(crate::delivery::ghl::DELIVERY_TIMEOUT)
            .no_proxy()
            .build()?;
        Ok(Self {
            ghl: Mutex::new(GhlStore::new(&cfg.location_id)),
            ghl_limiter: Mutex::new(RateLimiter::default()),
            ghl_calls: CallLog::default(),
            deliveries: DeliveryLog::bounded(cfg.ghl_delivery_concurrency),
            chaos: Mutex::new(Chaos::default()),
            search_cursor: Mutex::new(CursorStyle::default()),
            calltools: Mutex::new(CtWorld::new(&cfg.buckets)),
            calltools_calls: CallLog::default(),
            calltools_hooks: HookLog::default(),
            calltools_api_key: Mutex::new(cfg.calltools_api_key.clone()),
            faults: Mutex::new(Faults::default()),
            oauth: Mutex::new(OAuth::default()),
            meta: Meta::new(&cfg)?,
            http,
            shutdown,
            generation: AtomicU64::new(0),
            url,
            cfg,
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Back to the state right after `start`: no contacts, logs, faults or pending retries.
    pub fn reset(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *lock(&self.ghl) = GhlStore::new(&self.cfg.location_id);
        *lock(&self.ghl_limiter) = RateLimiter::default();
        self.ghl_calls.clear();
        self.deliveries.clear();
        *lock(&self.chaos) = Chaos::default();
        *lock(&self.search_cursor) = CursorStyle::default();
        *lock(&self.calltools) = CtWorld::new(&self.cfg.buckets);
        self.calltools_calls.clear();
        self.calltools_hooks.reset();
        *lock(&self.calltools_api_key) = self.cfg.calltools_api_key.clone();
        *lock(&self.faults) = Faults::default();
        *lock(&self.oauth) = OAuth::default();
        self.meta.reset(&self.cfg);
    }
}
