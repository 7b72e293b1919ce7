//! The two GoHighLevel routes.
//!
//! Replay protection for Marketplace webhooks: the `timestamp` must be within the tolerance
//! (default 5 minutes, either side) and the `webhookId` must not belong to a job already on the
//! queue. The id is recorded `PENDING` when a delivery arrives and `ACCEPTED` only once its job
//! is on the queue, so a delivery we answered 429 (or that was cut short) leaves its id open:
//! GHL's retry — which can arrive up to ~70 minutes later with the original timestamp — is
//! recognised as ours and enqueued, and nothing has to be written after a failure for that.
//!
//! Job ids ([`marketplace_job_id`], [`workflow_job_id`]) collapse GHL's retry of one delivery
//! and never a later change that happens to send the same bytes.

use std::time::Duration;

use ::http::HeaderName;
use async_trait::async_trait;

use crate::domain::clock::now_ms;
use crate::domain::contact::ContactKey;
use crate::domain::job::SyncJob;
use crate::ingress::body_job_id;
use crate::ingress::budget::Budget;
use crate::ingress::{Answer, Delivery, IngressParts, Rejection, Route, WebhookRoutes};
use crate::ports::events::Received;
use crate::ports::store::WebhookClaim;
use crate::sources::ghl::job::{GhlContactJob, GhlTrigger};
use crate::sources::ghl::verify::GhlVerifier;
use crate::sources::ghl::webhook::{MarketplaceEvent, parse_marketplace, parse_workflow};
use crate::support::secret::Secret;

const SOURCE: &str = "ghl";
/// Header names made once: a lookup by `&str` parses and validates the name every time.
static X_GHL_SIGNATURE: HeaderName = HeaderName::from_static("x-ghl-signature");
static X_WH_SIGNATURE: HeaderName = HeaderName::from_static("x-wh-signature");

/// The Marketplace app's webhooks (signed by GHL).
pub const GHL_MARKETPLACE_PATH: &str = "/webhooks/ghl";
/// The workflow "Custom Webhook" action's (a shared secret).
pub const GHL_WORKFLOW_PATH: &str = "/webhooks/ghl/workflow";
const ROUTES: [Route; 2] = [
    Route {
        path: GHL_MARKETPLACE_PATH,
        min_body_limit: 0,
        handshake: false,
    },
    Route {
        path: GHL_WORKFLOW_PATH,
        min_body_limit: 0,
        handshake: false,
    },
];

/// GoHighLevel's two routes and what verifying them takes.
pub struct GhlRoutes {
    pub verifier: GhlVerifier,
    /// How far a Marketplace `timestamp` may be from now, either side.
    pub timestamp_tolerance: Duration,
    /// The workflow action's secret; without it the route answers 401.
    pub workflow_secret: Option<Secret>,
    /// The location of a workflow body that names none.
    pub default_location_id: Option<String>,
}

#[async_trait]
impl WebhookRoutes for GhlRoutes {
    fn provider(&self) -> &'static str {
        SOURCE
    }

    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }

    async fn accept(&self, d: Delivery<'_>, parts: &IngressParts) -> Answer {
        if d.route.path == GHL_WORKFLOW_PATH {
            self.workflow(parts, d.headers, d.body).await
        } else {
            self.marketplace(parts, d.headers, d.body).await
        }
    }
}

impl GhlRoutes {
    async fn marketplace(
        &self,
        parts: &IngressParts,
        headers: &::http::HeaderMap,
        body: &[u8],
    ) -> Answer {
        let ghl_sig = headers.get(&X_GHL_SIGNATURE).map(|v| v.as_bytes());
        let wh_sig = headers.get(&X_WH_SIGNATURE).map(|v| v.as_bytes());
        if let Err(e) = self.verifier.verify(ghl_sig, wh_sig, body) {
            return Answer::unauthorized(SOURCE, e.reason(), e.to_string());
        }
        metrics::counter!("webhooks_verified", "source" => SOURCE).increment(1);
        let event = match parse_marketplace(body) {
            Ok(MarketplaceEvent::Contact(e)) => e,
            Ok(MarketplaceEvent::Other { event_type }) => {
                return Answer::ignored(SOURCE, &event_type);
            }
            Err(e) => {
                return Answer::rejected(
                    SOURCE,
                    Rejection::Malformed {
                        message: e.to_string(),
                    },
                );
            }
        };
        if let Err(why) = parts.allow.ghl(&event.location_id, event.app_id.as_deref()) {
            return Answer::foreign(SOURCE, why);
        }
        // Without a time a replay cannot be told from a delivery: GHL's envelope always has one.
        let Some(ts) = event.timestamp_ms else {
            return Answer::unauthorized(
                SOURCE,
                "timestamp_missing",
                "the body has no timestamp; a signed body without one could be replayed forever",
            );
        };
        let budget = parts.time_limits.start();
        let now = now_ms();
        let tolerance = self.timestamp_tolerance.as_millis();
        // `abs_diff`: any i64 the body carries, however far off, cannot overflow the check.
        let skew = u128::from(now.abs_diff(ts));
        if skew > tolerance {
            let retry_of_ours = match &event.webhook_id {
                Some(id) => match budget
                    .call(
                        "webhook_retry_check",
                        parts.ledger.retry_allowed(SOURCE, id),
                    )
                    .await
                {
                    Ok(allowed) => allowed,
                    Err(e) => return busy("store_unavailable", &e.to_string()),
                },
                None => false,
            };
            if !retry_of_ours {
                return Answer::unauthorized(
                    SOURCE,
                    "timestamp_stale",
                    format!(
                        "the timestamp is {} s away from now; the tolerance is {} s",
                        skew / 1000,
                        tolerance / 1000
                    ),
                );
            }
        }
        let job_id = marketplace_job_id(event.webhook_id.as_deref(), body);
        let contact = ContactKey::ghl(&event.location_id, &event.contact_id);
        // Side by side: a duplicate delivery counted too only makes a number go unused.
        let claim = async {
            match &event.webhook_id {
                Some(id) => Some(
                    budget
                        .call("webhook_claim", parts.ledger.claim_webhook(SOURCE, id, now))
                        .await,
                ),
                None => None,
            }
        };
        let (claim, arrival) = futures::join!(claim, arrival(parts, &budget, &contact));
        if let Some(claim) = claim {
            match claim {
                Ok(WebhookClaim::New) => {}
                Ok(WebhookClaim::Replayed {
                    first_received_at_ms,
                }) => {
                    // Its job is on the queue: this delivery is answered and dropped, on record.
                    if let Some(first) = first_received_at_ms {
                        let original = Received {
                            contact: &contact,
                            job_id: &job_id,
                            trigger: event.trigger.as_str(),
                            received_at_ms: first,
                        };
                        if let Err(e) = budget
                            .call("event_log", parts.events.duplicate_delivery(&original))
                            .await
                        {
                            tracing::warn!(job_id, error = %e, "duplicate delivery not counted in the event log");
                        }
                    }
                    return Answer::duplicate(SOURCE, &job_id);
                }
                Err(e) => return busy("store_unavailable", &e.to_string()),
            }
        }
        let job = SyncJob::new(GhlContactJob {
            job_id,
            location_id: event.location_id,
            contact_id: event.contact_id,
            trigger: event.trigger,
            version_ms: Some(ts),
            received_at_ms: now,
            arrival,
            payload: raw_payload(body),
        });
        self.enqueue(parts, &budget, &job, event.webhook_id.as_deref())
            .await
    }

    async fn workflow(
        &self,
        parts: &IngressParts,
        headers: &::http::HeaderMap,
        body: &[u8],
    ) -> Answer {
        let Some(secret) = &self.workflow_secret else {
            return Answer::not_configured(SOURCE, "GHL_WORKFLOW_SECRET", secret_invalid());
        };
        if !presented_secret(headers).is_some_and(|p| secret.matches(p)) {
            return Answer::rejected(SOURCE, secret_invalid());
        }
        metrics::counter!("webhooks_verified", "source" => SOURCE).increment(1);
        let event = match parse_workflow(body) {
            Ok(e) => e,
            Err(e) => {
                return Answer::rejected(
                    SOURCE,
                    Rejection::Malformed {
                        message: e.to_string(),
                    },
                );
            }
        };
        let Some(location_id) = event
            .location_id
            .or_else(|| self.default_location_id.clone())
        else {
            return Answer::rejected(
                SOURCE,
                Rejection::Malformed {
                    message: "the body has no location.id and GHL_LOCATION_ID is not configured"
                        .into(),
                },
            );
        };
        if let Err(why) = parts.allow.ghl(&location_id, None) {
            return Answer::foreign(SOURCE, why);
        }
        let budget = parts.time_limits.start();
        let now = now_ms();
        let arrival = arrival(
            parts,
            &budget,
            &ContactKey::ghl(&location_id, &event.contact_id),
        )
        .await;
        let job = SyncJob::new(GhlContactJob {
            job_id: workflow_job_id(body, now),
            location_id,
            contact_id: event.contact_id,
            trigger: GhlTrigger::Workflow,
            version_ms: None,
            received_at_ms: now,
            arrival,
            payload: raw_payload(body),
        });
        self.enqueue(parts, &budget, &job, None).await
    }

    /// Puts the job on the queue, then — only then — records its webhook id as accepted.
    async fn enqueue(
        &self,
        parts: &IngressParts,
        budget: &Budget,
        job: &SyncJob,
        webhook_id: Option<&str>,
    ) -> Answer {
        if let Err(e) = budget.call("enqueue", parts.queue.enqueue(job)).await {
            return busy("queue_unavailable", &e.to_string());
        }
        tracing::info!(job_id = job.id(), contact = %job.contact_key(), "webhook enqueued");
        // The job is safe on the queue; both writes below only save work later, so they go side
        // by side and a failed one only warns. An id left `PENDING` gets a replay of it enqueued
        // again, which the job id makes a duplicate the consumer drops.
        let accepted = async {
            let Some(id) = webhook_id else { return };
            if let Err(e) = budget
                .call("webhook_queued", parts.ledger.mark_queued(SOURCE, id))
                .await
            {
                tracing::warn!(job_id = job.id(), error = %e, "webhook id not marked queued; a replay of it would be enqueued again");
            }
        };
        let received = Received {
            contact: &job.contact_key(),
            job_id: job.id(),
            trigger: job.trigger(),
            received_at_ms: job.received_at_ms(),
        };
        let logged = async {
            if let Err(e) = budget
                .call("event_log", parts.events.received(&received))
                .await
            {
                tracing::warn!(job_id = job.id(), error = %e, "event log entry for the webhook not written");
            }
        };
        futures::join!(accepted, logged);
        Answer::enqueued(SOURCE, job.id())
    }
}

fn secret_invalid() -> Rejection {
    Rejection::Unauthorized {
        reason: "secret_invalid",
        message: "missing or wrong Authorization: Bearer / X-API-Key secret".into(),
    }
}

fn busy(reason: &'static str, error: &str) -> Answer {
    tracing::error!(
        reason,
        error,
        "cannot accept the webhook now; answering 429 so GHL retries"
    );
    Answer::rejected(SOURCE, Rejection::Busy { reason })
}

/// The workflow action can send the secret as `Authorization: Bearer <s>` or as an API-key
/// header (`X-API-Key`).
fn presented_secret(headers: &::http::HeaderMap) -> Option<&[u8]> {
    if let Some(auth) = headers.get(::http::header::AUTHORIZATION) {
        let v = auth.as_bytes();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            return Some(v[7..].trim_ascii());
        }
    }
    headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii())
}

/// The webhook's number for its contact ([`GhlContactJob::arrival`]), counted before its job is
/// queued. Not counted (DynamoDB slow or down), the job is queued all the same and only costs
/// the read the number would have saved.
async fn arrival(parts: &IngressParts, budget: &Budget, contact: &ContactKey) -> Option<i64> {
    match budget
        .call("webhook_arrival", parts.ledger.arrived(contact))
        .await
    {
        Ok(n) => Some(n),
        Err(e) => {
            metrics::counter!("webhook_arrivals_uncounted", "source" => SOURCE).increment(1);
            tracing::warn!(contact = %contact, error = %e, "webhook not counted; its job reads the contact whatever was read before");
            None
        }
    }
}

/// A Marketplace delivery's job id. GHL retries a delivery (only one we answered 429) with the
/// same bytes, so what the bytes carry decides:
/// - `webhookId`: `ghl:<webhookId>`, one id per delivery, its retries included;
/// - no `webhookId`: the body's hash. The event time is in the body (a body without one is
///   refused), so a later change — even one that puts the contact back exactly as it was —
///   hashes differently, and a retry hashes the same. (Two identical bodies with the same
///   `timestamp` cannot be told apart from a retry; the consumer's read of the contact and the
///   backfill cover that case.)
pub fn marketplace_job_id(webhook_id: Option<&str>, body: &[u8]) -> String {
    match webhook_id {
        Some(id) => format!("ghl:{id}"),
        None => body_job_id("ghl", body),
    }
}

/// A workflow webhook's job id: the body's hash and its arrival time. The workflow action sends
/// no event id and no event time, and GHL does not retry it (research §2.5), so every delivery is
/// a run of the workflow — a change. Tag added, removed and added again sends the same bytes
/// twice; both must be applied. A duplicate POST, if one ever came, would run once more:
/// a GHL read and, for a contact that did not change, no CallTools write.
pub fn workflow_job_id(body: &[u8], received_at_ms: i64) -> String {
    arrival_job_id("ghlwf", body, received_at_ms)
}

fn arrival_job_id(prefix: &str, body: &[u8], received_at_ms: i64) -> String {
    format!("{}:{received_at_ms}", body_job_id(prefix, body))
}

/// The body as the job's payload; it parsed as JSON, so it is UTF-8 and nothing is lost.
/// `from_utf8` checks it several times faster than `from_utf8_lossy`, which is left for the
/// body that is not (invalid bytes inside a string the parser skipped).
fn raw_payload(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests;
