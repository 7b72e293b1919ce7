//! Ingress: verify, normalise, enqueue, answer fast.
//!
//! Each request ends in one [`Answer`]. What GHL does with it decides the design: it retries a
//! webhook only when answered 429, so 429 is what we answer when we cannot take the event *now*
//! (queue or store unavailable), and every other refusal is final.

pub mod allow;
pub mod answer;
pub mod budget;
pub mod committed_keys;
pub mod ghl;
pub mod http;
pub mod meta;

use std::sync::Arc;
use std::time::Duration;

use crate::ports::events::EventLog;
use crate::ports::queue::JobQueue;
use crate::ports::store::WebhookLedger;
use crate::sources::ghl::verify::GhlVerifier;
use crate::support::secret::Secret;

pub use answer::{Answer, Rejection};
pub use budget::TimeLimits;

/// Routes served by the ingress function.
pub const GHL_MARKETPLACE_PATH: &str = "/webhooks/ghl";
pub const GHL_WORKFLOW_PATH: &str = "/webhooks/ghl/workflow";
pub const META_PATH: &str = "/webhooks/meta";
/// The smallest body limit for Meta: one POST may batch up to 1000 updates (research §3), a few
/// hundred KB and more with attachments; refusing it would lose them all to Meta's retries.
/// API Gateway accepts 10 MB and Lambda 6 MB, so 4 MiB is safe.
pub const META_MIN_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub struct IngressSettings {
    pub max_body_bytes: usize,
    pub timestamp_tolerance: Duration,
    pub workflow_secret: Option<Secret>,
    pub default_location_id: Option<String>,
    /// The accounts whose webhooks are acted on ([`allow`]).
    pub allow: allow::AllowList,
    /// Messenger / Instagram, when `META_APP_SECRET` is configured.
    pub meta: Option<meta::MetaIngress>,
    /// How long a request may wait on AWS ([`budget`]).
    pub time_limits: TimeLimits,
}

pub struct Ingress {
    settings: IngressSettings,
    verifier: GhlVerifier,
    queue: Arc<dyn JobQueue>,
    ledger: Arc<dyn WebhookLedger>,
    events: Arc<dyn EventLog>,
}

impl Ingress {
    pub fn new(
        settings: IngressSettings,
        verifier: GhlVerifier,
        queue: Arc<dyn JobQueue>,
        ledger: Arc<dyn WebhookLedger>,
        events: Arc<dyn EventLog>,
    ) -> Self {
        Self {
            settings,
            verifier,
            queue,
            ledger,
            events,
        }
    }

    /// Handles one request: `path` and `query` apart, `body` exactly as received.
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &::http::HeaderMap,
        body: &[u8],
    ) -> Answer {
        let path = path.trim_end_matches('/');
        let (route, source) = match path {
            GHL_MARKETPLACE_PATH => (Route::GhlMarketplace, "ghl"),
            GHL_WORKFLOW_PATH => (Route::GhlWorkflow, "ghl"),
            META_PATH => (Route::Meta, meta::SOURCE),
            _ => return Answer::rejected("unknown", Rejection::NotFound),
        };
        metrics::counter!("webhooks_received", "source" => source).increment(1);
        if matches!(route, Route::Meta) && method == "GET" {
            return self.meta_handshake(query);
        }
        if method != "POST" {
            return Answer::rejected(source, Rejection::MethodNotAllowed);
        }
        let limit = match route {
            Route::Meta => self.settings.max_body_bytes.max(META_MIN_BODY_LIMIT),
            _ => self.settings.max_body_bytes,
        };
        if body.len() > limit {
            return Answer::rejected(source, Rejection::TooLarge { limit });
        }
        if !is_json_content_type(headers) {
            return Answer::rejected(source, Rejection::UnsupportedMediaType);
        }
        match route {
            Route::GhlMarketplace => self.ghl_marketplace(headers, body).await,
            Route::GhlWorkflow => self.ghl_workflow(headers, body).await,
            Route::Meta => self.meta_events(headers, body).await,
        }
    }
}

enum Route {
    GhlMarketplace,
    GhlWorkflow,
    Meta,
}

/// A missing content type is accepted (some senders omit it); a declared non-JSON one is not.
fn is_json_content_type(headers: &::http::HeaderMap) -> bool {
    match headers
        .get(::http::header::CONTENT_TYPE)
        .map(|v| v.to_str())
    {
        None => true,
        Some(Ok(v)) => {
            // Compared case-insensitively in place: no lowercased copy per request.
            let mime = v.split(';').next().unwrap_or("").trim();
            let starts = |p: &str| {
                mime.get(..p.len())
                    .is_some_and(|m| m.eq_ignore_ascii_case(p))
            };
            let ends = |s: &str| {
                mime.len() >= s.len()
                    && mime
                        .get(mime.len() - s.len()..)
                        .is_some_and(|m| m.eq_ignore_ascii_case(s))
            };
            mime.eq_ignore_ascii_case("application/json")
                || (starts("application/") && ends("+json"))
        }
        Some(Err(_)) => false,
    }
}
