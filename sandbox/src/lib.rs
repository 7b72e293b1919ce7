//! A loopback HTTP server that plays GoHighLevel, CallTools and Meta for leadsync's real HTTP
//! clients, faithful to the research in `shared/research/ghl_calltools.md` and
//! `shared/research/meta_messenger_instagram.md`, quirks and failures included.
//!
//! One server, four surfaces:
//! * GoHighLevel's API: reads (`GET /contacts/{id}`, `POST /contacts/search`,
//!   `POST /oauth/token`) and writes (`POST`/`DELETE /contacts/{id}/tags`,
//!   `POST`/`GET /contacts/{id}/notes`, `PUT /contacts/{id}` with custom fields, DND and a tag
//!   list that replaces), all under one token check, rate limit and call log; and its outgoing
//!   webhooks (Marketplace, signed with the test keys in [`keys`]; workflow "Custom Webhook",
//!   Bearer-authenticated), raised by API writes as by admin ones;
//! * CallTools' API under `/api/` (contacts, buckets, tags, calls, dispositions, REST hook
//!   subscriptions), with injectable faults, and its REST hooks: the Call an agent makes
//!   (`/_sandbox/calltools/dial`) and the contact whose `do_not_contact` changes, POSTed
//!   unsigned to every subscriber, with duplicates, delays and drops on demand;
//! * Meta's Graph API under `/{version}/` (conversations, messages, profiles, subscribed_apps)
//!   and its signed Messenger/Instagram webhooks, faithful to
//!   `shared/research/meta_messenger_instagram.md`;
//! * the control surface under `/_sandbox/` for tests and the local stack.
#![forbid(unsafe_code)]

mod admin;
mod call_log;
mod calltools;
mod client;
mod command;
mod delivery;
mod faults;
pub mod ghl;
pub mod keys;
pub mod meta;
pub mod meta_sign;
mod personal_data;
mod state;
mod support;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use client::SandboxClient;
pub use command::{SandboxArgs, run};
pub use ghl::rate_limit::BURST_MAX as GHL_DOCUMENTED_BURST;
pub use meta_sign::{meta_escaped_json, sign_meta};
pub use personal_data::PersonalData;

/// Credentials the sandbox accepts and the local configuration presents.
pub const SANDBOX_GHL_TOKEN: &str = "pit-sandbox-ghl-token";
pub const SANDBOX_CALLTOOLS_KEY: &str = "sandbox-calltools-key";
pub const SANDBOX_WORKFLOW_SECRET: &str = "sandbox-workflow-secret";
pub const SANDBOX_LOCATION_ID: &str = "ve9EPM428h8vShlRW1KT";

/// How the played CallTools account treats a POST whose phone matches an existing contact
/// (an account setting, §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
pub enum DuplicateMode {
    /// "Overwrite (match by phone)": answer `{"duplicate_contacts":[id],"duplicate_action":"MERGE"}`
    /// and overwrite the existing contact's fields, blanks included.
    #[default]
    #[value(name = "merge")]
    #[serde(rename = "merge")]
    MergeByPhone,
    /// Create a second contact with the same phone.
    #[value(name = "allow")]
    #[serde(rename = "allow")]
    AllowDuplicates,
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// GoHighLevel API calls need `Authorization: Bearer <this>`.
    pub ghl_api_token: String,
    /// CallTools API calls need `Authorization: Token <this>`.
    pub calltools_api_key: String,
    /// The GoHighLevel location (sub-account) played.
    pub location_id: String,
    /// Where Marketplace contact webhooks are POSTed; none are sent when unset.
    pub marketplace_webhook_url: Option<String>,
    /// Where the workflow "Custom Webhook" action POSTs; none are sent when unset.
    pub workflow_webhook_url: Option<String>,
    /// Sent as `Authorization: Bearer <secret>` on workflow webhooks.
    pub workflow_secret: Option<String>,
    /// The workflow fires when this tag is newly added (trimmed, case-insensitive).
    pub workflow_trigger_tag: String,
    /// Also sign with the legacy RSA `x-wh-signature` (GoHighLevel dropped it on 2026-07-01).
    pub legacy_rsa_signature: bool,
    pub duplicate_mode: DuplicateMode,
    /// Gap between GoHighLevel's retries of a webhook answered 429 (real: 10 minutes), plus
    /// up to 10 % jitter.
    pub ghl_retry_interval: Duration,
    /// CallTools buckets that exist from the start.
    pub buckets: Vec<(i64, String)>,
    /// Keys the HMAC of Meta's webhooks (`X-Hub-Signature-256`).
    pub meta_app_secret: String,
    /// What leadsync's webhook endpoint expects in Meta's verification handshake.
    pub meta_verify_token: String,
    /// The Facebook Page played.
    pub meta_page_id: String,
    /// The Instagram professional account played (its inbox is reached through the Page).
    pub meta_ig_account_id: String,
    /// The Page access token every Graph call must carry.
    pub meta_page_token: String,
    /// Where signed Messenger/Instagram webhooks are POSTed; none are sent when unset.
    pub meta_webhook_url: Option<String>,
    /// Gap between Meta's immediate retries of a failed webhook (2 retries).
    pub meta_retry_interval: Duration,
    /// Most GHL webhooks on the wire at once; `None`: every one as soon as it is due. GHL does
    /// not document how many it sends in parallel (UNCONFIRMED); a bound lets a local stack, whose
    /// moto is one Python process, take a bulk change as DynamoDB would.
    pub ghl_delivery_concurrency: Option<usize>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ghl_api_token: "pit-sandbox-00000000-0000-4000-8000-000000000000".to_owned(),
            calltools_api_key: "sandbox-calltools-api-key".to_owned(),
            location_id: "sandboxLocation00001".to_owned(),
            marketplace_webhook_url: None,
            workflow_webhook_url: None,
            workflow_secret: None,
            workflow_trigger_tag: "cold lead".to_owned(),
            legacy_rsa_signature: false,
            duplicate_mode: DuplicateMode::MergeByPhone,
            ghl_retry_interval: Duration::from_secs(600),
            buckets: vec![(11237, "Cold Leads".to_owned())],
            meta_app_secret: "sandbox-meta-app-secret".to_owned(),
            meta_verify_token: "sandbox-meta-verify-token".to_owned(),
            meta_page_id: "100000000000001".to_owned(),
            meta_ig_account_id: "17841400000000001".to_owned(),
            meta_page_token: "EAAsandboxPageToken0001".to_owned(),
            meta_webhook_url: None,
            meta_retry_interval: Duration::from_secs(1),
            ghl_delivery_concurrency: None,
        }
    }
}

/// A running sandbox. Dropping it stops the server, pending webhook retries and hanging
/// responses; [`Sandbox::shutdown`] does the same and waits for the server to finish.
pub struct Sandbox {
    /// Base URL for both fake APIs, e.g. `http://127.0.0.1:43121`.
    pub url: String,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    state: state::AppState,
}

pub async fn start(cfg: SandboxConfig) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}");
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(state::Inner::new(cfg, url.clone(), stopped.clone())?);
    let app = router(state.clone());
    let mut signal = stopped;
    let server = tokio::spawn(async move {
        let shutdown = async move {
            // An error means the Sandbox was dropped: stop as well.
            let _ = signal.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "sandbox server stopped with an error");
        }
    });
    Ok(Sandbox {
        url,
        stop,
        server: Some(server),
        state,
    })
}

fn router(state: state::AppState) -> Router {
    Router::new()
        .nest("/_sandbox", admin::router())
        .nest_service("/api", calltools::api::router(state.clone()))
        .merge(ghl::api::router(state.clone()))
        // Outermost: Graph paths (`/v26.0/...`) never reach GoHighLevel's routes.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            meta::graph::divert,
        ))
        .with_state(state)
}

impl Sandbox {
    /// Reads every name, phone number and email the played accounts hold at the time of the
    /// call; it keeps working after the server stopped.
    pub fn personal_data(&self) -> impl Fn() -> PersonalData + Send + Sync + 'static {
        let state = self.state.clone();
        move || PersonalData::of(&state)
    }

    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
        {
            tracing::warn!("sandbox server did not stop within 5 s; aborting it");
            server.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
