//! The one list of sources and sinks: which of them this deployment reads and writes, and which
//! sink each source's contacts go to, built from configuration. A new source is a folder under `sources/` plus a line here for each part
//! it has; a new sink, a folder under `sinks/` and its line in [`sinks`] (see
//! docs/architecture.md, "Add a source" and "Add a sink").

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::config::{Config, ConfigError};
use crate::app::{BuildError, ghl_client, http_client, meta_reader};
use crate::aws::dynamo::DynamoStore;
use crate::backfill::Scan;
use crate::domain::source::Source;
use crate::ingress::WebhookRoutes;
use crate::ports::breaker::CircuitBreaker;
use crate::ports::store::SinkIndex;
use crate::sinks::Sink;
use crate::sinks::calltools::CallToolsSink;
use crate::sinks::calltools::audit::CallToolsAudit;
use crate::sinks::calltools::client::CallToolsClient;
use crate::sinks::calltools::placement::account_id;
use crate::sinks::ghl::GhlSink;
use crate::sources::ContactSource;
use crate::sources::calltools::read::CallToolsReader;
use crate::sources::calltools::routes::CallToolsRoutes;
use crate::sources::calltools::scan::CallsScan;
use crate::sources::ghl::client::{GhlApi, GhlClient};
use crate::sources::ghl::read::GhlReader;
use crate::sources::ghl::routes::GhlRoutes;
use crate::sources::ghl::scan::GhlScan;
use crate::sources::ghl::search::MAX_PAGE_LIMIT;
use crate::sources::ghl::verify::GhlVerifier;
use crate::sources::meta::Channel;
use crate::sources::meta::read::MetaReader;
use crate::sources::meta::routes::{MetaIngress, MetaRoutes};
use crate::sources::meta::scan::{MetaAccount, MetaScan};
use crate::sources::meta::verify::MetaVerifier;

/// The routes ingress serves: GoHighLevel's two, Meta's and CallTools' (each answers 401 until
/// its secret is configured — CallTools' also until call outcomes are on — so a
/// misconfiguration is said, not a 404). `placed` finds the GHL contact behind a CallTools hook.
pub fn webhook_routes(
    cfg: &Config,
    placed: Arc<dyn SinkIndex>,
) -> Result<Vec<Arc<dyn WebhookRoutes>>, BuildError> {
    let ghl = GhlRoutes {
        verifier: GhlVerifier::from_pem(
            &cfg.ghl.ed25519_public_key_pem,
            &cfg.ghl.rsa_public_key_pem,
        )?
        .with_legacy(cfg.ghl.legacy_signature),
        timestamp_tolerance: cfg.ghl.timestamp_tolerance,
        workflow_secret: cfg.ghl.workflow_secret.value().cloned(),
        default_location_id: cfg.ghl.default_location_id.clone(),
    };
    let meta = MetaRoutes {
        meta: cfg.meta.app_secret.value().map(|secret| MetaIngress {
            verifier: MetaVerifier::new(secret),
            verify_token: cfg.meta.verify_token.value().cloned(),
        }),
    };
    let calltools = CallToolsRoutes {
        token: cfg.calltools_hook_token().cloned(),
        placed,
    };
    Ok(vec![Arc::new(ghl), Arc::new(meta), Arc::new(calltools)])
}

/// The API clients a consumer shares between its sources and sinks: one per service, so reads
/// and writes spend one rate limit.
pub struct Clients {
    pub ghl: Arc<GhlClient>,
    pub calltools: Arc<CallToolsClient>,
}

impl Clients {
    pub fn new(
        cfg: &Config,
        http: reqwest::Client,
        dynamodb: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<Self, BuildError> {
        let base = cfg
            .calltools
            .base_url
            .clone()
            .ok_or(ConfigError::Missing("CALLTOOLS_BASE_URL"))?;
        let key = cfg.calltools.api_key.require("CALLTOOLS_API_KEY")?.clone();
        let calltools = CallToolsClient::new(http.clone(), base, key)
            .with_rate_limit(cfg.calltools.max_requests_per_second);
        Ok(Self {
            ghl: Arc::new(ghl_client(cfg, http, dynamodb, table)?),
            calltools: Arc::new(calltools),
        })
    }
}

/// What the consumer reads jobs back from: GoHighLevel always, Messenger and Instagram when a
/// Page token is configured (their jobs are parked otherwise, to be replayed once it is),
/// CallTools when call outcomes go back to GoHighLevel (`LEADSYNC_CALL_OUTCOMES=on`).
pub fn contact_sources(
    cfg: &Config,
    clients: &Clients,
    http: reqwest::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<Arc<dyn ContactSource>> {
    let mut sources: Vec<Arc<dyn ContactSource>> = Vec::new();
    if let Some(meta) = meta_reader(cfg, &http, dynamodb, table) {
        sources.push(Arc::new(meta));
    }
    sources.push(Arc::new(GhlReader::new(clients.ghl.clone())));
    if cfg.call_outcomes {
        sources.push(Arc::new(CallToolsReader::new(clients.calltools.clone())));
    }
    sources
}

/// The backfill's scans: the GHL location (`GHL_LOCATION_ID`, required); Messenger and
/// Instagram through the same Page when a Page and its token are configured; CallTools' recent
/// calls when CallTools is configured and call outcomes are on; and the CallTools sink audit when it is and
/// `LEADSYNC_AUDIT` is not `off`.
pub fn scans(
    cfg: &Config,
    ghl: Arc<dyn GhlApi>,
    states: Arc<DynamoStore>,
    meta: Option<MetaReader>,
) -> Result<Vec<Arc<dyn Scan>>, BuildError> {
    let location_id = cfg
        .ghl
        .default_location_id
        .clone()
        .ok_or(ConfigError::Missing("GHL_LOCATION_ID"))?;
    let mut scans: Vec<Arc<dyn Scan>> = vec![Arc::new(GhlScan::new(
        ghl,
        states.clone(),
        cfg.rules.clone(),
        location_id,
        MAX_PAGE_LIMIT,
    ))];
    if let Some(calls) = calls_scan(cfg, states.clone())? {
        scans.push(calls);
    }
    if let Some(audit) = sink_audit(cfg, states)? {
        scans.push(audit);
    }
    let (Some(meta), Some(page)) = (meta, &cfg.meta.page_id) else {
        return Ok(scans);
    };
    let accounts = [
        (Channel::Messenger, Some(page)),
        (Channel::Instagram, cfg.meta.ig_account_id.as_ref()),
    ];
    for (channel, account) in accounts {
        let Some(account) = account else { continue };
        scans.push(Arc::new(MetaScan::new(
            meta.graph.clone(),
            meta.store.clone(),
            MetaAccount {
                channel,
                page_id: page.clone(),
                account_id: account.clone(),
                app_id: cfg.meta.app_id.clone(),
            },
            cfg.meta.profile_max_age,
        )));
    }
    Ok(scans)
}

/// CallTools' recent calls, for outcomes whose hook was lost, when CallTools is configured for
/// this function. Read at half the per-environment rate, like the audit.
fn calls_scan(cfg: &Config, states: Arc<DynamoStore>) -> Result<Option<Arc<dyn Scan>>, BuildError> {
    let (true, Some(base), Some(key)) = (
        cfg.call_outcomes,
        cfg.calltools.base_url.clone(),
        cfg.calltools.api_key.value().cloned(),
    ) else {
        return Ok(None);
    };
    let account = account_id(&base, key.expose());
    let api = CallToolsClient::new(http_client(cfg.calltools.request_timeout)?, base, key)
        .with_rate_limit(half_rate(cfg));
    Ok(Some(Arc::new(CallsScan::new(
        Arc::new(api),
        states.clone(),
        states,
        account,
    ))))
}

/// Half the per-environment CallTools rate: the consumers share the key's budget while a run reads.
fn half_rate(cfg: &Config) -> Option<std::num::NonZeroU32> {
    cfg.calltools
        .max_requests_per_second
        .map(|r| std::num::NonZeroU32::new(r.get() / 2).unwrap_or(std::num::NonZeroU32::MIN))
}

/// The CallTools sink audit, when CallTools is configured for this function and the audit is on.
fn sink_audit(cfg: &Config, states: Arc<DynamoStore>) -> Result<Option<Arc<dyn Scan>>, BuildError> {
    let (Some(mode), Some(base), Some(key)) = (
        cfg.audit,
        cfg.calltools.base_url.clone(),
        cfg.calltools.api_key.value().cloned(),
    ) else {
        return Ok(None);
    };
    let account = account_id(&base, key.expose());
    let api = CallToolsClient::new(http_client(cfg.calltools.request_timeout)?, base, key)
        .with_rate_limit(half_rate(cfg));
    Ok(Some(Arc::new(CallToolsAudit::new(
        states,
        Arc::new(api),
        account,
        mode,
        cfg.calltools.bucket_filter,
    ))))
}

/// Where the consumer writes each source's contacts: GoHighLevel, Messenger and Instagram
/// contacts go to the CallTools dialer, behind its circuit breaker, with the bucket-placement
/// method it learns per account remembered in the table; CallTools' call outcomes go back to
/// GoHighLevel when that is on (without it, a CallTools job is parked saying no sink is
/// configured, to be replayed once it is).
pub fn sinks(
    cfg: &Config,
    clients: &Clients,
    store: Arc<DynamoStore>,
) -> Result<BTreeMap<Source, Arc<dyn Sink>>, BuildError> {
    let base = cfg
        .calltools
        .base_url
        .clone()
        .ok_or(ConfigError::Missing("CALLTOOLS_BASE_URL"))?;
    let key = cfg.calltools.api_key.require("CALLTOOLS_API_KEY")?;
    let account = account_id(&base, key.expose());
    let breaker = CircuitBreaker::new("calltools", cfg.breaker, store.clone());
    let dialer: Arc<dyn Sink> = Arc::new(
        CallToolsSink::new(clients.calltools.clone(), &cfg.calltools)
            .with_breaker(Arc::new(breaker))
            .with_placement_store(store, account),
    );
    let mut sinks = BTreeMap::from([
        (Source::Ghl, dialer.clone()),
        (Source::Messenger, dialer.clone()),
        (Source::Instagram, dialer),
    ]);
    if cfg.call_outcomes {
        let ghl: Arc<dyn Sink> = Arc::new(GhlSink::new(clients.ghl.clone(), cfg.outcomes.clone()));
        sinks.insert(Source::CallTools, ghl);
    }
    Ok(sinks)
}
