//! `GET /webhooks/meta`: the subscription handshake. `POST /webhooks/meta`: Messenger and
//! Instagram events, signed with the app secret.
//!
//! Meta wants a 200 within 5 seconds and retries failures a few times at once, so one POST is
//! verified, split into one job per item and enqueued in batches; a queue outage answers 503 so
//! Meta retries. Duplicates are settled by the consumer on the job id (`mid` for messages).

use ::http::HeaderName;
use async_trait::async_trait;
use serde::Serialize;

use crate::domain::clock::now_ms;
use crate::domain::job::{Origin, SyncJob};
use crate::ingress::allow::Foreign;
use crate::ingress::body_job_id;
use crate::ingress::budget::Budget;
use crate::ingress::{Answer, Delivery, IngressParts, Rejection, Route, WebhookRoutes};
use crate::ports::events::Received;
use crate::sources::meta::event::EventKind;
use crate::sources::meta::job::MetaJob;
use crate::sources::meta::verify::{MetaSignatureError, MetaVerifier, read_header};
use crate::sources::meta::webhook::{Batch, Item, parse};
use crate::support::secret::Secret;

pub(crate) const SOURCE: &str = "meta";
static X_HUB_SIGNATURE_256: HeaderName = HeaderName::from_static("x-hub-signature-256");
/// The challenge is "an int"; anything much longer is not Meta.
const MAX_CHALLENGE_LEN: usize = 256;

/// Messenger's and Instagram's one route.
pub const META_PATH: &str = "/webhooks/meta";
/// One POST may batch up to 1000 updates (research §3), a few hundred KB and more with
/// attachments; refusing it would lose them all to Meta's retries. API Gateway accepts 10 MB and
/// Lambda 6 MB, so 4 MiB is safe.
pub const META_MIN_BODY_LIMIT: usize = 4 * 1024 * 1024;
const ROUTES: [Route; 1] = [Route {
    path: META_PATH,
    min_body_limit: META_MIN_BODY_LIMIT,
    handshake: true,
}];

/// What ingress needs for Meta: the app secret (as a key) and the handshake's verify token.
pub struct MetaIngress {
    pub verifier: MetaVerifier,
    pub verify_token: Option<Secret>,
}

/// Meta's route. Served even when `META_APP_SECRET` is not configured, to say so (401).
pub struct MetaRoutes {
    pub meta: Option<MetaIngress>,
}

#[async_trait]
impl WebhookRoutes for MetaRoutes {
    fn provider(&self) -> &'static str {
        SOURCE
    }

    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }

    fn handshake(&self, _route: &Route, query: &str) -> Answer {
        self.verify_subscription(query)
    }

    async fn accept(&self, d: Delivery<'_>, parts: &IngressParts) -> Answer {
        self.events(parts, d.headers, d.body).await
    }
}

impl MetaRoutes {
    /// The handshake: the challenge back as-is when the token matches, 403 otherwise.
    fn verify_subscription(&self, query: &str) -> Answer {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| decode(v))
        };
        let token_ok = match (&self.meta, param("hub.verify_token")) {
            (
                Some(MetaIngress {
                    verify_token: Some(expected),
                    ..
                }),
                Some(given),
            ) => expected.matches(given.as_bytes()),
            _ => false,
        };
        let challenge = param("hub.challenge").unwrap_or_default();
        if param("hub.mode").as_deref() != Some("subscribe")
            || !token_ok
            || challenge.is_empty()
            || challenge.len() > MAX_CHALLENGE_LEN
        {
            return Answer::rejected(SOURCE, Rejection::Forbidden);
        }
        metrics::counter!("webhooks_verified", "source" => SOURCE).increment(1);
        Answer::text(200, challenge)
    }

    async fn events(
        &self,
        parts: &IngressParts,
        headers: &::http::HeaderMap,
        body: &[u8],
    ) -> Answer {
        let signature = headers.get(&X_HUB_SIGNATURE_256).map(|v| v.as_bytes());
        let Some(meta) = &self.meta else {
            let looks_like = read_header(signature)
                .err()
                .unwrap_or(MetaSignatureError::Invalid);
            return Answer::not_configured(
                SOURCE,
                "META_APP_SECRET",
                Rejection::Unauthorized {
                    reason: looks_like.reason(),
                    message: looks_like.to_string(),
                },
            );
        };
        if let Err(e) = meta.verifier.verify(signature, body) {
            return Answer::unauthorized(SOURCE, e.reason(), e.to_string());
        }
        metrics::counter!("webhooks_verified", "source" => SOURCE).increment(1);
        let items = match parse(body) {
            Ok(Batch::Items { items, .. }) => items,
            Ok(Batch::OtherObject(object)) => return Answer::ignored(SOURCE, &object),
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
        let mut jobs = Vec::with_capacity(items.len());
        let (mut ignored, mut foreign) = (0usize, 0usize);
        for item in items {
            match item {
                Item::Event { event, .. }
                    if parts.allow.meta_account(&event.account_id).is_err() =>
                {
                    foreign += 1;
                }
                Item::Event { event, raw } => jobs.push(SyncJob::new(MetaJob {
                    job_id: job_id(&event.kind, raw),
                    event,
                    received_at_ms: now,
                    origin: Origin::Webhook,
                    payload: raw.to_string(),
                })),
                Item::Unknown { kind } => {
                    tracing::info!(kind, "Meta webhook item of a kind leadsync does not act on");
                    metrics::counter!("webhook_items_ignored", "source" => SOURCE, "reason" => "kind")
                        .increment(1);
                    ignored += 1;
                }
            }
        }
        if foreign > 0 {
            metrics::counter!("webhook_items_ignored", "source" => SOURCE, "reason" => Foreign::Account.reason())
                .increment(foreign as u64);
            if jobs.is_empty() {
                return Answer::foreign(SOURCE, Foreign::Account);
            }
            tracing::warn!(
                foreign,
                "Meta webhook items for a Page or account that is not ours ignored"
            );
            ignored += foreign;
        }
        let budget = parts.time_limits.start();
        if let Err(e) = budget
            .call("enqueue", parts.queue.enqueue_batch(&jobs))
            .await
        {
            // Some may be on the queue: Meta's retry brings them again and the job ids settle it.
            tracing::error!(error = %e, "cannot enqueue Meta events now; answering 503 so Meta retries");
            return Answer::rejected(
                SOURCE,
                Rejection::Unavailable {
                    reason: "queue_unavailable",
                },
            );
        }
        log_received(parts, &budget, &jobs).await;
        metrics::counter!("webhook_items_enqueued", "source" => SOURCE)
            .increment(jobs.len() as u64);
        #[derive(Serialize)]
        struct Accepted {
            status: &'static str,
            jobs: usize,
            ignored: usize,
        }
        let body = Accepted {
            status: "enqueued",
            jobs: jobs.len(),
            ignored,
        };
        metrics::counter!("webhooks_enqueued", "source" => SOURCE).increment(1);
        Answer::json(200, serde_json::to_string(&body).unwrap_or_default())
    }
}

/// One event-log entry per job, written side by side: the log is for questions later, so a failed
/// write only warns.
async fn log_received(parts: &IngressParts, budget: &Budget, jobs: &[SyncJob]) {
    let keys: Vec<_> = jobs.iter().map(SyncJob::contact_key).collect();
    let writes = jobs.iter().zip(&keys).map(|(job, contact)| async move {
            let received = Received {
                contact,
                job_id: job.id(),
                trigger: job.trigger(),
                received_at_ms: job.received_at_ms(),
            };
            if let Err(e) = budget
                .call("event_log", parts.events.received(&received))
                .await
            {
                tracing::warn!(job_id = job.id(), error = %e, "event log entry for the webhook item not written");
            }
        });
    futures::future::join_all(writes).await;
}

/// Messages are one job per `mid` (the same message delivered twice, or once under
/// `messaging` and once under `standby`, is one job); edits per edit; anything else by its
/// exact text.
fn job_id(kind: &EventKind, raw: &str) -> String {
    match kind {
        EventKind::Message(m) => format!("meta:msg:{}", m.mid),
        EventKind::Edit { mid, num_edit, .. } => format!("meta:edit:{mid}:{num_edit}"),
        EventKind::Unsend { mid } => format!("meta:unsend:{mid}"),
        _ => body_job_id("meta", raw.as_bytes()),
    }
}

/// A query value: `+` is a space, `%XX` a byte.
fn decode(v: &str) -> String {
    let spaced = v.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
