//! Builds the ingress and consumer from configuration: the one place that turns `Config` and an
//! AWS SDK configuration into live adapters. Lambda mains and the local stack both call it, so
//! what runs locally is what runs on AWS — only the configuration differs.

pub mod config;
pub mod registry;

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use thiserror::Error;

use crate::app::config::{Config, ConfigError};
use crate::aws::dynamo::DynamoStore;
use crate::aws::dynamo::backfill::DynamoCheckpoints;
use crate::aws::dynamo::events::DynamoEventLog;
use crate::aws::dynamo::meta::DynamoMetaStore;
use crate::aws::dynamo::tokens::DynamoTokenStore;
use crate::aws::sqs::SqsQueue;
use crate::backfill::{Backfill, BackfillSettings};
use crate::consumer::{Consumer, ConsumerParts};
use crate::ingress::allow::AllowList;
use crate::ingress::committed_keys::{CommittedKey, refuse_committed_keys};
use crate::ingress::{Ingress, IngressParts, TimeLimits};
use crate::sources::ghl::auth::{GhlTokenEndpoint, OAuthSettings, OAuthToken};
use crate::sources::ghl::client::GhlClient;
use crate::sources::ghl::verify::KeyError;
use crate::sources::meta::graph::GraphClient;
use crate::sources::meta::read::MetaReader;
use crate::support::secret::Secret;

#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    CommittedKey(#[from] CommittedKey),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// The AWS SDK configuration a Lambda function runs with, from the variables Lambda sets: the
/// region and the execution role's credentials (and `AWS_ENDPOINT_URL`, which points it at
/// moto). Built here rather than by aws-config's loader, whose profile files, SSO, STS and
/// instance-metadata providers a function never uses; the operator command, which does, keeps
/// the loader.
pub fn aws_from_env() -> SdkConfig {
    aws_from(|name| std::env::var(name).ok())
}

fn aws_from(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let mut aws = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        aws = aws.region(Region::new(region));
    }
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials =
            Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        aws = aws.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        aws = aws.endpoint_url(url);
    }
    aws.build()
}

/// Reads `Config` from the environment and resolves `*_PARAM` secrets from SSM.
pub async fn load_config(aws: &SdkConfig) -> Result<Config, ConfigError> {
    let mut cfg = Config::from_env()?;
    cfg.resolve_secrets(&aws_sdk_ssm::Client::new(aws)).await?;
    Ok(cfg)
}

pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("leadsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Http(e.to_string()))
}

/// How long ingress may wait on AWS: one call, its attempts included, and all of a request's
/// calls together. The total stays inside Meta's 5 s and GHL's 10 s wait for an answer and the
/// function's 10 s `Timeout` (template.yaml), with room for verification and a cold start.
pub const INGRESS_TIME_LIMITS: TimeLimits = TimeLimits {
    per_call: Duration::from_millis(2_500),
    total: Duration::from_secs(4),
};

pub fn build_ingress(cfg: &Config, aws: &SdkConfig) -> Result<Ingress, BuildError> {
    refuse_committed_keys(cfg)?;
    // GHL retries only a 429: a slow AWS call must end in one, never in a timeout. Ingress holds
    // each call to its share of the request's time; the SDK's own limit stops its retries too.
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(INGRESS_TIME_LIMITS.per_call)
        .build();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(aws)
            .timeout_config(timeouts.clone())
            .build(),
    );
    // The dead-letter queue takes a job SQS refuses, parked alone with its reason.
    let queue = SqsQueue::new(sqs, cfg.require_queue_url()?, cfg.dlq_url.clone());
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws)
            .timeout_config(timeouts)
            .build(),
    );
    let table = cfg.require_table()?;
    let store = Arc::new(DynamoStore::new(dynamo.clone(), table));
    let events = DynamoEventLog::new(dynamo, table);
    Ok(Ingress::new(
        IngressParts {
            max_body_bytes: cfg.max_body_bytes,
            allow: allow_list(cfg),
            time_limits: INGRESS_TIME_LIMITS,
            queue: Arc::new(queue),
            ledger: store.clone(),
            events: Arc::new(events),
        },
        registry::webhook_routes(cfg, store)?,
    ))
}

/// The accounts this deployment serves: its GHL location, its Page and Instagram account. A
/// route with none configured ignores every webhook, which the cold start says once.
pub fn allow_list(cfg: &Config) -> AllowList {
    let allow = AllowList::new(
        cfg.ghl.default_location_id.clone(),
        cfg.ghl.app_id.clone(),
        [cfg.meta.page_id.clone(), cfg.meta.ig_account_id.clone()]
            .into_iter()
            .flatten(),
    );
    if !allow.has_ghl_locations() {
        tracing::warn!("GHL_LOCATION_ID is not set: every GoHighLevel webhook is ignored");
    }
    if cfg.meta.app_secret.value().is_some() && !allow.has_meta_accounts() {
        tracing::warn!(
            "META_PAGE_ID and META_IG_ACCOUNT_ID are not set: every Meta webhook is ignored"
        );
    }
    allow
}

pub fn build_consumer(cfg: &Config, aws: &SdkConfig) -> Result<Consumer, BuildError> {
    let http = http_client(cfg.calltools.request_timeout)?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(aws),
        cfg.require_queue_url()?,
        Some(cfg.require_dlq_url()?.to_string()),
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let table = cfg.require_table()?;
    let store = Arc::new(DynamoStore::new(dynamodb.clone(), table));
    let clients = registry::Clients::new(cfg, http.clone(), &dynamodb, table)?;
    let sinks = registry::sinks(cfg, &clients, store.clone())?;
    let sources = registry::contact_sources(cfg, &clients, http, &dynamodb, table);
    Ok(Consumer::new(ConsumerParts {
        store,
        events: Arc::new(DynamoEventLog::new(dynamodb, table)),
        sources,
        sinks,
        redelivery: Arc::new(queue),
        rules: cfg.rules.clone(),
        retry: cfg.retry,
        // Loads libphonenumber's metadata (3–5 ms), so the first job does not (it still
        // compiles its region's patterns, ~0.2 ms), and a region without numbering metadata
        // stops init instead of failing every national number.
        default_region: cfg.phone_region()?,
        clock: Arc::new(crate::domain::clock::WallClock),
    }))
}

/// The Graph API client and the Meta store, when a Page access token is configured.
pub(crate) fn meta_reader(
    cfg: &Config,
    http: &reqwest::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Option<MetaReader> {
    let token = cfg.meta.page_access_token.value()?;
    Some(MetaReader {
        store: Arc::new(DynamoMetaStore::new(dynamodb.clone(), table)),
        graph: Arc::new(graph_client(cfg, http.clone(), token.clone())),
    })
}

pub fn graph_client(cfg: &Config, http: reqwest::Client, token: Secret) -> GraphClient {
    GraphClient::new(
        http,
        &cfg.meta.graph_api_base_url,
        &cfg.meta.graph_version,
        token,
    )
}

/// The GHL client with a Private Integration Token (`GHL_API_TOKEN`), or with OAuth tokens kept
/// in the state table when `GHL_OAUTH_CLIENT_ID` is set.
pub fn ghl_client(
    cfg: &Config,
    http: reqwest::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<GhlClient, BuildError> {
    let base = cfg.ghl.api_base_url.clone();
    let client = match &cfg.ghl.oauth {
        None => GhlClient::new(
            http,
            base,
            cfg.ghl.api_token.require("GHL_API_TOKEN")?.clone(),
        ),
        Some(o) => {
            let account = cfg
                .ghl
                .default_location_id
                .clone()
                .ok_or(ConfigError::Missing("GHL_LOCATION_ID"))?;
            let settings = OAuthSettings::default();
            // Its own client: the lease is sized for this timeout, not the API calls' one.
            let endpoint = GhlTokenEndpoint {
                http: http_client(settings.call_timeout)?,
                base_url: base.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.require("GHL_OAUTH_CLIENT_SECRET")?.clone(),
            };
            let token = OAuthToken::new(
                account,
                Arc::new(DynamoTokenStore::new(dynamodb.clone(), table, "ghl")),
                Arc::new(endpoint),
                o.refresh_token.value().cloned(),
                settings,
            );
            GhlClient::with_access(http, base, Arc::new(token))
        }
    };
    Ok(client.with_rate_limit(cfg.ghl.max_requests_per_second))
}

/// The backfill over the configured GHL location (`GHL_LOCATION_ID`) and Meta accounts.
pub fn build_backfill(cfg: &Config, aws: &SdkConfig) -> Result<Backfill, BuildError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let table = cfg.require_table()?;
    let ghl = ghl_client(cfg, http_client(Duration::from_secs(30))?, &dynamodb, table)?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(aws),
        cfg.require_queue_url()?,
        cfg.dlq_url.clone(),
    );
    let meta = meta_reader(
        cfg,
        &http_client(Duration::from_secs(30))?,
        &dynamodb,
        table,
    );
    let states = Arc::new(DynamoStore::new(dynamodb.clone(), table));
    Ok(Backfill::new(
        registry::scans(cfg, Arc::new(ghl), states, meta)?,
        Arc::new(queue),
        Arc::new(DynamoCheckpoints::new(dynamodb, table)),
        BackfillSettings::default(),
    ))
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    #[tokio::test]
    async fn a_functions_aws_configuration_is_what_lambda_puts_in_its_environment() {
        let env = |name: &str| {
            match name {
                "AWS_REGION" => Some("eu-west-1"),
                "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE"),
                "AWS_SECRET_ACCESS_KEY" => Some("secret"),
                "AWS_SESSION_TOKEN" => Some("token"),
                "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:5000"),
                _ => None,
            }
            .map(str::to_string)
        };
        let aws = aws_from(env);
        assert_eq!(aws.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(aws.endpoint_url(), Some("http://127.0.0.1:5000"));
        let credentials = aws
            .credentials_provider()
            .expect("credentials")
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("token"));
    }

    #[test]
    fn without_credentials_in_the_environment_none_are_made_up() {
        let aws = aws_from(|name| (name == "AWS_REGION").then(|| "us-east-1".to_string()));
        assert!(aws.credentials_provider().is_none());
        assert_eq!(aws.endpoint_url(), None);
    }
}
