//! `POST /webhooks/calltools?model=call|contact&token=…`: CallTools' REST hooks.
//!
//! CallTools does not sign its hooks and a subscription is only a URL, so the URL carries the
//! proof: an unguessable token (`CALLTOOLS_HOOK_TOKEN`, compared in constant time over its
//! SHA-256). The body is not trusted: it names the object, which the consumer reads again from
//! the CallTools API before anything is written. A hook about a contact leadsync did not place
//! in CallTools is acknowledged and ignored. CallTools' retry behaviour is not documented, so a
//! store or queue outage answers 503 and the backfill recovers what is lost.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::clock::now_ms;
use crate::domain::job::{Origin, SyncJob};
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ingress::{Answer, Delivery, IngressParts, Rejection, Route, WebhookRoutes};
use crate::ports::events::Received;
use crate::ports::store::SinkIndex;
use crate::sources::calltools::SOURCE;
use crate::sources::calltools::hook::{HookModel, parse_hook};
use crate::sources::calltools::job::CallToolsJob;
use crate::support::secret::Secret;

pub const CALLTOOLS_PATH: &str = "/webhooks/calltools";
const ROUTES: [Route; 1] = [Route {
    path: CALLTOOLS_PATH,
    min_body_limit: 0,
    handshake: false,
}];

/// CallTools' route. Served even without `CALLTOOLS_HOOK_TOKEN`, to refuse everything (401).
pub struct CallToolsRoutes {
    pub token: Option<Secret>,
    /// Finds the GHL contact leadsync placed as a CallTools contact.
    pub placed: Arc<dyn SinkIndex>,
}

#[async_trait]
impl WebhookRoutes for CallToolsRoutes {
    fn provider(&self) -> &'static str {
        SOURCE
    }

    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }

    async fn accept(&self, d: Delivery<'_>, parts: &IngressParts) -> Answer {
        let Some(token) = &self.token else {
            return Answer::not_configured(SOURCE, "CALLTOOLS_HOOK_TOKEN", token_invalid());
        };
        let presented = param(d.query, "token").unwrap_or_default();
        if !token.matches(presented.as_bytes()) {
            return Answer::rejected(SOURCE, token_invalid());
        }
        metrics::counter!("webhooks_verified", "source" => SOURCE).increment(1);
        let model = match param(d.query, "model")
            .as_deref()
            .and_then(HookModel::parse)
        {
            Some(m) => m,
            None => {
                return malformed(
                    "the subscription URL must name its model: ?model=call or ?model=contact",
                );
            }
        };
        let hooked = match parse_hook(model, d.body) {
            Ok(h) => h,
            Err(e) => return malformed(&e),
        };
        let budget = parts.time_limits.start();
        let placed = match budget
            .call(
                "sink_index",
                self.placed.placed_as(SinkId::CallTools, hooked.contact_id),
            )
            .await
        {
            Ok(keys) => keys,
            Err(e) => return unavailable("store_unavailable", &e.to_string()),
        };
        // Only GHL contacts take outcomes back; a Messenger or Instagram lead has nowhere to go.
        let ours: Vec<_> = placed
            .into_iter()
            .filter(|k| k.source == Source::Ghl)
            .collect();
        if ours.is_empty() {
            metrics::counter!("webhooks_ignored", "source" => SOURCE, "reason" => "not_placed")
                .increment(1);
            return Answer::json(200, r#"{"status":"ignored"}"#.to_string());
        }
        let now = now_ms();
        let mut last = String::new();
        for ghl in ours {
            let job = SyncJob::new(CallToolsJob::new(
                &hooked,
                ghl,
                Origin::Webhook,
                now,
                d.body,
            ));
            if let Err(e) = budget.call("enqueue", parts.queue.enqueue(&job)).await {
                return unavailable("queue_unavailable", &e.to_string());
            }
            tracing::info!(job_id = job.id(), contact = %job.contact_key(), "calltools hook enqueued");
            let received = Received {
                contact: &job.contact_key(),
                job_id: job.id(),
                trigger: job.trigger(),
                received_at_ms: job.received_at_ms(),
            };
            if let Err(e) = budget
                .call("event_log", parts.events.received(&received))
                .await
            {
                tracing::warn!(job_id = job.id(), error = %e, "event log entry for the hook not written");
            }
            last = job.id().to_string();
        }
        Answer::enqueued(SOURCE, &last)
    }
}

fn token_invalid() -> Rejection {
    Rejection::Unauthorized {
        reason: "token_invalid",
        message: "missing or wrong token in the subscription URL (?token=)".into(),
    }
}

fn malformed(message: &str) -> Answer {
    Answer::rejected(
        SOURCE,
        Rejection::Malformed {
            message: message.to_string(),
        },
    )
}

fn unavailable(reason: &'static str, error: &str) -> Answer {
    tracing::error!(
        reason,
        error,
        "cannot accept the CallTools hook now; answering 503"
    );
    Answer::rejected(SOURCE, Rejection::Unavailable { reason })
}

/// One query parameter, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

#[cfg(test)]
mod tests;
