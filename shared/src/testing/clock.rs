//! A clock a test sets and moves by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::domain::clock::{Clock, Millis};

/// Stands still until the test moves it: [`ManualClock::set`] or [`ManualClock::advance`].
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// 2027-01-15T08:00:00Z, a fixed and plausible "now".
    pub const START: Millis = Millis(1_800_000_000_000);

    pub fn new(at: Millis) -> Self {
        Self(AtomicI64::new(at.get()))
    }

    pub fn set(&self, at: Millis) {
        self.0.store(at.get(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::START)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
