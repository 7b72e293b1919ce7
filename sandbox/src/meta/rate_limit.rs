//! Graph's usage accounting (research §6): the app-wide `X-App-Usage` on every answer, and the
//! Conversations API's own limit of 2 calls per second per Page and per Instagram account, which
//! answers 80006 (Messenger) or 80002 (Instagram) with an `X-Business-Use-Case-Usage` header.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::json;

pub(crate) const CONVERSATION_CALLS_PER_SECOND: usize = 2;
const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

/// The app's hourly call budget behind the `X-App-Usage` percentages. Large on purpose: the
/// sandbox reports usage but never throttles the app by itself (inject code 4 for that), so a
/// backfill of thousands of calls must not look exhausted.
pub(crate) const APP_CALLS_PER_HOUR: u64 = 100_000;

/// Sliding one-second windows, one per (account, platform).
#[derive(Default)]
pub(crate) struct ConversationLimiter {
    windows: HashMap<(String, &'static str), VecDeque<Instant>>,
}

/// The limiter's answer; `used_before` is how many calls the window already held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    pub allowed: bool,
    pub used_before: usize,
}

impl ConversationLimiter {
    /// Admits or refuses one call; refused calls do not count against the window.
    pub fn check(&mut self, account_id: &str, platform: &'static str, now: Instant) -> Admission {
        let window = self
            .windows
            .entry((account_id.to_owned(), platform))
            .or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= SECOND)
        {
            window.pop_front();
        }
        let used_before = window.len();
        let allowed = used_before < CONVERSATION_CALLS_PER_SECOND;
        if allowed {
            window.push_back(now);
        }
        Admission {
            allowed,
            used_before,
        }
    }
}

impl Admission {
    /// The use-case percentage to report: the share of this second already used before the
    /// call, and 100 for a refused call.
    pub fn call_count(self) -> u64 {
        if self.allowed {
            (self.used_before * 100 / CONVERSATION_CALLS_PER_SECOND) as u64
        } else {
            100
        }
    }
}

/// `X-Business-Use-Case-Usage: {"<id>":[{type, call_count, total_cputime, total_time,
/// estimated_time_to_regain_access}]}`, the last in minutes.
pub(crate) fn business_use_case_usage(
    account_id: &str,
    use_case: &str,
    call_count: u64,
    regain_minutes: u32,
) -> String {
    json!({
        account_id: [{
            "type": use_case,
            "call_count": call_count,
            "total_cputime": call_count / 4,
            "total_time": call_count / 2,
            "estimated_time_to_regain_access": regain_minutes,
        }]
    })
    .to_string()
}

/// Every Graph call the app made in the last hour.
#[derive(Default)]
pub(crate) struct AppUsage {
    calls: VecDeque<Instant>,
}

impl AppUsage {
    /// Counts one call; answers the calls in the hour, this one included.
    pub fn record(&mut self, now: Instant) -> u64 {
        while self
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= HOUR)
        {
            self.calls.pop_front();
        }
        self.calls.push_back(now);
        self.calls.len() as u64
    }
}

/// `X-App-Usage: {"call_count":N,"total_cputime":N,"total_time":N}` in whole percent, rounded
/// up so it moves from the first call; `floor` raises call_count (code 4 means ≥ 100).
pub(crate) fn app_usage(calls_in_hour: u64, floor: u64) -> String {
    let percent = |divisor: u64| (calls_in_hour * 100).div_ceil(APP_CALLS_PER_HOUR * divisor);
    json!({
        "call_count": percent(1).max(floor),
        "total_cputime": percent(4),
        "total_time": percent(2),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_call_within_a_second_is_refused_per_account_and_platform() {
        let mut limiter = ConversationLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limiter.check("p", "messenger", t0).call_count(), 0);
        assert_eq!(limiter.check("p", "messenger", t0).call_count(), 50);
        let refused = limiter.check("p", "messenger", t0);
        assert!(!refused.allowed);
        assert_eq!(refused.call_count(), 100);
        assert!(limiter.check("p", "instagram", t0).allowed);
        assert!(limiter.check("p", "messenger", t0 + SECOND).allowed);
    }

    #[test]
    fn app_usage_grows_with_calls_and_honours_the_floor() {
        let usage = |calls, floor| -> serde_json::Value {
            serde_json::from_str(&app_usage(calls, floor)).unwrap()
        };
        assert_eq!(usage(1, 0)["call_count"], 1);
        assert_eq!(usage(2_500, 0)["call_count"], 3);
        assert_eq!(usage(1, 100)["call_count"], 100);
    }
}
