//! How a failed call to a source or sink API is classified: transient (try again later) or
//! permanent (park with the reason), or a refusal of leadsync's own credentials (wait for someone
//! to fix them). Decided once, in the adapter that saw the response.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RemoteError {
    /// 429, 5xx, an HTML error page, a timeout, a refused connection: the same call may work later.
    #[error("{service} is unavailable: {reason}")]
    Transient {
        service: &'static str,
        reason: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// The call was not made: the circuit breaker is open until `retry_after` from now.
    #[error("{service} is not called: the circuit is open")]
    CircuitOpen {
        service: &'static str,
        retry_after: Duration,
    },
    /// 401/403: the service refused leadsync's credentials (a rotated or wrong key, a revoked
    /// app, a token without access). Every call fails the same way until someone fixes them, so
    /// the request was not processed and the job is not at fault: it waits, bounded, instead of
    /// being parked.
    #[error("{service} refused leadsync's credentials (HTTP {status})")]
    CredentialsRejected {
        service: &'static str,
        status: u16,
        excerpt: String,
    },
    /// A 4xx validation error or a contact that cannot be synced: retrying cannot help.
    #[error("{service} refused the request ({status:?}): {reason}")]
    Permanent {
        service: &'static str,
        reason: String,
        status: Option<u16>,
        excerpt: String,
    },
}

/// The longest response excerpt kept with a parked job.
pub const EXCERPT_LEN: usize = 512;

impl RemoteError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Transient { .. } | RemoteError::CircuitOpen { .. }
        )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Transient { status, .. } | RemoteError::Permanent { status, .. } => {
                *status
            }
            RemoteError::CredentialsRejected { status, .. } => Some(*status),
            RemoteError::CircuitOpen { .. } => None,
        }
    }

    /// Classifies an HTTP answer that was not a success.
    pub fn from_status(
        service: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Self {
        let excerpt = excerpt(body);
        let looks_html = body.trim_start().starts_with('<');
        match status {
            408 | 425 | 429 | 500..=599 => RemoteError::Transient {
                service,
                reason: if looks_html {
                    format!("HTTP {status} with an HTML error page")
                } else {
                    format!("HTTP {status}")
                },
                status: Some(status),
                retry_after,
            },
            401 | 403 => RemoteError::CredentialsRejected {
                service,
                status,
                excerpt,
            },
            _ => RemoteError::Permanent {
                service,
                reason: format!("HTTP {status}: {excerpt}"),
                status: Some(status),
                excerpt,
            },
        }
    }

    /// Classifies a failure to get any answer at all.
    pub fn from_reqwest(service: &'static str, err: &reqwest::Error) -> Self {
        let reason = if err.is_timeout() {
            "timed out".to_string()
        } else if err.is_connect() {
            "connection failed".to_string()
        } else {
            format!("request failed: {err}")
        };
        RemoteError::Transient {
            service,
            reason,
            status: None,
            retry_after: None,
        }
    }
}

/// The first [`EXCERPT_LEN`] bytes of a response body, cut on a character boundary.
pub fn excerpt(body: &str) -> String {
    let mut end = body.len().min(EXCERPT_LEN);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].trim().to_string()
}

/// The `api` dimension of the `credentials_rejected` metric for a service.
pub fn credentials_api(service: &str) -> &'static str {
    if service.starts_with("CallTools") {
        "calltools"
    } else {
        "ghl"
    }
}

/// Which credentials an operator has to look at after a [`RemoteError::CredentialsRejected`].
pub fn credentials_hint(service: &str) -> &'static str {
    match service {
        "CallTools" => "check CALLTOOLS_API_KEY (was the key rotated in CallTools?)",
        "GoHighLevel OAuth" => {
            "check GHL_OAUTH_CLIENT_ID and GHL_OAUTH_CLIENT_SECRET against the Marketplace app"
        }
        _ => {
            "check GHL_API_TOKEN (was the Private Integration rotated?) or, with OAuth, authorise the app again"
        }
    }
}

/// Reads `Retry-After` given in seconds (the form APIs use; HTTP dates are ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_transient() {
        for status in [429, 500, 502, 503, 504, 408] {
            assert!(
                RemoteError::from_status("CallTools", status, None, "").is_transient(),
                "{status}"
            );
        }
        let e = RemoteError::from_status(
            "CallTools",
            503,
            None,
            "<html><body>Bad gateway</body></html>",
        );
        assert!(e.to_string().contains("HTML"), "{e}");
    }

    #[test]
    fn client_errors_are_permanent_and_keep_an_excerpt() {
        let e = RemoteError::from_status(
            "CallTools",
            400,
            None,
            r#"{"email":["x is a invalid email address"]}"#,
        );
        let RemoteError::Permanent {
            status, excerpt, ..
        } = e
        else {
            panic!()
        };
        assert_eq!(status, Some(400));
        assert!(excerpt.contains("invalid email"));
    }

    #[test]
    fn refused_credentials_are_neither_transient_nor_permanent() {
        for status in [401, 403] {
            let e = RemoteError::from_status(
                "CallTools",
                status,
                None,
                r#"{"detail":"Invalid token."}"#,
            );
            assert_eq!(
                e,
                RemoteError::CredentialsRejected {
                    service: "CallTools",
                    status,
                    excerpt: r#"{"detail":"Invalid token."}"#.into(),
                }
            );
            assert!(!e.is_transient(), "{status}");
            assert_eq!(e.status(), Some(status));
        }
    }

    #[test]
    fn the_metric_dimension_names_the_api() {
        assert_eq!(credentials_api("CallTools"), "calltools");
        assert_eq!(credentials_api("GoHighLevel"), "ghl");
        assert_eq!(credentials_api("GoHighLevel OAuth"), "ghl");
    }

    #[test]
    fn excerpts_are_bounded_and_cut_on_char_boundaries() {
        let long = "é".repeat(1000);
        let e = excerpt(&long);
        assert!(e.len() <= EXCERPT_LEN);
        assert!(e.chars().all(|c| c == 'é'));
    }
}
