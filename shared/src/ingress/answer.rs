//! What ingress answers, and the metric each answer counts under.

use serde::Serialize;
use serde_json::json;

use super::allow::Foreign;

/// Why a request was refused; each maps to one status and one metric reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotFound,
    MethodNotAllowed,
    TooLarge {
        limit: usize,
    },
    UnsupportedMediaType,
    Unauthorized {
        reason: &'static str,
        message: String,
    },
    Malformed {
        message: String,
    },
    /// We cannot take the event now; GHL retries 429s (up to six times, ten minutes apart).
    Busy {
        reason: &'static str,
    },
    /// We cannot take the event now; Meta retries a 5xx (a few times, at once).
    Unavailable {
        reason: &'static str,
    },
    /// The Meta subscription handshake with a wrong or missing verify token.
    Forbidden,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::NotFound => 404,
            Rejection::MethodNotAllowed => 405,
            Rejection::TooLarge { .. } => 413,
            Rejection::UnsupportedMediaType => 415,
            Rejection::Unauthorized { .. } => 401,
            Rejection::Malformed { .. } => 400,
            Rejection::Busy { .. } => 429,
            Rejection::Unavailable { .. } => 503,
            Rejection::Forbidden => 403,
        }
    }

    /// Stable, low-cardinality reason: the metric dimension and the `error` field.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::TooLarge { .. } => "body_too_large",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::Unauthorized { reason, .. } => reason,
            Rejection::Malformed { .. } => "malformed",
            Rejection::Busy { reason } | Rejection::Unavailable { reason } => reason,
            Rejection::Forbidden => "verify_token_invalid",
        }
    }

    fn message(&self) -> String {
        match self {
            Rejection::NotFound => "no such route".into(),
            Rejection::MethodNotAllowed => "use POST".into(),
            Rejection::TooLarge { limit } => format!("the body is larger than {limit} bytes"),
            Rejection::UnsupportedMediaType => "the body must be application/json".into(),
            Rejection::Unauthorized { message, .. } | Rejection::Malformed { message } => {
                message.clone()
            }
            Rejection::Busy { .. } | Rejection::Unavailable { .. } => {
                "temporarily unable to accept events; retry later".into()
            }
            Rejection::Forbidden => {
                "hub.mode must be subscribe and hub.verify_token must match META_VERIFY_TOKEN"
                    .into()
            }
        }
    }
}

/// An HTTP answer: status, JSON body and, for 429, a `Retry-After` in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after_secs: Option<u64>,
    pub content_type: &'static str,
}

/// What a 429 asks the sender to wait; GHL uses its own schedule, other senders may honour it.
const BUSY_RETRY_AFTER_SECS: u64 = 60;

impl Answer {
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            body,
            retry_after_secs: None,
            content_type: "application/json",
        }
    }

    /// A plain-text answer: the Meta handshake's challenge, echoed as-is.
    pub fn text(status: u16, body: String) -> Self {
        Self {
            content_type: "text/plain",
            ..Self::json(status, body)
        }
    }

    pub fn enqueued(source: &'static str, job_id: &str) -> Self {
        metrics::counter!("webhooks_enqueued", "source" => source).increment(1);
        // Serialised straight from a struct: the hot path builds no intermediate `Value`.
        #[derive(Serialize)]
        struct Enqueued<'a> {
            status: &'static str,
            job_id: &'a str,
        }
        let body = Enqueued {
            status: "enqueued",
            job_id,
        };
        Self {
            status: 202,
            body: serde_json::to_string(&body).expect("two strings always serialise"),
            retry_after_secs: None,
            content_type: "application/json",
        }
    }

    /// A delivery of a webhook id already accepted: nothing is queued, and the sender is told
    /// it arrived (a 4xx would show as a failure in GHL's webhook logs).
    pub fn duplicate(source: &'static str, job_id: &str) -> Self {
        metrics::counter!("webhooks_duplicate", "source" => source).increment(1);
        Self {
            status: 200,
            body: json!({"status": "duplicate", "job_id": job_id}).to_string(),
            retry_after_secs: None,
            content_type: "application/json",
        }
    }

    /// An event type leadsync does not act on (notes, tasks, another Meta `object`).
    pub fn ignored(source: &'static str, event_type: &str) -> Self {
        metrics::counter!("webhooks_ignored", "source" => source, "reason" => "event_type")
            .increment(1);
        Self::json(
            200,
            json!({"status": "ignored", "event_type": event_type}).to_string(),
        )
    }

    /// A verified event for an account that is not ours ([`super::allow`]). The answer says no
    /// more than `ignored`: which accounts are ours is not the sender's to learn.
    pub fn foreign(source: &'static str, why: Foreign) -> Self {
        metrics::counter!("webhooks_ignored", "source" => source, "reason" => why.reason())
            .increment(1);
        tracing::warn!(
            source,
            reason = why.reason(),
            "verified webhook for an account that is not ours ignored"
        );
        Self::json(200, r#"{"status":"ignored"}"#.to_string())
    }

    /// A route whose secret is not configured refuses everything, and answers exactly as it
    /// would a request with a wrong signature or secret: a 401 must not tell a caller how the
    /// stack is configured. The operator learns it from the metric and the error line.
    pub fn not_configured(
        source: &'static str,
        variable: &'static str,
        looks_like: Rejection,
    ) -> Self {
        metrics::counter!("webhooks_rejected", "source" => source, "reason" => "not_configured")
            .increment(1);
        tracing::error!(
            source,
            variable,
            "webhook refused: the route's secret is not configured"
        );
        Self::refusal(&looks_like)
    }

    /// A 401: the request did not prove it came from the source.
    pub fn unauthorized(
        source: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::rejected(
            source,
            Rejection::Unauthorized {
                reason,
                message: message.into(),
            },
        )
    }

    pub fn rejected(source: &'static str, why: Rejection) -> Self {
        metrics::counter!("webhooks_rejected", "source" => source, "reason" => why.reason())
            .increment(1);
        tracing::warn!(
            source,
            status = why.status(),
            reason = why.reason(),
            "webhook rejected"
        );
        Self::refusal(&why)
    }

    /// The answer to a refusal, without counting it.
    fn refusal(why: &Rejection) -> Self {
        Self {
            status: why.status(),
            body: json!({"error": why.reason(), "message": why.message()}).to_string(),
            retry_after_secs: matches!(why, Rejection::Busy { .. })
                .then_some(BUSY_RETRY_AFTER_SECS),
            content_type: "application/json",
        }
    }
}
