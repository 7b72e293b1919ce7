//! Injected CallTools failures (§5.7): the answers leadsync must survive. A scripted queue of
//! next answers, seeded random rates, latency, a timed outage and carrier-rejected phones.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use serde::{Deserialize, Serialize};

/// The body of `POST /_sandbox/calltools/faults`; it replaces the whole fault setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FaultSpec {
    /// Answers for the next requests, in order, before any random fault.
    pub script: Vec<Scripted>,
    /// Probabilities per request, drawn from one seeded RNG: 429, a 5xx HTML page, a hang.
    pub rate_429: f64,
    pub rate_5xx: f64,
    pub rate_timeout: f64,
    pub seed: u64,
    /// How long a random "timeout" holds the response back (longer than any sane client timeout).
    pub timeout_ms: u64,
    /// `Retry-After` seconds on a random 429.
    pub retry_after_secs: u64,
    /// Added before every request is handled.
    pub latency_ms: u64,
    /// Every request fails with 503 for this long, counted from the POST.
    pub outage_for_ms: u64,
    /// Phones CallTools refuses with 400 on POST/PATCH although they look dialable.
    pub reject_phones: Vec<String>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            script: Vec::new(),
            rate_429: 0.0,
            rate_5xx: 0.0,
            rate_timeout: 0.0,
            seed: 0,
            timeout_ms: 30_000,
            retry_after_secs: 1,
            latency_ms: 0,
            outage_for_ms: 0,
            reject_phones: Vec::new(),
        }
    }
}

/// One scripted answer:
/// * `{"status": 503}` answers at once, without touching the data;
/// * `{"status": 429, "retry_after_secs": 2}` adds `Retry-After`;
/// * `{"hang_ms": N}` handles the request normally but holds the response N ms, so a client
///   that times out never learns that its write happened (the ambiguous case);
/// * `{"hang_ms": N, "status": 504}` waits N ms, then fails without touching the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scripted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_ms: Option<u64>,
}

/// What the gate does with one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    Pass,
    /// Answer `status` without handling, after `delay`.
    Fail {
        status: u16,
        retry_after_secs: Option<u64>,
        delay: Duration,
        label: &'static str,
    },
    /// Handle the request, then hold the response back.
    HoldResponse {
        delay: Duration,
        label: &'static str,
    },
}

pub(crate) struct Faults {
    spec: FaultSpec,
    rng: StdRng,
    outage_until: Option<Instant>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(FaultSpec::default(), Instant::now())
    }
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        let rates = [self.rate_429, self.rate_5xx, self.rate_timeout];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || rates.iter().sum::<f64>() > 1.0 {
            return Err("rates must be within 0..=1 and add up to at most 1".to_owned());
        }
        for s in &self.script {
            if s.status.is_none() && s.hang_ms.is_none() {
                return Err("a script entry needs a status, a hang_ms, or both".to_owned());
            }
            if s.status.is_some_and(|c| !(200..=599).contains(&c)) {
                return Err("script status must be within 200..=599".to_owned());
            }
        }
        Ok(())
    }
}

impl Faults {
    pub fn new(spec: FaultSpec, now: Instant) -> Self {
        // checked: an absurd outage_for_ms must not overflow Instant (and panic).
        let outage_until = (spec.outage_for_ms > 0).then(|| {
            now.checked_add(Duration::from_millis(spec.outage_for_ms))
                .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
                .unwrap_or(now)
        });
        Self {
            rng: StdRng::seed_from_u64(spec.seed),
            spec,
            outage_until,
        }
    }

    /// The current setup as it stands: the script shows only the entries not yet used.
    pub fn spec(&self, now: Instant) -> (FaultSpec, u64) {
        let outage_left = self
            .outage_until
            .map_or(0, |until| until.saturating_duration_since(now).as_millis());
        (
            self.spec.clone(),
            u64::try_from(outage_left).unwrap_or(u64::MAX),
        )
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.spec.latency_ms)
    }

    pub fn reject_phones(&self) -> Vec<String> {
        self.spec.reject_phones.clone()
    }

    pub fn plan(&mut self, now: Instant) -> Plan {
        if self.outage_until.is_some_and(|until| now < until) {
            return fail(503, None, Duration::ZERO, "outage");
        }
        if !self.spec.script.is_empty() {
            let next = self.spec.script.remove(0);
            let hang = Duration::from_millis(next.hang_ms.unwrap_or(0));
            return match next.status {
                Some(status) => fail(status, next.retry_after_secs, hang, "script"),
                None => Plan::HoldResponse {
                    delay: hang,
                    label: "script",
                },
            };
        }
        let draw: f64 = self.rng.random();
        let (r429, r5xx, rtimeout) = (
            self.spec.rate_429,
            self.spec.rate_5xx,
            self.spec.rate_timeout,
        );
        if draw < r429 {
            fail(
                429,
                Some(self.spec.retry_after_secs),
                Duration::ZERO,
                "rate_429",
            )
        } else if draw < r429 + r5xx {
            let status = [500, 502, 503, 504][self.rng.random_range(0..4)];
            fail(status, None, Duration::ZERO, "rate_5xx")
        } else if draw < r429 + r5xx + rtimeout {
            Plan::HoldResponse {
                delay: Duration::from_millis(self.spec.timeout_ms),
                label: "rate_timeout",
            }
        } else {
            Plan::Pass
        }
    }
}

fn fail(status: u16, retry_after_secs: Option<u64>, delay: Duration, label: &'static str) -> Plan {
    Plan::Fail {
        status,
        retry_after_secs,
        delay,
        label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_script_comes_first_then_random_faults() {
        let now = Instant::now();
        let mut f = Faults::new(
            spec(r#"{"script":[{"status":503},{"hang_ms":5}],"rate_5xx":1.0}"#),
            now,
        );
        assert!(matches!(
            f.plan(now),
            Plan::Fail {
                status: 503,
                label: "script",
                ..
            }
        ));
        assert!(matches!(
            f.plan(now),
            Plan::HoldResponse {
                label: "script",
                ..
            }
        ));
        assert!(matches!(
            f.plan(now),
            Plan::Fail {
                label: "rate_5xx",
                ..
            }
        ));
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let now = Instant::now();
        let s = spec(r#"{"rate_429":0.3,"rate_5xx":0.3,"seed":7}"#);
        let (mut a, mut b) = (Faults::new(s.clone(), now), Faults::new(s, now));
        let run = |f: &mut Faults| (0..50).map(|_| f.plan(now)).collect::<Vec<_>>();
        assert_eq!(run(&mut a), run(&mut b));
    }

    #[test]
    fn an_outage_ends() {
        let now = Instant::now();
        let mut f = Faults::new(spec(r#"{"outage_for_ms":100}"#), now);
        assert!(matches!(
            f.plan(now),
            Plan::Fail {
                label: "outage",
                ..
            }
        ));
        assert_eq!(f.plan(now + Duration::from_millis(100)), Plan::Pass);
    }

    #[test]
    fn invalid_specs_are_refused() {
        assert!(
            spec(r#"{"rate_429":0.7,"rate_5xx":0.7}"#)
                .validate()
                .is_err()
        );
        assert!(spec(r#"{"script":[{}]}"#).validate().is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"rate_42":1}"#).is_err());
    }
}
