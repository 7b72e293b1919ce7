//! Which stack a command works on. A deployed one comes from the environment; the local one
//! (`make dev`) describes itself in `.local/stack.json`, written by `leadsync-dev local up`, and
//! runs its AWS services on moto.

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};

/// The region the local stack's moto serves.
pub use leadsync::aws::local::LOCAL_REGION;

/// Where `local up` writes what other commands need to find the running stack.
pub const STATE_FILE: &str = ".local/stack.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct StackInfo {
    pub webhook_url: String,
    pub workflow_url: String,
    pub sandbox_url: Option<String>,
    pub moto_url: String,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// The Lambda Invoke endpoint of the local backfill, and its function name.
    #[serde(default)]
    pub lambda_url: Option<String>,
    #[serde(default)]
    pub backfill_function: Option<String>,
    /// The GHL location the stack syncs.
    #[serde(default)]
    pub ghl_location_id: Option<String>,
    /// The Facebook Page and Instagram account the stack reads (the sandbox's).
    #[serde(default)]
    pub meta_page_id: Option<String>,
    #[serde(default)]
    pub meta_ig_account_id: Option<String>,
    /// The Meta app the stack runs as (the sandbox's).
    #[serde(default)]
    pub meta_app_id: Option<String>,
    /// The Page access token the sandbox plays (a committed test value, never a real token), so
    /// `leadsync meta check` can ask the local Graph API.
    #[serde(default)]
    pub meta_page_token: Option<String>,
    /// The stack's name (its metrics' `service` dimension) and metrics namespace.
    #[serde(default)]
    pub stack_name: Option<String>,
    #[serde(default)]
    pub metrics_namespace: Option<String>,
    /// The variables `make dev` gave its functions besides the shell's (the sandbox's committed
    /// test values and the stack's own settings, never a real secret), for `leadsync doctor`.
    #[serde(default)]
    pub environment: std::collections::BTreeMap<String, String>,
}

impl StackInfo {
    pub fn read() -> Result<Self> {
        let text = std::fs::read_to_string(STATE_FILE).with_context(|| {
            format!("{STATE_FILE} not found: is `make dev` running in this directory?")
        })?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Messages on a queue: visible, in flight, or delayed (deferred jobs).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64> {
    leadsync::aws::sqs::queue_depth(sqs, queue_url)
        .await
        .map_err(anyhow::Error::msg)
}

/// The AWS SDK configuration for a moto endpoint.
pub async fn moto_sdk_config(url: &str) -> SdkConfig {
    leadsync::aws::local::endpoint_config(url).await
}

/// What names a deployed stack. Each option also reads its environment variable, and any one of
/// them set means "deployed" (so does the Page token the deployed consumer reads,
/// [`DEPLOYED_SECRETS`]): a command never falls back to the local stack behind an operator's
/// back.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Which stack")]
pub struct TargetArgs {
    /// The deployed stack's name (its metrics' `service` dimension). Without it and without the
    /// options below: the `make dev` stack in this directory (`.local/stack.json`).
    #[arg(long, env = "LEADSYNC_STACK", global = true)]
    pub stack: Option<String>,
    /// The deployed state table (trace, backfill status, stats' backfill runs).
    #[arg(long, env = "LEADSYNC_TABLE", global = true)]
    pub table: Option<String>,
    /// The deployed job queue (dlq replay, stats).
    #[arg(long, env = "LEADSYNC_QUEUE_URL", global = true)]
    pub queue_url: Option<String>,
    /// The deployed dead-letter queue (dlq, stats).
    #[arg(long, env = "LEADSYNC_DLQ_URL", global = true)]
    pub dlq_url: Option<String>,
    /// The deployed backfill function (backfill run).
    #[arg(long, env = "LEADSYNC_BACKFILL_FUNCTION", global = true)]
    pub backfill_function: Option<String>,
}

impl TargetArgs {
    /// An empty value (`LEADSYNC_TABLE=`) is no value.
    fn cleaned(self) -> Self {
        let keep = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        Self {
            stack: keep(self.stack),
            table: keep(self.table),
            queue_url: keep(self.queue_url),
            dlq_url: keep(self.dlq_url),
            backfill_function: keep(self.backfill_function),
        }
    }

    fn names_a_stack(&self) -> bool {
        [
            &self.stack,
            &self.table,
            &self.queue_url,
            &self.dlq_url,
            &self.backfill_function,
        ]
        .iter()
        .any(|v| v.is_some())
    }
}

/// Variables only a deployed stack's configuration has: set, they name it too.
pub const DEPLOYED_SECRETS: [&str; 2] = ["META_PAGE_ACCESS_TOKEN", "META_PAGE_ACCESS_TOKEN_PARAM"];

/// The variable that names the account a source syncs, as the functions read it.
pub fn account_variable(source: &str) -> &'static str {
    match source {
        "messenger" => "META_PAGE_ID",
        "instagram" => "META_IG_ACCOUNT_ID",
        _ => "GHL_LOCATION_ID",
    }
}

/// The stack every `leadsync` command works on, decided once, before the command runs.
#[derive(Debug)]
pub enum Target {
    /// Reached with the normal AWS configuration (profile, region, credentials).
    Deployed(TargetArgs),
    /// The `make dev` stack, on moto.
    Local(Box<StackInfo>),
}

impl Target {
    /// A deployed stack when anything names one, else the local stack described in this
    /// directory; with neither, an error that says how to name one.
    pub fn resolve(
        args: TargetArgs,
        env: impl Fn(&str) -> Option<String>,
        read_local: impl FnOnce() -> Result<StackInfo>,
    ) -> Result<Self> {
        let args = args.cleaned();
        let secret_set = DEPLOYED_SECRETS
            .iter()
            .any(|v| env(v).is_some_and(|v| !v.is_empty()));
        if args.names_a_stack() || secret_set {
            return Ok(Self::Deployed(args));
        }
        read_local().map(|info| Self::Local(Box::new(info))).context(
            "no stack to work on: name a deployed one with --stack NAME and --table, --queue-url, \
             --dlq-url, --backfill-function (or their LEADSYNC_* variables), or start `make dev` \
             in this directory",
        )
    }

    /// The AWS SDK configuration that reaches the target's services.
    pub async fn aws(&self) -> SdkConfig {
        match self {
            Self::Deployed(_) => operator_aws().await,
            Self::Local(info) => moto_sdk_config(&info.moto_url).await,
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }

    /// The state table, or what to set for it.
    pub fn table(&self) -> Result<&str> {
        match self {
            Self::Deployed(a) => a
                .table
                .as_deref()
                .context("this needs the deployed state table: --table or LEADSYNC_TABLE"),
            Self::Local(info) => Ok(&info.table),
        }
    }

    /// The main job queue, when known.
    pub fn queue_url(&self) -> Option<&str> {
        match self {
            Self::Deployed(a) => a.queue_url.as_deref(),
            Self::Local(info) => Some(&info.queue_url),
        }
    }

    /// The dead-letter queue, when known.
    pub fn dlq_url(&self) -> Option<&str> {
        match self {
            Self::Deployed(a) => a.dlq_url.as_deref(),
            Self::Local(info) => Some(&info.dlq_url),
        }
    }

    /// The backfill function and the Lambda endpoint that reaches it (`None`: AWS's own).
    pub fn backfill_function(&self) -> Result<(Option<&str>, &str)> {
        match self {
            Self::Deployed(a) => a
                .backfill_function
                .as_deref()
                .map(|name| (None, name))
                .context(
                    "this needs the deployed backfill function: --backfill-function or \
                     LEADSYNC_BACKFILL_FUNCTION",
                ),
            Self::Local(info) => {
                let url = info.lambda_url.as_deref().context(
                    "the local stack runs no backfill: start it with GHL_LOCATION_ID set",
                )?;
                let name = info
                    .backfill_function
                    .as_deref()
                    .context("the local stack did not name its backfill function")?;
                Ok((Some(url), name))
            }
        }
    }

    /// The account a source syncs: for a deployed stack from the same variables the functions
    /// read (`GHL_LOCATION_ID`, `META_PAGE_ID`, `META_IG_ACCOUNT_ID`), else the local stack's.
    pub fn account(&self, source: &str) -> Option<String> {
        let from_env = std::env::var(account_variable(source))
            .ok()
            .filter(|v| !v.is_empty());
        match self {
            Self::Deployed(_) => from_env,
            Self::Local(info) => from_env.or_else(|| match source {
                "messenger" => info.meta_page_id.clone(),
                "instagram" => info.meta_ig_account_id.clone(),
                _ => info.ghl_location_id.clone(),
            }),
        }
    }

    /// The metrics namespace and the stack's `service` dimension.
    pub fn metrics(&self) -> Result<(String, String)> {
        match self {
            Self::Deployed(a) => {
                let service = a
                    .stack
                    .clone()
                    .context("this needs the deployed stack's name: --stack or LEADSYNC_STACK")?;
                let namespace = std::env::var("POWERTOOLS_METRICS_NAMESPACE")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "leadsync".into());
                Ok((namespace, service))
            }
            Self::Local(info) => Ok((
                info.metrics_namespace
                    .clone()
                    .unwrap_or_else(|| "leadsync".into()),
                info.stack_name
                    .clone()
                    .context(".local/stack.json predates metrics: restart `make dev`")?,
            )),
        }
    }
}

/// The AWS SDK configuration on an operator's machine: aws-config's whole chain (profiles, SSO,
/// `AWS_ENDPOINT_URL`), which the functions, with their credentials in their environment, do
/// without.
pub async fn operator_aws() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> StackInfo {
        serde_json::from_value(serde_json::json!({
            "webhook_url": "http://127.0.0.1:1/webhooks/ghl",
            "workflow_url": "http://127.0.0.1:1/webhooks/ghl/workflow",
            "sandbox_url": "http://127.0.0.1:2",
            "moto_url": "http://127.0.0.1:3",
            "table": "local-table",
            "queue_url": "http://127.0.0.1:3/q",
            "dlq_url": "http://127.0.0.1:3/dlq",
            "ghl_location_id": "loc-local"
        }))
        .unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn with_nothing_named_the_local_stack_is_the_target() {
        let t = Target::resolve(TargetArgs::default(), no_env, || Ok(local())).unwrap();
        assert!(t.is_local());
        assert_eq!(t.table().unwrap(), "local-table");
        assert_eq!(t.dlq_url(), Some("http://127.0.0.1:3/dlq"));
    }

    #[test]
    fn any_deployed_resource_named_wins_over_a_running_local_stack() {
        let cases = [
            TargetArgs {
                table: Some("prod".into()),
                ..Default::default()
            },
            TargetArgs {
                dlq_url: Some("https://sqs/dlq".into()),
                ..Default::default()
            },
            TargetArgs {
                queue_url: Some("https://sqs/q".into()),
                ..Default::default()
            },
            TargetArgs {
                backfill_function: Some("bf".into()),
                ..Default::default()
            },
            TargetArgs {
                stack: Some("leadsync".into()),
                ..Default::default()
            },
        ];
        for args in cases {
            let t = Target::resolve(args.clone(), no_env, || Ok(local())).unwrap();
            assert!(!t.is_local(), "{args:?} names a deployed stack");
        }
    }

    #[test]
    fn a_deployed_page_token_names_the_deployed_stack() {
        for name in DEPLOYED_SECRETS {
            let env = |v: &str| (v == name).then(|| "/leadsync/token".to_string());
            let t = Target::resolve(TargetArgs::default(), env, || Ok(local())).unwrap();
            assert!(!t.is_local(), "{name}");
        }
    }

    #[test]
    fn empty_values_name_nothing() {
        let args = TargetArgs {
            table: Some(" ".into()),
            stack: Some(String::new()),
            ..Default::default()
        };
        let env = |_: &str| Some(String::new());
        assert!(
            Target::resolve(args, env, || Ok(local()))
                .unwrap()
                .is_local()
        );
    }

    #[test]
    fn with_neither_the_error_says_how_to_name_a_stack() {
        let err = Target::resolve(TargetArgs::default(), no_env, || {
            anyhow::bail!(".local/stack.json not found")
        })
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("--stack NAME"), "{text}");
        assert!(text.contains("make dev"), "{text}");
        assert!(text.contains(".local/stack.json not found"), "{text}");
    }

    #[test]
    fn a_deployed_stack_says_which_resource_a_command_lacks() {
        let t = Target::resolve(
            TargetArgs {
                stack: Some("leadsync".into()),
                ..Default::default()
            },
            no_env,
            || Ok(local()),
        )
        .unwrap();
        let err = t.table().unwrap_err().to_string();
        assert!(err.contains("--table or LEADSYNC_TABLE"), "{err}");
        let err = t.backfill_function().unwrap_err().to_string();
        assert!(err.contains("LEADSYNC_BACKFILL_FUNCTION"), "{err}");
        assert_eq!(t.metrics().unwrap().1, "leadsync");
        assert_eq!(t.dlq_url(), None);
    }
}
