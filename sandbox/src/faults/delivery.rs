//! How GoHighLevel's webhook delivery misbehaves, on demand: it delivers at least once (the same
//! bytes twice), in no guaranteed order (a delivery held back while later ones overtake it), and
//! on a bad day not at all — the gap the scheduled backfill exists to repair.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use serde::{Deserialize, Serialize};

/// The body of `POST /_sandbox/ghl/delivery`; it replaces the whole setup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ChaosSpec {
    /// Share of webhooks delivered a second time, same bytes, right after the first.
    pub duplicate_rate: f64,
    /// Share of webhooks held back `reorder_delay_ms` before their first attempt.
    pub reorder_rate: f64,
    pub reorder_delay_ms: u64,
    /// Share of webhooks never sent (logged as `dropped`).
    pub drop_rate: f64,
    pub seed: u64,
}

impl ChaosSpec {
    pub fn validate(&self) -> Result<(), String> {
        let rates = [self.duplicate_rate, self.reorder_rate, self.drop_rate];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
            return Err("rates must be within 0..=1".to_owned());
        }
        Ok(())
    }
}

/// What happens to one webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fate {
    pub dropped: bool,
    pub hold: Duration,
    pub duplicate: bool,
}

pub(crate) struct Chaos {
    spec: ChaosSpec,
    rng: StdRng,
}

impl Default for Chaos {
    fn default() -> Self {
        Self::new(ChaosSpec::default())
    }
}

impl Chaos {
    pub fn new(spec: ChaosSpec) -> Self {
        Self {
            rng: StdRng::seed_from_u64(spec.seed),
            spec,
        }
    }

    pub fn spec(&self) -> &ChaosSpec {
        &self.spec
    }

    /// Draws the fate of the next webhook; a dropped one is neither held nor duplicated.
    pub fn next(&mut self) -> Fate {
        let mut draw = |rate: f64| rate > 0.0 && self.rng.random_bool(rate);
        if draw(self.spec.drop_rate) {
            return Fate {
                dropped: true,
                ..Fate::default()
            };
        }
        let reorder = draw(self.spec.reorder_rate);
        let duplicate = draw(self.spec.duplicate_rate);
        Fate {
            dropped: false,
            hold: if reorder {
                Duration::from_millis(self.spec.reorder_delay_ms)
            } else {
                Duration::ZERO
            },
            duplicate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_chaos_by_default() {
        let mut c = Chaos::default();
        assert!((0..1000).all(|_| c.next() == Fate::default()));
    }

    #[test]
    fn rates_are_met_and_seeded() {
        let spec = ChaosSpec {
            duplicate_rate: 0.1,
            reorder_rate: 0.05,
            reorder_delay_ms: 500,
            drop_rate: 0.02,
            seed: 7,
        };
        let fates: Vec<Fate> = {
            let mut c = Chaos::new(spec.clone());
            (0..20_000).map(|_| c.next()).collect()
        };
        let share = |f: fn(&Fate) -> bool| fates.iter().filter(|x| f(x)).count() as f64 / 20_000.0;
        assert!((share(|f| f.dropped) - 0.02).abs() < 0.005);
        assert!((share(|f| f.duplicate) - 0.098).abs() < 0.01);
        assert!((share(|f| !f.hold.is_zero()) - 0.049).abs() < 0.01);
        let mut again = Chaos::new(spec);
        assert!(
            fates.iter().take(100).all(|f| *f == again.next()),
            "same seed, same fates"
        );
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let bad = ChaosSpec {
            duplicate_rate: 1.5,
            ..ChaosSpec::default()
        };
        assert!(bad.validate().is_err());
        assert!(ChaosSpec::default().validate().is_ok());
    }
}
