//! One typed configuration, read once per cold start from the environment.
//!
//! Secrets come either as a value (`NAME`, for local runs) or as the name of an SSM SecureString
//! parameter (`NAME_PARAM`, on AWS); [`Config::resolve_secrets`] fetches the latter once.

use std::time::Duration;

use thiserror::Error;

use crate::domain::rules::{OnDnd, OnTagRemoved, Rules};
use crate::sources::ghl::verify::LegacySignature;
use crate::support::secret::Secret;

/// GoHighLevel's published Ed25519 key for `x-ghl-signature` (research/ghl_calltools.md §2.2).
pub const GHL_ED25519_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----";

/// GoHighLevel's published RSA-4096 key for the legacy `x-wh-signature` (§2.1).
pub const GHL_RSA_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----";

pub const DEFAULT_GHL_API_BASE_URL: &str = "https://services.leadconnectorhq.com";
pub const DEFAULT_GRAPH_API_BASE_URL: &str = "https://graph.facebook.com";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read secret {name} from SSM parameter {parameter}: {reason}")]
    Ssm {
        name: &'static str,
        parameter: String,
        reason: String,
    },
}

/// Where a secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    Value(Secret),
    SsmParameter(String),
    Unset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateMode {
    /// The account's duplicate mode is "Overwrite (match by phone)": a create on a known phone
    /// answers `{"duplicate_contacts":[id],"duplicate_action":"MERGE"}`, so no lookup is needed.
    Merge,
    /// Look the phone up first; the safe choice when the account's mode is unknown.
    Lookup,
}

/// Whether the CallTools account honours a bucket filter on its contact listing
/// (`GET /api/contacts/?buckets=<id>`, UNCONFIRMED): `leadsync doctor` finds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BucketFilter {
    /// The sink audit lists each rule bucket, 250 contacts a call, and reads back only the
    /// contacts missing from it.
    Honoured,
    /// Not known to work: the audit reads every placed contact back (the safe default).
    #[default]
    Ignored,
}

impl BucketFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketFilter::Honoured => "honoured",
            BucketFilter::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GhlConfig {
    pub api_base_url: String,
    pub api_token: SecretSource,
    pub ed25519_public_key_pem: String,
    pub rsa_public_key_pem: String,
    pub timestamp_tolerance: Duration,
    pub workflow_secret: SecretSource,
    /// The location a workflow webhook belongs to when its body does not say.
    pub default_location_id: Option<String>,
    /// Client-side spacing of GHL API calls per execution environment (`None`: unlimited).
    pub max_requests_per_second: Option<std::num::NonZeroU32>,
    /// OAuth instead of a Private Integration Token, when `GHL_OAUTH_CLIENT_ID` is set.
    pub oauth: Option<GhlOAuthConfig>,
    /// Our Marketplace app: a webhook body naming another app is not ours.
    pub app_id: Option<String>,
    /// Whether a body signed only with the legacy RSA `x-wh-signature` is accepted.
    pub legacy_signature: LegacySignature,
}

/// A Marketplace app's OAuth credentials. The refresh token is only where the chain starts: once
/// used, the rotated tokens live in the state table.
#[derive(Debug, Clone)]
pub struct GhlOAuthConfig {
    pub client_id: String,
    pub client_secret: SecretSource,
    pub refresh_token: SecretSource,
}

#[derive(Debug, Clone)]
pub struct CallToolsConfig {
    pub base_url: Option<String>,
    pub api_key: SecretSource,
    pub duplicate_mode: DuplicateMode,
    /// Whether the contact listing's bucket filter works (`CALLTOOLS_BUCKET_FILTER`).
    pub bucket_filter: BucketFilter,
    pub phone_field: String,
    pub email_field: String,
    pub request_timeout: Duration,
    /// Requests per second per execution environment; `None` (0) means unlimited.
    pub max_requests_per_second: Option<std::num::NonZeroU32>,
    /// The token CallTools' REST hook URLs carry (`?token=`); without it
    /// `POST /webhooks/calltools` is refused.
    pub hook_token: SecretSource,
}

/// Facebook Messenger and Instagram (research/meta_messenger_instagram.md).
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// Without the version: `https://graph.facebook.com`.
    pub graph_api_base_url: String,
    /// `v26.0` unless configured: Meta retires versions about two years after release.
    pub graph_version: String,
    /// Verifies `X-Hub-Signature-256`; without it `POST /webhooks/meta` is refused.
    pub app_secret: SecretSource,
    /// What the `hub.verify_token` of the subscription handshake must be.
    pub verify_token: SecretSource,
    /// The Page access token Graph API calls carry; without it Meta jobs are parked.
    pub page_access_token: SecretSource,
    pub page_id: Option<String>,
    pub ig_account_id: Option<String>,
    /// leadsync's own Meta app: the one whose subscription to the Page is checked. Without it
    /// the check cannot tell leadsync's app from the other apps on the Page.
    pub app_id: Option<String>,
    /// Profiles older than this are read again by the backfill.
    pub profile_max_age: Duration,
}

/// How long a transiently failed job waits before its next attempt.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    /// How long a job that could not even be attempted (circuit open, contact busy) keeps being
    /// sent back as a fresh message, which spends none of its `maxReceiveCount`.
    pub defer_for: Duration,
    /// How long a job refused for leadsync's own credentials (401/403) waits for them to be
    /// fixed before it is parked. At most `defer_for`: the wait is a deferral.
    pub auth_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table: Option<String>,
    pub queue_url: Option<String>,
    pub dlq_url: Option<String>,
    pub ghl: GhlConfig,
    pub calltools: CallToolsConfig,
    pub meta: MetaConfig,
    pub rules: Rules,
    pub max_body_bytes: usize,
    pub retry: RetryPolicy,
    pub breaker: crate::ports::breaker::BreakerSettings,
    pub default_region: String,
    /// Whether CallTools' call outcomes go back to GoHighLevel (`LEADSYNC_CALL_OUTCOMES`: `off`,
    /// the default, or `on`). Opt-in: it writes to GHL, which needs the token's write scope.
    pub call_outcomes: bool,
    /// What call outcomes do in GoHighLevel (`LEADSYNC_OUTCOMES`, `GHL_OUTCOME_FIELD_ID`,
    /// `LEADSYNC_OUTCOME_NOTES`).
    pub outcomes: crate::sinks::ghl::outcomes::Outcomes,
    /// The sink audit (`LEADSYNC_AUDIT`: `repair`, the default; `report`; or `off`).
    pub audit: Option<crate::sinks::calltools::audit::AuditMode>,
    /// Set by `leadsync local` only: the committed sandbox keys verify webhooks there and
    /// nowhere else ([`crate::ingress::committed_keys`]).
    pub local_stack: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &'static str, param: &'static str| match (var(name), var(param)) {
            (Some(v), _) => SecretSource::Value(Secret::new(v)),
            (None, Some(p)) => SecretSource::SsmParameter(p),
            (None, None) => SecretSource::Unset,
        };
        let on_tag_removed: OnTagRemoved = parse_or(
            var("LEADSYNC_ON_TAG_REMOVED"),
            "LEADSYNC_ON_TAG_REMOVED",
            OnTagRemoved::RemoveFromBucket,
        )?;
        let on_dnd: OnDnd = parse_or(var("LEADSYNC_ON_DND"), "LEADSYNC_ON_DND", OnDnd::default())?;
        let audit = {
            use crate::sinks::calltools::audit::AuditMode;
            match var("LEADSYNC_AUDIT").as_deref().map(str::trim) {
                None | Some("repair") => Some(AuditMode::Repair),
                Some("report") => Some(AuditMode::Report),
                Some("off") => None,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "LEADSYNC_AUDIT",
                        reason: format!("expected repair, report or off, got {other:?}"),
                    });
                }
            }
        };
        let mut rules = match var("LEADSYNC_RULES") {
            Some(json) => {
                Rules::from_json(&json, on_tag_removed).map_err(|reason| ConfigError::Invalid {
                    name: "LEADSYNC_RULES",
                    reason,
                })?
            }
            None => {
                let mut rules = Rules::default_rules();
                rules.on_tag_removed = on_tag_removed;
                rules
            }
        };
        rules.on_dnd = on_dnd;
        let call_outcomes = on_off(
            var("LEADSYNC_CALL_OUTCOMES"),
            "LEADSYNC_CALL_OUTCOMES",
            false,
        )?;
        // Read only when on: a mistake in a feature that is off must not stop the forward sync.
        let outcomes = if call_outcomes {
            crate::sinks::ghl::outcomes::Outcomes::parse(
                var("LEADSYNC_OUTCOMES").as_deref().unwrap_or("{}"),
                var("GHL_OUTCOME_FIELD_ID"),
                on_off(
                    var("LEADSYNC_OUTCOME_NOTES"),
                    "LEADSYNC_OUTCOME_NOTES",
                    true,
                )?,
            )
            .map_err(|reason| ConfigError::Invalid {
                name: "LEADSYNC_OUTCOMES",
                reason,
            })?
        } else {
            crate::sinks::ghl::outcomes::Outcomes::default()
        };
        let duplicate_mode = match var("CALLTOOLS_DUPLICATE_MODE").as_deref().map(str::trim) {
            None | Some("lookup") => DuplicateMode::Lookup,
            Some("merge") => DuplicateMode::Merge,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CALLTOOLS_DUPLICATE_MODE",
                    reason: format!("expected merge or lookup, got {other:?}"),
                });
            }
        };
        let bucket_filter = match var("CALLTOOLS_BUCKET_FILTER").as_deref().map(str::trim) {
            None | Some("ignored") => BucketFilter::Ignored,
            Some("honoured") => BucketFilter::Honoured,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "CALLTOOLS_BUCKET_FILTER",
                    reason: format!(
                        "expected honoured or ignored (`leadsync doctor` says which), got {other:?}"
                    ),
                });
            }
        };
        let retry = RetryPolicy {
            base: Duration::from_secs(parse_or(
                var("LEADSYNC_RETRY_BASE_SECS"),
                "LEADSYNC_RETRY_BASE_SECS",
                10,
            )?),
            max: Duration::from_secs(parse_or(
                var("LEADSYNC_RETRY_MAX_SECS"),
                "LEADSYNC_RETRY_MAX_SECS",
                900,
            )?),
            defer_for: Duration::from_secs(parse_or(
                var("LEADSYNC_DEFER_MAX_SECS"),
                "LEADSYNC_DEFER_MAX_SECS",
                86_400,
            )?),
            auth_wait: Duration::from_secs(parse_or(
                var("LEADSYNC_AUTH_WAIT_MAX_SECS"),
                "LEADSYNC_AUTH_WAIT_MAX_SECS",
                14_400,
            )?),
        };
        if retry.auth_wait > retry.defer_for {
            return Err(ConfigError::Invalid {
                name: "LEADSYNC_AUTH_WAIT_MAX_SECS",
                reason: "a job waiting for credentials is deferred, so the wait may not exceed LEADSYNC_DEFER_MAX_SECS".into(),
            });
        }
        if retry.max > Duration::from_secs(43_200) {
            return Err(ConfigError::Invalid {
                name: "LEADSYNC_RETRY_MAX_SECS",
                reason: "SQS allows a visibility timeout of at most 43200 seconds".into(),
            });
        }
        Ok(Self {
            table: var("LEADSYNC_TABLE"),
            queue_url: var("LEADSYNC_QUEUE_URL"),
            dlq_url: var("LEADSYNC_DLQ_URL"),
            ghl: GhlConfig {
                api_base_url: trim_base(
                    var("GHL_API_BASE_URL").unwrap_or_else(|| DEFAULT_GHL_API_BASE_URL.into()),
                ),
                api_token: secret("GHL_API_TOKEN", "GHL_API_TOKEN_PARAM"),
                ed25519_public_key_pem: var("GHL_WEBHOOK_ED25519_PUBLIC_KEY")
                    .unwrap_or_else(|| GHL_ED25519_PUBLIC_KEY.into()),
                rsa_public_key_pem: var("GHL_WEBHOOK_RSA_PUBLIC_KEY")
                    .unwrap_or_else(|| GHL_RSA_PUBLIC_KEY.into()),
                timestamp_tolerance: Duration::from_secs(parse_or(
                    var("GHL_WEBHOOK_TOLERANCE_SECS"),
                    "GHL_WEBHOOK_TOLERANCE_SECS",
                    300,
                )?),
                workflow_secret: secret("GHL_WORKFLOW_SECRET", "GHL_WORKFLOW_SECRET_PARAM"),
                default_location_id: var("GHL_LOCATION_ID"),
                max_requests_per_second: std::num::NonZeroU32::new(parse_or(
                    var("GHL_MAX_REQUESTS_PER_SECOND"),
                    "GHL_MAX_REQUESTS_PER_SECOND",
                    10,
                )?),
                app_id: crate::ingress::allow::ghl_app_id(
                    var("GHL_APP_ID").as_deref(),
                    var("GHL_OAUTH_CLIENT_ID").as_deref(),
                ),
                legacy_signature: match var("GHL_LEGACY_SIGNATURE").as_deref().map(str::trim) {
                    None | Some("accept") => LegacySignature::Accept,
                    Some("refuse") => LegacySignature::Refuse,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            name: "GHL_LEGACY_SIGNATURE",
                            reason: format!("{other:?}: use accept or refuse"),
                        });
                    }
                },
                oauth: var("GHL_OAUTH_CLIENT_ID").map(|client_id| GhlOAuthConfig {
                    client_id,
                    client_secret: secret(
                        "GHL_OAUTH_CLIENT_SECRET",
                        "GHL_OAUTH_CLIENT_SECRET_PARAM",
                    ),
                    refresh_token: secret(
                        "GHL_OAUTH_REFRESH_TOKEN",
                        "GHL_OAUTH_REFRESH_TOKEN_PARAM",
                    ),
                }),
            },
            calltools: CallToolsConfig {
                base_url: var("CALLTOOLS_BASE_URL").map(trim_base),
                api_key: secret("CALLTOOLS_API_KEY", "CALLTOOLS_API_KEY_PARAM"),
                duplicate_mode,
                bucket_filter,
                phone_field: var("CALLTOOLS_PHONE_FIELD")
                    .unwrap_or_else(|| "mobile_phone_number".into()),
                email_field: var("CALLTOOLS_EMAIL_FIELD").unwrap_or_else(|| "email".into()),
                max_requests_per_second: std::num::NonZeroU32::new(parse_or(
                    var("CALLTOOLS_MAX_REQUESTS_PER_SECOND"),
                    "CALLTOOLS_MAX_REQUESTS_PER_SECOND",
                    5,
                )?),
                request_timeout: Duration::from_millis(parse_or(
                    var("CALLTOOLS_TIMEOUT_MS"),
                    "CALLTOOLS_TIMEOUT_MS",
                    10_000,
                )?),
                hook_token: secret("CALLTOOLS_HOOK_TOKEN", "CALLTOOLS_HOOK_TOKEN_PARAM"),
            },
            call_outcomes,
            outcomes,
            meta: MetaConfig {
                graph_api_base_url: trim_base(
                    var("META_GRAPH_API_BASE_URL")
                        .unwrap_or_else(|| DEFAULT_GRAPH_API_BASE_URL.into()),
                ),
                graph_version: var("META_GRAPH_VERSION")
                    .unwrap_or_else(|| crate::sources::meta::graph::DEFAULT_GRAPH_VERSION.into()),
                app_secret: secret("META_APP_SECRET", "META_APP_SECRET_PARAM"),
                verify_token: secret("META_VERIFY_TOKEN", "META_VERIFY_TOKEN_PARAM"),
                page_access_token: secret("META_PAGE_ACCESS_TOKEN", "META_PAGE_ACCESS_TOKEN_PARAM"),
                page_id: var("META_PAGE_ID"),
                ig_account_id: var("META_IG_ACCOUNT_ID"),
                app_id: meta_app_id(var("META_APP_ID"))?,
                profile_max_age: Duration::from_secs(
                    86_400
                        * parse_or(
                            var("META_PROFILE_MAX_AGE_DAYS"),
                            "META_PROFILE_MAX_AGE_DAYS",
                            30u64,
                        )?,
                ),
            },
            rules,
            max_body_bytes: parse_or(
                var("LEADSYNC_MAX_BODY_BYTES"),
                "LEADSYNC_MAX_BODY_BYTES",
                131_072,
            )?,
            retry,
            breaker: crate::ports::breaker::BreakerSettings {
                failure_threshold: parse_or(
                    var("LEADSYNC_BREAKER_FAILURES"),
                    "LEADSYNC_BREAKER_FAILURES",
                    5,
                )?,
                recovery: Duration::from_secs(parse_or(
                    var("LEADSYNC_BREAKER_RECOVERY_SECS"),
                    "LEADSYNC_BREAKER_RECOVERY_SECS",
                    30,
                )?),
                cache_max_age: Duration::from_secs(5),
            },
            default_region: var("LEADSYNC_DEFAULT_PHONE_REGION").unwrap_or_else(|| "US".into()),
            audit,
            local_stack: var("LEADSYNC_LOCAL_STACK").as_deref() == Some("1"),
        })
    }

    /// The default phone region, checked against libphonenumber's metadata (`gb` → `GB`).
    /// Checked where phones are normalised, the consumer: loading the metadata is not worth
    /// the ingress's cold start.
    pub fn phone_region(&self) -> Result<String, ConfigError> {
        crate::domain::contact::phone_region(&self.default_region).map_err(|reason| {
            ConfigError::Invalid {
                name: "LEADSYNC_DEFAULT_PHONE_REGION",
                reason,
            }
        })
    }

    /// The CallTools hook token, only when call outcomes go back to GoHighLevel: without it the
    /// hook route refuses everything.
    pub fn calltools_hook_token(&self) -> Option<&Secret> {
        self.call_outcomes
            .then(|| self.calltools.hook_token.value())
            .flatten()
    }

    /// Fetches every secret given as an SSM parameter name, once, with decryption.
    pub async fn resolve_secrets(&mut self, ssm: &aws_sdk_ssm::Client) -> Result<(), ConfigError> {
        let mut sources = vec![
            ("GHL_API_TOKEN", &mut self.ghl.api_token),
            ("GHL_WORKFLOW_SECRET", &mut self.ghl.workflow_secret),
            ("CALLTOOLS_API_KEY", &mut self.calltools.api_key),
            ("CALLTOOLS_HOOK_TOKEN", &mut self.calltools.hook_token),
            ("META_APP_SECRET", &mut self.meta.app_secret),
            ("META_VERIFY_TOKEN", &mut self.meta.verify_token),
            ("META_PAGE_ACCESS_TOKEN", &mut self.meta.page_access_token),
        ];
        if let Some(o) = &mut self.ghl.oauth {
            sources.push(("GHL_OAUTH_CLIENT_SECRET", &mut o.client_secret));
            sources.push(("GHL_OAUTH_REFRESH_TOKEN", &mut o.refresh_token));
        }
        for (name, source) in sources {
            if let SecretSource::SsmParameter(parameter) = source {
                let answer = ssm
                    .get_parameter()
                    .name(parameter.as_str())
                    .with_decryption(true)
                    .send()
                    .await;
                // The hook token opens one route: without it that route refuses everything (and
                // says why), while GoHighLevel's and Meta's keep working.
                if name == "CALLTOOLS_HOOK_TOKEN"
                    && answer
                        .as_ref()
                        .err()
                        .and_then(|e| e.as_service_error())
                        .is_some_and(|e| e.is_parameter_not_found())
                {
                    tracing::error!(
                        parameter = parameter.as_str(),
                        "the CallTools hook token's SSM parameter does not exist: CallTools hooks are refused until it does"
                    );
                    *source = SecretSource::Unset;
                    continue;
                }
                let out = answer.map_err(|e| ConfigError::Ssm {
                    name,
                    parameter: parameter.clone(),
                    reason: crate::support::error_line::error_line(&e),
                })?;
                let value =
                    out.parameter
                        .and_then(|p| p.value)
                        .ok_or_else(|| ConfigError::Ssm {
                            name,
                            parameter: parameter.clone(),
                            reason: "the parameter has no value".into(),
                        })?;
                *source = SecretSource::Value(Secret::new(value));
            }
        }
        Ok(())
    }

    pub fn require_table(&self) -> Result<&str, ConfigError> {
        self.table
            .as_deref()
            .ok_or(ConfigError::Missing("LEADSYNC_TABLE"))
    }

    pub fn require_queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("LEADSYNC_QUEUE_URL"))
    }

    pub fn require_dlq_url(&self) -> Result<&str, ConfigError> {
        self.dlq_url
            .as_deref()
            .ok_or(ConfigError::Missing("LEADSYNC_DLQ_URL"))
    }
}

impl SecretSource {
    /// The secret's value once resolved; `name` is used in the error.
    pub fn require(&self, name: &'static str) -> Result<&Secret, ConfigError> {
        match self {
            SecretSource::Value(s) => Ok(s),
            SecretSource::SsmParameter(_) => Err(ConfigError::Invalid {
                name,
                reason: "the SSM parameter was not resolved".into(),
            }),
            SecretSource::Unset => Err(ConfigError::Missing(name)),
        }
    }

    pub fn value(&self) -> Option<&Secret> {
        match self {
            SecretSource::Value(s) => Some(s),
            _ => None,
        }
    }
}

/// Meta app ids are numeric; anything else (an app name, the app secret) would never match an
/// entry of `subscribed_apps` and make the check report a healthy Page as unsubscribed.
fn meta_app_id(value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value.map(|v| v.trim().to_string()) {
        Some(id) if !id.chars().all(|c| c.is_ascii_digit()) => Err(ConfigError::Invalid {
            name: "META_APP_ID",
            reason: "expected the numeric app id shown in the Meta App Dashboard".into(),
        }),
        id => Ok(id),
    }
}

fn parse_or<T: std::str::FromStr>(
    value: Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

fn trim_base(url: String) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// An `on`/`off` variable; absent is `default`.
fn on_off(value: Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("expected on or off, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_ghl_published_keys_and_the_cold_lead_rule() {
        let c = config(&[]).unwrap();
        assert_eq!(c.ghl.ed25519_public_key_pem, GHL_ED25519_PUBLIC_KEY);
        assert_eq!(c.ghl.api_base_url, DEFAULT_GHL_API_BASE_URL);
        assert_eq!(c.calltools.duplicate_mode, DuplicateMode::Lookup);
        assert_eq!(c.calltools.bucket_filter, BucketFilter::Ignored);
        assert_eq!(c.rules.rules().count(), 1);
        assert_eq!(c.max_body_bytes, 131_072);
        assert!(matches!(c.ghl.workflow_secret, SecretSource::Unset));
    }

    #[test]
    fn a_secret_value_wins_over_its_parameter_and_is_never_printed() {
        let c = config(&[
            ("GHL_WORKFLOW_SECRET", "abc"),
            ("GHL_WORKFLOW_SECRET_PARAM", "/p"),
        ])
        .unwrap();
        assert!(
            c.ghl
                .workflow_secret
                .require("GHL_WORKFLOW_SECRET")
                .unwrap()
                .matches(b"abc")
        );
        assert!(!format!("{c:?}").contains("abc"));
        let c = config(&[("CALLTOOLS_API_KEY_PARAM", "/leadsync/calltools")]).unwrap();
        assert!(
            matches!(c.calltools.api_key, SecretSource::SsmParameter(ref p) if p == "/leadsync/calltools")
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let err = config(&[("CALLTOOLS_DUPLICATE_MODE", "sometimes")]).unwrap_err();
        assert!(
            err.to_string().contains("CALLTOOLS_DUPLICATE_MODE"),
            "{err}"
        );
        let err = config(&[("CALLTOOLS_BUCKET_FILTER", "honored")]).unwrap_err();
        assert!(
            err.to_string().contains("CALLTOOLS_BUCKET_FILTER")
                && err.to_string().contains("expected honoured or ignored"),
            "{err}"
        );
        assert_eq!(
            config(&[("CALLTOOLS_BUCKET_FILTER", "honoured")])
                .unwrap()
                .calltools
                .bucket_filter,
            BucketFilter::Honoured
        );
        let err = config(&[("LEADSYNC_MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert!(err.to_string().contains("LEADSYNC_MAX_BODY_BYTES"), "{err}");
        let err = config(&[("LEADSYNC_RULES", "[]")]).unwrap_err();
        assert!(err.to_string().contains("LEADSYNC_RULES"), "{err}");
    }

    #[test]
    fn call_outcomes_are_opt_in_and_without_them_the_hook_token_is_not_used() {
        let token = ("CALLTOOLS_HOOK_TOKEN", "t0ken");
        let off = config(&[token]).unwrap();
        assert!(!off.call_outcomes);
        assert!(
            off.calltools_hook_token().is_none(),
            "the route refuses all"
        );
        let on = config(&[token, ("LEADSYNC_CALL_OUTCOMES", "on")]).unwrap();
        assert!(on.call_outcomes);
        assert!(
            on.calltools_hook_token()
                .is_some_and(|t| t.matches(b"t0ken"))
        );
        let err = config(&[("LEADSYNC_CALL_OUTCOMES", "yes")]).unwrap_err();
        assert!(err.to_string().contains("LEADSYNC_CALL_OUTCOMES"), "{err}");
        // A broken map is said when the feature is on, and stops nothing when it is off.
        let broken = ("LEADSYNC_OUTCOMES", "{not json");
        assert!(config(&[broken]).is_ok());
        let err = config(&[broken, ("LEADSYNC_CALL_OUTCOMES", "on")]).unwrap_err();
        assert!(err.to_string().contains("LEADSYNC_OUTCOMES"), "{err}");
    }

    #[test]
    fn the_default_phone_region_must_have_numbering_metadata() {
        assert_eq!(config(&[]).unwrap().phone_region().unwrap(), "US");
        let c = config(&[("LEADSYNC_DEFAULT_PHONE_REGION", "gb")]).unwrap();
        assert_eq!(c.phone_region().unwrap(), "GB");
        let c = config(&[("LEADSYNC_DEFAULT_PHONE_REGION", "UK")]).unwrap();
        let err = c.phone_region().unwrap_err();
        assert!(
            err.to_string().contains("LEADSYNC_DEFAULT_PHONE_REGION"),
            "{err}"
        );
    }

    #[test]
    fn the_calltools_rate_limit_defaults_to_five_and_zero_turns_it_off() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.calltools.max_requests_per_second.map(|n| n.get()),
            Some(5)
        );
        let c = config(&[("CALLTOOLS_MAX_REQUESTS_PER_SECOND", "0")]).unwrap();
        assert_eq!(c.calltools.max_requests_per_second, None);
    }

    #[test]
    fn the_legacy_signature_is_accepted_until_refused() {
        assert_eq!(
            config(&[]).unwrap().ghl.legacy_signature,
            LegacySignature::Accept
        );
        let c = config(&[("GHL_LEGACY_SIGNATURE", "refuse")]).unwrap();
        assert_eq!(c.ghl.legacy_signature, LegacySignature::Refuse);
        let err = config(&[("GHL_LEGACY_SIGNATURE", "off")]).unwrap_err();
        assert!(err.to_string().contains("GHL_LEGACY_SIGNATURE"), "{err}");
    }

    #[test]
    fn our_ghl_app_is_configured_or_read_from_the_oauth_client_id() {
        assert_eq!(config(&[]).unwrap().ghl.app_id, None);
        let c = config(&[("GHL_OAUTH_CLIENT_ID", "65f0aa-x1y2")]).unwrap();
        assert_eq!(c.ghl.app_id.as_deref(), Some("65f0aa"));
        let c = config(&[
            ("GHL_APP_ID", "mine"),
            ("GHL_OAUTH_CLIENT_ID", "65f0aa-x1y2"),
        ])
        .unwrap();
        assert_eq!(c.ghl.app_id.as_deref(), Some("mine"));
    }

    #[test]
    fn the_meta_app_id_is_optional_and_must_be_numeric() {
        assert_eq!(config(&[]).unwrap().meta.app_id, None);
        let c = config(&[("META_APP_ID", " 1000000000000099 ")]).unwrap();
        assert_eq!(c.meta.app_id.as_deref(), Some("1000000000000099"));
        let err = config(&[("META_APP_ID", "leadsync")]).unwrap_err();
        assert!(err.to_string().contains("META_APP_ID"), "{err}");
        // The value may be a secret pasted into the wrong variable: it is not repeated.
        assert!(!err.to_string().contains("leadsync"), "{err}");
    }

    #[test]
    fn dnd_handling_defaults_to_flag_and_remove_and_a_typo_names_the_variable() {
        assert_eq!(config(&[]).unwrap().rules.on_dnd, OnDnd::FlagAndRemove);
        let c = config(&[
            ("LEADSYNC_ON_DND", "flag"),
            ("LEADSYNC_RULES", r#"[{"tag":"x","bucket":"b"}]"#),
        ])
        .unwrap();
        assert_eq!(c.rules.on_dnd, OnDnd::Flag);
        use crate::sinks::calltools::audit::AuditMode;
        assert_eq!(config(&[]).unwrap().audit, Some(AuditMode::Repair));
        assert_eq!(
            config(&[("LEADSYNC_AUDIT", "report")]).unwrap().audit,
            Some(AuditMode::Report)
        );
        assert_eq!(config(&[("LEADSYNC_AUDIT", "off")]).unwrap().audit, None);
        assert!(config(&[("LEADSYNC_AUDIT", "fix")]).is_err());
        let err = config(&[("LEADSYNC_ON_DND", "ignore")]).unwrap_err();
        assert!(err.to_string().contains("LEADSYNC_ON_DND"), "{err}");
    }

    #[test]
    fn the_credentials_wait_defaults_to_four_hours_within_the_deferral_budget() {
        assert_eq!(
            config(&[]).unwrap().retry.auth_wait,
            Duration::from_secs(14_400)
        );
        let c = config(&[("LEADSYNC_AUTH_WAIT_MAX_SECS", "2")]).unwrap();
        assert_eq!(c.retry.auth_wait, Duration::from_secs(2));
        let err = config(&[
            ("LEADSYNC_AUTH_WAIT_MAX_SECS", "7200"),
            ("LEADSYNC_DEFER_MAX_SECS", "3600"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("LEADSYNC_AUTH_WAIT_MAX_SECS"),
            "{err}"
        );
    }

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        let c = config(&[
            ("CALLTOOLS_BASE_URL", "http://127.0.0.1:9/ "),
            ("GHL_API_BASE_URL", "http://x/"),
        ])
        .unwrap();
        assert_eq!(c.calltools.base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(c.ghl.api_base_url, "http://x");
    }
}
