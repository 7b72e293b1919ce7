//! The two GoHighLevel routes.
//!
//! Replay protection for Marketplace webhooks: the `timestamp` must be within the tolerance
//! (default 5 minutes, either side) and the `webhookId` must be new. One exception keeps GHL's
//! retries working: when we answered a delivery 429, its id is marked retryable, and the retry
//! — which can arrive up to ~70 minutes later carrying the original timestamp — is accepted once.

use ::http::HeaderName;
use aws_lc_rs::digest;

use crate::clock::now_ms;
use crate::contact::ContactKey;
use crate::ghl::webhook::{MarketplaceEvent, parse_marketplace, parse_workflow};
use crate::ingress::{Answer, Ingress, Rejection};
use crate::job::{GhlContactJob, GhlTrigger, SyncJob};
use crate::store::WebhookClaim;
use crate::store::events::Received;

const SOURCE: &str = "ghl";
/// Header names made once: a lookup by `&str` parses and validates the name every time.
static X_GHL_SIGNATURE: HeaderName = HeaderName::from_static("x-ghl-signature");
static X_WH_SIGNATURE: HeaderName = HeaderName::from_static("x-wh-signature");

impl Ingress {
    pub(crate) async fn ghl_marketplace(&self, headers: &::http::HeaderMap, body: &[u8]) -> Answer {
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
        let now = now_ms();
        if let Some(ts) = event.timestamp_ms {
            let tolerance = self.settings.timestamp_tolerance.as_millis() as i64;
            if (now - ts).abs() > tolerance {
                let retry_of_ours = match &event.webhook_id {
                    Some(id) => match self.ledger.retry_allowed(SOURCE, id).await {
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
                            (now - ts).abs() / 1000,
                            tolerance / 1000
                        ),
                    );
                }
            }
        }
        let job_id = match &event.webhook_id {
            Some(id) => format!("ghl:{id}"),
            None => body_job_id("ghl", body),
        };
        if let Some(id) = &event.webhook_id {
            match self.ledger.claim_webhook(SOURCE, id, now).await {
                Ok(WebhookClaim::New) => {}
                Ok(WebhookClaim::Replayed {
                    first_received_at_ms,
                }) => {
                    // GHL delivered it again (or someone replays it within the tolerance): the
                    // first delivery was queued, so this one is answered and dropped, on record.
                    if let Some(first) = first_received_at_ms {
                        let original = Received {
                            contact: &ContactKey::ghl(&event.location_id, &event.contact_id),
                            job_id: &job_id,
                            trigger: event.trigger.as_str(),
                            received_at_ms: first,
                        };
                        if let Err(e) = self.events.duplicate_delivery(&original).await {
                            tracing::warn!(job_id, error = %e, "duplicate delivery not counted in the event log");
                        }
                    }
                    return Answer::duplicate(SOURCE, &job_id);
                }
                Err(e) => return busy("store_unavailable", &e.to_string()),
            }
        }
        let job = SyncJob::GhlContact(GhlContactJob {
            job_id,
            location_id: event.location_id,
            contact_id: event.contact_id,
            trigger: event.trigger,
            version_ms: event.timestamp_ms,
            received_at_ms: now,
            payload: raw_payload(body),
        });
        let answer = self.enqueue(&job).await;
        if answer.status == 429
            && let Some(id) = &event.webhook_id
            && let Err(e) = self.ledger.allow_retry(SOURCE, id).await
        {
            tracing::error!(error = %e, "could not mark the webhook retryable; its retry will be refused as a replay and the backfill will repair it");
        }
        answer
    }

    pub(crate) async fn ghl_workflow(&self, headers: &::http::HeaderMap, body: &[u8]) -> Answer {
        let Some(secret) = &self.settings.workflow_secret else {
            return Answer::unauthorized(
                SOURCE,
                "secret_not_configured",
                "GHL_WORKFLOW_SECRET is not configured; workflow webhooks are refused",
            );
        };
        if !presented_secret(headers).is_some_and(|p| secret.matches(p)) {
            return Answer::unauthorized(
                SOURCE,
                "secret_invalid",
                "missing or wrong Authorization: Bearer / X-API-Key secret",
            );
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
            .or_else(|| self.settings.default_location_id.clone())
        else {
            return Answer::rejected(
                SOURCE,
                Rejection::Malformed {
                    message: "the body has no location.id and GHL_LOCATION_ID is not configured"
                        .into(),
                },
            );
        };
        let job = SyncJob::GhlContact(GhlContactJob {
            job_id: body_job_id("ghlwf", body),
            location_id,
            contact_id: event.contact_id,
            trigger: GhlTrigger::Workflow,
            version_ms: None,
            received_at_ms: now_ms(),
            payload: raw_payload(body),
        });
        self.enqueue(&job).await
    }

    async fn enqueue(&self, job: &SyncJob) -> Answer {
        if let Err(e) = self.queue.enqueue(job).await {
            return busy("queue_unavailable", &e.to_string());
        }
        tracing::info!(job_id = job.id(), contact = %job.contact_key(), "webhook enqueued");
        // After the enqueue, so the log never claims a job that is not on the queue. The log
        // answers questions; the job is safe without it, so a failed write only warns.
        let received = Received {
            contact: &job.contact_key(),
            job_id: job.id(),
            trigger: job.trigger(),
            received_at_ms: job.received_at_ms(),
        };
        if let Err(e) = self.events.received(&received).await {
            tracing::warn!(job_id = job.id(), error = %e, "event log entry for the webhook not written");
        }
        Answer::enqueued(SOURCE, job.id())
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

/// A job id for bodies without a provider id: identical bodies give identical ids, so an exact
/// duplicate delivery is recognised by the consumer.
pub fn body_job_id(prefix: &str, body: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, body);
    format!("{prefix}:{}", hex::encode(&d.as_ref()[..16]))
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
