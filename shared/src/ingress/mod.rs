//! Ingress: verify, normalise, enqueue, answer fast.
//!
//! Each request ends in one [`Answer`]. What GHL does with it decides the design: it retries a
//! webhook only when answered 429, so 429 is what we answer when we cannot take the event *now*
//! (queue or store unavailable), and every other refusal is final.

pub mod allow;
pub mod answer;
pub mod budget;
pub mod committed_keys;
pub mod http;

use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::digest;

use crate::ports::events::EventLog;
use crate::ports::queue::JobQueue;
use crate::ports::store::WebhookLedger;

pub use answer::{Answer, Rejection};
pub use budget::TimeLimits;

/// One path a source serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    /// The smallest body limit the route needs, whatever `MAX_BODY_BYTES` says.
    pub min_body_limit: usize,
    /// Whether a `GET` is the source's subscription handshake ([`WebhookRoutes::handshake`]).
    pub handshake: bool,
}

/// A request as a route sees it, after the checks every route shares (method, size, type).
pub struct Delivery<'a> {
    pub route: &'a Route,
    pub headers: &'a ::http::HeaderMap,
    /// The query string, undecoded (a sender that cannot set headers carries its token here).
    pub query: &'a str,
    /// Exactly as received: signatures are verified over these bytes.
    pub body: &'a [u8],
}

/// What every route acts with: the queue, the webhook-id ledger, the event log, the accounts
/// this deployment serves, and how long it may wait on AWS.
pub struct IngressParts {
    pub max_body_bytes: usize,
    /// The accounts whose webhooks are acted on ([`allow`]).
    pub allow: allow::AllowList,
    /// How long a request may wait on AWS ([`budget`]).
    pub time_limits: TimeLimits,
    pub queue: Arc<dyn JobQueue>,
    pub ledger: Arc<dyn WebhookLedger>,
    pub events: Arc<dyn EventLog>,
}

/// A source's webhooks: its routes, each verified and parsed by the source and enqueued as jobs.
#[async_trait]
pub trait WebhookRoutes: Send + Sync {
    /// Who sends them: the `source` of ingress's metrics and answers (`ghl`, `meta`).
    fn provider(&self) -> &'static str;
    fn routes(&self) -> &'static [Route];
    /// A `GET` on a route with `handshake`: the subscription check some providers make.
    fn handshake(&self, _route: &Route, _query: &str) -> Answer {
        Answer::rejected(self.provider(), Rejection::MethodNotAllowed)
    }
    /// A `POST`: verify, parse, allow-list, enqueue — and the one answer the sender gets.
    async fn accept(&self, delivery: Delivery<'_>, parts: &IngressParts) -> Answer;
}

pub struct Ingress {
    parts: IngressParts,
    sources: Vec<Arc<dyn WebhookRoutes>>,
}

impl Ingress {
    /// Ingress serving `sources`' routes (registered in `app::registry`).
    pub fn new(parts: IngressParts, sources: Vec<Arc<dyn WebhookRoutes>>) -> Self {
        Self { parts, sources }
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
        let Some((source, route)) = self.sources.iter().find_map(|source| {
            let route = source.routes().iter().find(|r| r.path == path)?;
            Some((source.as_ref(), route))
        }) else {
            return Answer::rejected("unknown", Rejection::NotFound);
        };
        let provider = source.provider();
        metrics::counter!("webhooks_received", "source" => provider).increment(1);
        if route.handshake && method == "GET" {
            return source.handshake(route, query);
        }
        if method != "POST" {
            return Answer::rejected(provider, Rejection::MethodNotAllowed);
        }
        let limit = self.parts.max_body_bytes.max(route.min_body_limit);
        if body.len() > limit {
            return Answer::rejected(provider, Rejection::TooLarge { limit });
        }
        if !is_json_content_type(headers) {
            return Answer::rejected(provider, Rejection::UnsupportedMediaType);
        }
        let delivery = Delivery {
            route,
            headers,
            query,
            body,
        };
        source.accept(delivery, &self.parts).await
    }
}

/// A job id for bodies without a provider id: identical bodies give identical ids, so an exact
/// duplicate delivery is recognised by the consumer.
pub fn body_job_id(prefix: &str, body: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, body);
    format!("{prefix}:{}", hex::encode(&d.as_ref()[..16]))
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
