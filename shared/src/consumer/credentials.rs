//! A job whose call was refused for leadsync's own credentials (401/403 from CallTools or GHL)
//! is not at fault: every job fails the same way until someone restores the key or authorises
//! the app again. Parking each of them would fill the dead-letter queue with work that is fine.
//! So the job waits — deferred as a fresh message, which spends none of `maxReceiveCount` — with
//! a doubling delay, and is parked, with a reason that says what to fix, only once it has waited
//! `LEADSYNC_AUTH_WAIT_MAX_SECS` (counted from its first deferral). Every refusal counts in
//! `credentials_rejected{api}` ([`crate::ports::remote::credentials_api`]), which the CredentialsRejected alarm watches.

use std::time::Duration;

use crate::app::config::RetryPolicy;
use crate::domain::outcome::Outcome;
use crate::ports::remote::credentials_hint;

/// The shortest wait between two tries, so a job never comes straight back to the same refusal.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// What a refusal of leadsync's credentials becomes for a job first deferred at
/// `waiting_since_ms` (`None`: never) and deferred `deferrals` times so far: another wait while
/// `policy.auth_wait` lasts, then a park. Any other outcome is returned as it is.
pub fn wait_or_park(
    outcome: Outcome,
    waiting_since_ms: Option<i64>,
    deferrals: u32,
    now_ms: i64,
    policy: &RetryPolicy,
) -> Outcome {
    let Outcome::CredentialsRejected {
        service,
        status,
        excerpt,
    } = outcome
    else {
        return outcome;
    };
    let waited = Duration::from_millis((now_ms - waiting_since_ms.unwrap_or(now_ms)).max(0) as u64);
    let Some(left) = policy
        .auth_wait
        .checked_sub(waited)
        .filter(|d| !d.is_zero())
    else {
        return Outcome::Park {
            reason: format!(
                "{service} kept refusing leadsync's credentials (HTTP {status}) for {} s, the most LEADSYNC_AUTH_WAIT_MAX_SECS allows: {}, then `leadsync dlq replay`",
                waited.as_secs(),
                credentials_hint(service)
            ),
            status: Some(status),
            excerpt,
        };
    };
    let doubling = policy
        .base
        .saturating_mul(1u32 << deferrals.min(20))
        .min(policy.max);
    Outcome::Defer {
        reason: format!(
            "{service} refused leadsync's credentials (HTTP {status}); waiting for them to be fixed ({} s left before the job is parked)",
            left.as_secs()
        ),
        after: doubling.min(left).max(MIN_WAIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(900),
            defer_for: Duration::from_secs(86_400),
            auth_wait: Duration::from_secs(4 * 3600),
        }
    }

    fn rejected() -> Outcome {
        Outcome::CredentialsRejected {
            service: "CallTools",
            status: 401,
            excerpt: r#"{"detail":"Invalid token."}"#.into(),
        }
    }

    #[test]
    fn a_first_refusal_waits_the_base_delay() {
        let now = 10 * HOUR_MS;
        let Outcome::Defer { reason, after } = wait_or_park(rejected(), None, 0, now, &policy())
        else {
            panic!("expected a deferral");
        };
        assert_eq!(after, Duration::from_secs(10));
        assert!(
            reason.contains("HTTP 401") && reason.contains("14400 s left"),
            "{reason}"
        );
    }

    #[test]
    fn the_wait_doubles_up_to_the_retry_maximum() {
        let now = 10 * HOUR_MS;
        let since = Some(now - 60_000);
        let after = |deferrals| match wait_or_park(rejected(), since, deferrals, now, &policy()) {
            Outcome::Defer { after, .. } => after,
            other => panic!("expected a deferral, got {other:?}"),
        };
        assert_eq!(after(3), Duration::from_secs(80));
        assert_eq!(after(12), Duration::from_secs(900));
        assert_eq!(after(u32::MAX), Duration::from_secs(900), "no overflow");
    }

    #[test]
    fn the_last_wait_ends_when_the_allowed_time_does() {
        let now = 10 * HOUR_MS;
        let since = Some(now - 4 * HOUR_MS + 30_000);
        match wait_or_park(rejected(), since, 9, now, &policy()) {
            Outcome::Defer { after, .. } => assert_eq!(after, Duration::from_secs(30)),
            other => panic!("expected a deferral, got {other:?}"),
        }
    }

    #[test]
    fn after_the_allowed_wait_the_job_is_parked_saying_what_to_fix() {
        let now = 10 * HOUR_MS;
        let Outcome::Park {
            reason,
            status,
            excerpt,
        } = wait_or_park(rejected(), Some(now - 4 * HOUR_MS), 14, now, &policy())
        else {
            panic!("expected a park");
        };
        assert_eq!(status, Some(401));
        assert!(excerpt.contains("Invalid token"));
        assert!(
            reason.contains("CALLTOOLS_API_KEY")
                && reason.contains("LEADSYNC_AUTH_WAIT_MAX_SECS")
                && reason.contains("14400 s"),
            "{reason}"
        );
    }

    #[test]
    fn a_wait_of_zero_parks_at_the_first_refusal() {
        let mut p = policy();
        p.auth_wait = Duration::ZERO;
        assert!(matches!(
            wait_or_park(rejected(), None, 0, HOUR_MS, &p),
            Outcome::Park { .. }
        ));
    }

    #[test]
    fn other_outcomes_pass_through() {
        let retry = Outcome::Retry {
            reason: "CallTools: HTTP 503".into(),
            after: None,
        };
        assert_eq!(
            wait_or_park(retry.clone(), None, 0, HOUR_MS, &policy()),
            retry
        );
    }
}
