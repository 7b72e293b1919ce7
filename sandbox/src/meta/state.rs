//! Everything the Meta simulation keeps, as one field of the sandbox's shared state.

use std::sync::Mutex;

use crate::SandboxConfig;
use crate::call_log::CallLog;
use crate::delivery::meta::{DELIVERY_TIMEOUT, DeliveryLog};
use crate::faults::graph::MetaFaults;
use crate::meta::rate_limit::{AppUsage, ConversationLimiter};
use crate::meta::store::MetaWorld;
use crate::support::lock;

pub(crate) struct Meta {
    pub world: Mutex<MetaWorld>,
    /// Graph API calls received (`/_sandbox/meta/calls`).
    pub calls: CallLog,
    /// Webhook POSTs sent (`/_sandbox/meta/deliveries`).
    pub deliveries: DeliveryLog,
    pub faults: Mutex<MetaFaults>,
    pub limiter: Mutex<ConversationLimiter>,
    pub usage: Mutex<AppUsage>,
    /// Meta gives a webhook receiver 5 s, not GoHighLevel's 10.
    pub http: reqwest::Client,
}

impl Meta {
    pub fn new(cfg: &SandboxConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .no_proxy()
            .build()?;
        Ok(Self {
            world: Mutex::new(MetaWorld::new(&cfg.meta_page_id, &cfg.meta_ig_account_id)),
            calls: CallLog::default(),
            deliveries: DeliveryLog::default(),
            faults: Mutex::new(MetaFaults::default()),
            limiter: Mutex::new(ConversationLimiter::default()),
            usage: Mutex::new(AppUsage::default()),
            http,
        })
    }

    /// Back to an empty world with the app subscribed; pending retries are stopped by the
    /// sandbox's generation counter, bumped by the caller.
    pub fn reset(&self, cfg: &SandboxConfig) {
        *lock(&self.world) = MetaWorld::new(&cfg.meta_page_id, &cfg.meta_ig_account_id);
        self.calls.clear();
        self.deliveries.clear();
        *lock(&self.faults) = MetaFaults::default();
        *lock(&self.limiter) = ConversationLimiter::default();
        *lock(&self.usage) = AppUsage::default();
    }
}
