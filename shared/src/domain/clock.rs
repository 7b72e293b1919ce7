//! Wall-clock time as epoch numbers, the form stored in DynamoDB and carried in jobs.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Where "now" comes from for a decision about time (leases, expiries): the wall clock, or in a
/// test one that runs on tokio's paused time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}
