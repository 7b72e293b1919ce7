//! GoHighLevel's API rate limit (§3.5): 100 requests per 10 s burst and 200,000 per day, per app
//! per location, announced in `X-RateLimit-*` headers on every answer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};

pub(crate) const BURST_MAX: usize = 100;
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
    remaining: usize,
    daily_remaining: u64,
}

impl RateLimiter {
    /// Admits or refuses one request. Refused requests do not count against the limit.
    pub fn check(&mut self, now: Instant, now_ms: i64) -> Verdict {
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
        let allowed = self.window.len() < BURST_MAX && self.day_count < DAILY_MAX;
        if allowed {
            self.window.push_back(now);
            self.day_count += 1;
        }
        Verdict {
            allowed,
            remaining: BURST_MAX - self.window.len(),
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
        put("x-ratelimit-max", BURST_MAX.to_string());
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
            assert!(rl.check(t0, 0).allowed);
        }
        assert!(!rl.check(t0 + Duration::from_secs(9), 0).allowed);
        assert!(rl.check(t0 + INTERVAL, 0).allowed);
    }
}
