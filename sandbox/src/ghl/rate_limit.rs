//! GoHighLevel's API rate limit (§3.5): 100 requests per 10 s burst and 200,000 per day, per app
//! per location, announced in `X-RateLimit-*` headers on every answer. A load test may raise the
//! burst (`GhlAccount::burst_limit`); the headers then announce the raised figure.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};

/// GHL's documented requests per 10 s, per app per location; what the played account allows
/// unless a load test raises it.
pub const BURST_MAX: usize = 100;
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);
pub(crate) const DAILY_MAX: u64 = 200_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Default)]
pub(crate) struct RateLimiter {
    /// Start times of the requests admitted in the current sliding window.
    window: VecDeque<Instant>,
    day: i64,
    day_count: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Verdict {
    pub allowed: bool,
    max: usize,
    remaining: usize,
    daily_remaining: u64,
}

impl RateLimiter {
    /// Admits or refuses one request within `burst_max` per [`INTERVAL`]. Refused requests do
    /// not count against the limit.
    pub fn check(&mut self, now: Instant, now_ms: i64, burst_max: usize) -> Verdict {
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= INTERVAL)
        {
            self.window.pop_front();
        }
        let day = now_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_count = 0;
        }
        let allowed = self.window.len() < burst_max && self.day_count < DAILY_MAX;
        if allowed {
            self.window.push_back(now);
            self.day_count += 1;
        }
        Verdict {
            allowed,
            max: burst_max,
            remaining: burst_max.saturating_sub(self.window.len()),
            daily_remaining: DAILY_MAX - self.day_count,
        }
    }
}

impl Verdict {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        put("x-ratelimit-max", self.max.to_string());
        put("x-ratelimit-remaining", self.remaining.to_string());
        put(
            "x-ratelimit-interval-milliseconds",
            INTERVAL.as_millis().to_string(),
        );
        put("x-ratelimit-limit-daily", DAILY_MAX.to_string());
        put(
            "x-ratelimit-daily-remaining",
            self.daily_remaining.to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_101st_request_within_ten_seconds_is_refused_and_the_window_slides() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..BURST_MAX {
            assert!(rl.check(t0, 0, BURST_MAX).allowed);
        }
        assert!(!rl.check(t0 + Duration::from_secs(9), 0, BURST_MAX).allowed);
        assert!(rl.check(t0 + INTERVAL, 0, BURST_MAX).allowed);
    }

    #[test]
    fn a_raised_burst_admits_that_many_and_announces_it() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..250 {
            assert!(rl.check(t0, 0, 250).allowed);
        }
        let refused = rl.check(t0, 0, 250);
        assert!(!refused.allowed);
        let mut headers = HeaderMap::new();
        refused.write_headers(&mut headers);
        assert_eq!(headers["x-ratelimit-max"], "250");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
    }
}
