//! Wall-clock time as epoch numbers, the form stored in DynamoDB and carried in jobs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// An instant as epoch milliseconds: the one unit leadsync keeps times in. Serialises as the bare
/// number, so it can replace an `i64` field without changing what is stored or sent. New APIs take
/// it first; the existing `*_ms: i64` fields move over one at a time.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The epoch milliseconds, for the `i64` fields and attributes that still carry them.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `d` later (saturating).
    pub fn plus(self, d: Duration) -> Millis {
        Millis(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
}

impl From<i64> for Millis {
    fn from(ms: i64) -> Self {
        Millis(ms)
    }
}

impl From<Millis> for i64 {
    fn from(m: Millis) -> Self {
        m.0
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where "now" comes from for a decision about time (leases, expiries, waits): the wall clock,
/// or in a test one that runs on tokio's paused time or is set by hand
/// (`testing::clock::ManualClock`).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;

    fn now(&self) -> Millis {
        Millis(self.now_ms())
    }
}

pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_serialise_as_the_bare_number() {
        assert_eq!(serde_json::to_string(&Millis(1_700)).unwrap(), "1700");
        assert_eq!(serde_json::from_str::<Millis>("42").unwrap(), Millis(42));
    }

    #[test]
    fn millis_add_durations_without_overflowing() {
        assert_eq!(Millis(1_000).plus(Duration::from_secs(2)), Millis(3_000));
        assert_eq!(
            Millis(i64::MAX - 1).plus(Duration::from_secs(1)),
            Millis(i64::MAX)
        );
    }
}
