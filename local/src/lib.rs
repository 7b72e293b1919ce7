//! The whole pipeline on one machine: moto for AWS, the sandbox for GoHighLevel and CallTools,
//! the ingress handler behind an API Gateway emulation and the consumer behind an SQS event
//! source mapping emulation, the backfill behind the Lambda Invoke API. The handlers and adapters
//! are the ones the Lambdas run; only the configuration differs.
#![forbid(unsafe_code)]

pub mod apigw;
pub mod aws_link;
pub mod esm;
pub mod lambda_api;
pub mod logs;
pub mod metrics;
pub mod moto;
pub mod runtime_api;
pub mod seed;
pub mod template;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use leadsync::app::config::Config;
use leadsync::consumer::RecordResult;
use tokio::net::TcpListener;

pub use leadsync::aws::local::endpoint_config as moto_sdk_config;
use leadsync::aws::sqs::queue_depth;

use apigw::HttpApi;
use aws_link::AwsLink;
use esm::EventSourceMapping;
use lambda_api::{LambdaApi, LocalBackfill};
use leadsync_sandbox::{self as sandbox, DuplicateMode, Sandbox, SandboxConfig};
use logs::StackLogs;
use metrics::LocalMetrics;
use moto::Moto;
pub use template::{Resources, Template};

pub use leadsync_sandbox::{
    SANDBOX_CALLTOOLS_KEY, SANDBOX_GHL_TOKEN, SANDBOX_LOCATION_ID, SANDBOX_WORKFLOW_SECRET,
};

/// The token the local stack's CallTools hook URLs carry (`CALLTOOLS_HOOK_TOKEN`). Not a secret:
/// it opens the route of a stack on 127.0.0.1 only.
pub const LOCAL_CALLTOOLS_HOOK_TOKEN: &str = "local-calltools-hook-token-5f0c2a9e71d84b36";

/// Variables that, when set in the environment, point the local stack at real services.
const EXTERNAL: [&str; 2] = ["GHL_API_BASE_URL", "CALLTOOLS_BASE_URL"];

pub struct StackOptions {
    pub template: PathBuf,
    pub stack_name: String,
    /// An already running moto to share; `None` starts one owned by the stack.
    pub moto_url: Option<String>,
    pub api_port: u16,
    pub sandbox_port: u16,
    /// Read external base URLs, keys and secrets from the environment (`make dev`); tests don't.
    pub use_env: bool,
    /// Configuration variables that win over the local defaults (tests use these).
    pub settings: HashMap<String, String>,
    pub duplicate_mode: DuplicateMode,
    /// How far apart the sandbox's GHL retries a 429'd webhook (10 minutes in reality).
    pub ghl_retry_interval: Duration,
    /// Run the consumer on the job queue; without it, jobs stay on the queue to be looked at.
    pub start_consumer: bool,
    /// The sandbox's GHL workflow posts its Custom Webhook too (a tag then sends two webhooks);
    /// off, only Marketplace webhooks arrive, as on a location without the workflow.
    pub workflow_webhook: bool,
    /// Most GHL webhooks the sandbox has on the wire at once (`None`: no bound).
    pub ghl_delivery_concurrency: Option<usize>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            template: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
            stack_name: "leadsync-local".into(),
            moto_url: None,
            api_port: 0,
            sandbox_port: 0,
            use_env: false,
            settings: HashMap::new(),
            duplicate_mode: DuplicateMode::MergeByPhone,
            ghl_retry_interval: Duration::from_secs(2),
            start_consumer: true,
            workflow_webhook: true,
            ghl_delivery_concurrency: None,
        }
    }
}

impl StackOptions {
    /// A stack of its own for a test that runs one function's real binary by hand
    /// ([`runtime_api`]): nothing of the stack's own consumes its queue.
    pub fn for_one_function(function: &str) -> Self {
        Self {
            stack_name: format!("fn-{function}-runtime-api"),
            start_consumer: false,
            ..Self::default()
        }
    }
}

pub struct Stack {
    pub moto_url: String,
    pub aws: SdkConfig,
    pub resources: Resources,
    pub config: Config,
    /// The variables the functions were given besides the shell's: the sandbox's committed test
    /// values and the stack's settings (what `leadsync doctor` reads the local stack's
    /// configuration from).
    pub environment: std::collections::BTreeMap<String, String>,
    pub sandbox: Option<Sandbox>,
    pub api: HttpApi,
    /// Ingress reaches AWS through this link, which tests can cut.
    pub ingress_link: AwsLink,
    /// The Lambda Invoke API for the backfill; `None` when it cannot be configured (no
    /// `GHL_LOCATION_ID` for a real GHL account).
    pub lambda: Option<LambdaApi>,
    /// The functions' metrics, put into moto's CloudWatch as CloudWatch Logs would.
    pub metrics: Arc<LocalMetrics>,
    /// The functions' log lines (and their metric documents), as CloudWatch Logs would keep them.
    pub logs: Arc<StackLogs>,
    esm: Option<EventSourceMapping>,
    owned_moto: Option<Moto>,
}

impl Stack {
    pub async fn start(opts: StackOptions) -> Result<Self> {
        let owned_moto = match opts.moto_url {
            Some(_) => None,
            None => Some(tokio::task::spawn_blocking(Moto::start).await??),
        };
        let moto_url = opts
            .moto_url
            .clone()
            .or_else(|| owned_moto.as_ref().map(|m| m.url.clone()))
            .context("no moto")?;
        let aws = moto_sdk_config(&moto_url).await;
        let template = Template::load(&opts.template, &opts.stack_name)?;
        let resources = template
            .provision(&aws)
            .await
            .context("provisioning from template.yaml")?;

        let listener = TcpListener::bind(("127.0.0.1", opts.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let env = |k: &str| {
            if opts.use_env {
                std::env::var(k).ok().filter(|v| !v.is_empty())
            } else {
                None
            }
        };
        let needs_sandbox = EXTERNAL.iter().any(|k| env(k).is_none());
        let sandbox = if needs_sandbox {
            Some(
                sandbox::start(SandboxConfig {
                    bind: ([127, 0, 0, 1], opts.sandbox_port).into(),
                    ghl_api_token: SANDBOX_GHL_TOKEN.into(),
                    calltools_api_key: SANDBOX_CALLTOOLS_KEY.into(),
                    location_id: SANDBOX_LOCATION_ID.into(),
                    marketplace_webhook_url: Some(format!("{api_url}/webhooks/ghl")),
                    workflow_webhook_url: opts
                        .workflow_webhook
                        .then(|| format!("{api_url}/webhooks/ghl/workflow")),
                    meta_webhook_url: Some(format!("{api_url}/webhooks/meta")),
                    workflow_secret: Some(SANDBOX_WORKFLOW_SECRET.into()),
                    duplicate_mode: opts.duplicate_mode,
                    ghl_retry_interval: opts.ghl_retry_interval,
                    ghl_delivery_concurrency: opts.ghl_delivery_concurrency,
                    ..SandboxConfig::default()
                })
                .await?,
            )
        } else {
            None
        };

        let mut vars: HashMap<String, String> = HashMap::new();
        if let Some(sb) = &sandbox {
            let played = SandboxConfig::default();
            let app_id = sandbox::meta::ids::APP_ID.to_string();
            for (k, v) in [
                ("META_GRAPH_API_BASE_URL", sb.url.as_str()),
                ("META_APP_ID", app_id.as_str()),
                ("META_APP_SECRET", played.meta_app_secret.as_str()),
                ("META_VERIFY_TOKEN", played.meta_verify_token.as_str()),
                ("META_PAGE_ACCESS_TOKEN", played.meta_page_token.as_str()),
                ("META_PAGE_ID", played.meta_page_id.as_str()),
                ("META_IG_ACCOUNT_ID", played.meta_ig_account_id.as_str()),
            ] {
                vars.insert(k.into(), v.into());
            }
            for (k, v) in [
                ("GHL_API_BASE_URL", sb.url.as_str()),
                ("CALLTOOLS_BASE_URL", sb.url.as_str()),
                ("GHL_API_TOKEN", SANDBOX_GHL_TOKEN),
                ("CALLTOOLS_API_KEY", SANDBOX_CALLTOOLS_KEY),
                ("GHL_WORKFLOW_SECRET", SANDBOX_WORKFLOW_SECRET),
                ("CALLTOOLS_HOOK_TOKEN", LOCAL_CALLTOOLS_HOOK_TOKEN),
                // The local stack runs both directions (the template's default is off).
                ("LEADSYNC_CALL_OUTCOMES", "on"),
                ("GHL_LOCATION_ID", SANDBOX_LOCATION_ID),
                (
                    "GHL_WEBHOOK_ED25519_PUBLIC_KEY",
                    sandbox::keys::ED25519_PUBLIC_PEM,
                ),
                ("GHL_WEBHOOK_RSA_PUBLIC_KEY", sandbox::keys::RSA_PUBLIC_PEM),
                (
                    "CALLTOOLS_DUPLICATE_MODE",
                    match opts.duplicate_mode {
                        DuplicateMode::MergeByPhone => "merge",
                        DuplicateMode::AllowDuplicates => "lookup",
                    },
                ),
            ] {
                vars.insert(k.into(), v.into());
            }
        }
        // The committed sandbox keys verify webhooks here and nowhere else.
        vars.insert("LEADSYNC_LOCAL_STACK".into(), "1".into());
        // Retries come back in seconds locally, not minutes.
        vars.insert("LEADSYNC_RETRY_BASE_SECS".into(), "1".into());
        vars.insert("LEADSYNC_RETRY_MAX_SECS".into(), "20".into());
        vars.extend(opts.settings.clone());
        vars.insert("LEADSYNC_TABLE".into(), resources.table.clone());
        vars.insert("LEADSYNC_QUEUE_URL".into(), resources.queue_url.clone());
        vars.insert("LEADSYNC_DLQ_URL".into(), resources.dlq_url.clone());
        let config = Config::from_lookup(|k| {
            if k.starts_with("LEADSYNC_") && vars.contains_key(k) {
                return vars.get(k).cloned();
            }
            env(k).or_else(|| vars.get(k).cloned())
        })?;

        let logs = StackLogs::start();
        let metrics = Arc::new(LocalMetrics::start(
            aws_sdk_cloudwatch::Client::new(&aws),
            &resources.metrics_namespace,
            &resources.metrics_service,
            logs.clone(),
        ));
        let ingress_link = AwsLink::start(&moto_url).await?;
        let ingress_aws = moto_sdk_config(&ingress_link.url).await;
        let ingress = Arc::new(leadsync::app::build_ingress(&config, &ingress_aws)?);
        let consumer = Arc::new(leadsync::app::build_consumer(&config, &aws)?);
        let api = apigw::serve(listener, ingress, resources.routes.clone(), metrics.clone())?;
        let lambda = match leadsync::app::build_backfill(&config, &aws) {
            Ok(handler) => Some(
                lambda_api::serve(LocalBackfill {
                    name: resources.backfill_function.clone(),
                    handler: Arc::new(handler),
                    timeout: Duration::from_secs(resources.backfill_timeout_secs),
                    metrics: metrics.clone(),
                })
                .await?,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the local backfill is off");
                None
            }
        };
        let esm = opts.start_consumer.then(|| {
            EventSourceMapping::start(
                consumer,
                aws_sdk_sqs::Client::new(&aws),
                &resources,
                metrics.clone(),
            )
        });
        Ok(Self {
            moto_url,
            aws,
            resources,
            config,
            environment: vars.into_iter().collect(),
            sandbox,
            api,
            ingress_link,
            lambda,
            metrics,
            logs,
            esm,
            owned_moto,
        })
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/ghl", self.api.url)
    }

    pub fn workflow_url(&self) -> String {
        format!("{}/webhooks/ghl/workflow", self.api.url)
    }

    /// The Messenger / Instagram callback (`GET` handshake, `POST` events).
    pub fn meta_webhook_url(&self) -> String {
        format!("{}/webhooks/meta", self.api.url)
    }

    /// Where CallTools posts `model` hooks (`call`, `contact`), with the token.
    pub fn calltools_hook_url(&self, model: &str) -> String {
        format!(
            "{}/webhooks/calltools?model={model}&token={LOCAL_CALLTOOLS_HOOK_TOKEN}",
            self.api.url
        )
    }

    pub fn sandbox_url(&self) -> Option<&str> {
        self.sandbox.as_ref().map(|s| s.url.as_str())
    }

    /// Everything a function process of this stack needs in its environment (for
    /// [`runtime_api::FunctionProcess`]): the stack's variables, the template's metrics
    /// namespace and AWS pointed at this stack's moto with its test credentials.
    pub fn function_environment(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self.environment.clone().into_iter().collect();
        for (k, v) in [
            ("AWS_ENDPOINT_URL", self.moto_url.as_str()),
            // Lambda sets the region itself; an emulator (cargo lambda watch) does not.
            ("AWS_REGION", template::REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            (
                "POWERTOOLS_METRICS_NAMESPACE",
                &self.resources.metrics_namespace,
            ),
            ("POWERTOOLS_SERVICE_NAME", &self.resources.metrics_service),
        ] {
            vars.push((k.into(), v.into()));
        }
        vars
    }

    pub fn moto_pid(&self) -> Option<u32> {
        self.owned_moto.as_ref().map(Moto::pid)
    }

    /// Messages on a queue of this stack: visible, in flight, or delayed (deferred jobs).
    pub async fn queue_depth(&self, queue_url: &str) -> Result<u64> {
        queue_depth(&aws_sdk_sqs::Client::new(&self.aws), queue_url)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// Every consumer record result so far.
    pub fn results(&self) -> Vec<RecordResult> {
        self.esm
            .as_ref()
            .map(EventSourceMapping::results)
            .unwrap_or_default()
    }

    pub async fn stop(mut self) {
        if let Some(esm) = self.esm.take() {
            esm.stop().await;
        }
        if let Some(sb) = self.sandbox.take() {
            sb.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use leadsync::ingress::committed_keys::{SECRET_FINGERPRINTS, fingerprint};

    /// The hook token is committed, so ingress refuses it anywhere but the local stack.
    #[test]
    fn ingress_refuses_the_committed_hook_token_outside_the_local_stack() {
        let print = fingerprint(super::LOCAL_CALLTOOLS_HOOK_TOKEN.as_bytes());
        assert!(SECRET_FINGERPRINTS.contains(&print.as_str()));
    }
}
