//! A circuit breaker around a sink, shared by every concurrent invocation through the store —
//! the Powertools design (research/anchors.md §3.3b): failures are counted in memory, the shared
//! state is written only on a transition, one environment is elected by a conditional write to
//! probe a half-open circuit, and an unreachable store fails open.
//!
//! While the circuit is open, jobs are not attempted: they go back to the queue with a delay that
//! ends when a probe may run, so an outage does not drain the queue into the DLQ.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::clock::now_ms;
use crate::ports::store::StoreError;

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive transient failures that open the circuit (0 disables the breaker).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe is let through.
    pub recovery: Duration,
    /// How long this environment trusts its copy of the shared state.
    pub cache_max_age: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "open" => State::Open,
            "half_open" => State::HalfOpen,
            _ => State::Closed,
        }
    }
}

/// The state every environment shares. `version` makes each transition a compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub state: State,
    /// When the circuit last opened (or the probe started, when half-open), epoch ms.
    pub since_ms: i64,
    pub version: u64,
    pub probe_owner: Option<String>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            state: State::Closed,
            since_ms: 0,
            version: 0,
            probe_owner: None,
        }
    }
}

#[async_trait]
pub trait BreakerStore: Send + Sync {
    async fn load_breaker(&self, name: &str) -> Result<Shared, StoreError>;
    /// Writes `next` only if the stored version is still `expected_version`; false if another
    /// environment transitioned first.
    async fn transition_breaker(
        &self,
        name: &str,
        expected_version: u64,
        next: &Shared,
    ) -> Result<bool, StoreError>;
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Allowed { probe: bool },
    Denied { retry_after: Duration },
}

/// How a guarded call went, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// The sink answered (a 4xx counts: the sink is up, the request was wrong).
    Answered,
    /// 429, 5xx, timeout, connection error.
    Unavailable,
}

struct Local {
    cached: Option<(Shared, Instant)>,
    failures: u32,
}

pub struct CircuitBreaker {
    name: String,
    me: String,
    settings: BreakerSettings,
    store: Arc<dyn BreakerStore>,
    local: Mutex<Local>,
}

/// How long a denied caller waits when another environment is probing.
const PROBE_WAIT: Duration = Duration::from_secs(5);

impl CircuitBreaker {
    pub fn new(name: &str, settings: BreakerSettings, store: Arc<dyn BreakerStore>) -> Self {
        Self {
            name: name.to_string(),
            me: format!("{:016x}", rand::random::<u64>()),
            settings,
            store,
            local: Mutex::new(Local {
                cached: None,
                failures: 0,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.failure_threshold > 0
    }

    async fn shared(&self) -> Option<Shared> {
        if let Ok(local) = self.local.lock()
            && let Some((s, at)) = &local.cached
            && at.elapsed() < self.settings.cache_max_age
        {
            return Some(s.clone());
        }
        match self.store.load_breaker(&self.name).await {
            Ok(s) => {
                self.remember(&s);
                Some(s)
            }
            Err(e) => {
                // Fail open: an unreachable store must not stop the sync.
                tracing::warn!(breaker = %self.name, error = %e, "breaker state unreadable; failing open");
                None
            }
        }
    }

    fn remember(&self, s: &Shared) {
        if let Ok(mut local) = self.local.lock() {
            local.cached = Some((s.clone(), Instant::now()));
        }
    }

    async fn transition(&self, from: &Shared, state: State) -> bool {
        let next = Shared {
            state,
            since_ms: now_ms(),
            version: from.version + 1,
            probe_owner: (state == State::HalfOpen).then(|| self.me.clone()),
        };
        match self
            .store
            .transition_breaker(&self.name, from.version, &next)
            .await
        {
            Ok(true) => {
                metrics::counter!("circuit_transitions", "sink" => self.name.clone(), "to" => state.as_str()).increment(1);
                tracing::warn!(breaker = %self.name, from = from.state.as_str(), to = state.as_str(), "circuit breaker transition");
                self.remember(&next);
                true
            }
            Ok(false) => {
                // Someone else moved first; forget our copy so the next call reads theirs.
                if let Ok(mut local) = self.local.lock() {
                    local.cached = None;
                }
                false
            }
            Err(e) => {
                tracing::warn!(breaker = %self.name, error = %e, "breaker transition not stored");
                false
            }
        }
    }

    pub async fn permit(&self) -> Permit {
        if !self.enabled() {
            return Permit::Allowed { probe: false };
        }
        let Some(shared) = self.shared().await else {
            return Permit::Allowed { probe: false };
        };
        let recovery = self.settings.recovery.as_millis() as i64;
        let elapsed = now_ms() - shared.since_ms;
        match shared.state {
            State::Closed => Permit::Allowed { probe: false },
            State::HalfOpen if shared.probe_owner.as_deref() == Some(self.me.as_str()) => {
                Permit::Allowed { probe: true }
            }
            // A probe that never reported back (its environment died) is taken over after the
            // recovery time, like an open circuit.
            State::Open | State::HalfOpen if elapsed >= recovery => {
                if self.transition(&shared, State::HalfOpen).await {
                    Permit::Allowed { probe: true }
                } else {
                    Permit::Denied {
                        retry_after: PROBE_WAIT,
                    }
                }
            }
            State::Open => Permit::Denied {
                retry_after: Duration::from_millis((recovery - elapsed).max(0) as u64),
            },
            State::HalfOpen => Permit::Denied {
                retry_after: PROBE_WAIT,
            },
        }
    }

    /// Counts how an allowed call went; `Some(recovery)` when its failure opened the circuit
    /// (the caller's job then waits for the probe as the calls the circuit stops do).
    pub async fn record(&self, permit: Permit, result: CallResult) -> Option<Duration> {
        let Permit::Allowed { probe } = permit else {
            return None;
        };
        if !self.enabled() {
            return None;
        }
        let failures = match self.local.lock() {
            Ok(mut local) => {
                local.failures = match result {
                    CallResult::Answered => 0,
                    CallResult::Unavailable => local.failures + 1,
                };
                local.failures
            }
            Err(_) => return None,
        };
        let shared = self.shared().await?;
        let opened = match (result, probe) {
            (CallResult::Answered, true) => {
                self.transition(&shared, State::Closed).await;
                false
            }
            (CallResult::Unavailable, true) => self.transition(&shared, State::Open).await,
            (CallResult::Unavailable, false)
                if failures >= self.settings.failure_threshold && shared.state == State::Closed =>
            {
                self.transition(&shared, State::Open).await
            }
            _ => false,
        };
        opened.then_some(self.settings.recovery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBreakerStore;

    fn settings(recovery: Duration) -> BreakerSettings {
        BreakerSettings {
            failure_threshold: 3,
            recovery,
            cache_max_age: Duration::ZERO,
        }
    }

    /// `n` failed calls; what the breaker said of the last.
    async fn fail(b: &CircuitBreaker, n: u32) -> Option<Duration> {
        let mut said = None;
        for _ in 0..n {
            let p = b.permit().await;
            said = b.record(p, CallResult::Unavailable).await;
        }
        said
    }

    #[tokio::test]
    async fn consecutive_failures_open_the_circuit_for_every_environment() {
        let store = Arc::new(MemoryBreakerStore::default());
        let a = CircuitBreaker::new(
            "calltools",
            settings(Duration::from_secs(30)),
            store.clone(),
        );
        let b = CircuitBreaker::new(
            "calltools",
            settings(Duration::from_secs(30)),
            store.clone(),
        );
        assert_eq!(fail(&a, 2).await, None, "below the threshold");
        assert_eq!(
            a.permit().await,
            Permit::Allowed { probe: false },
            "below the threshold"
        );
        assert_eq!(
            fail(&a, 1).await,
            Some(Duration::from_secs(30)),
            "the failure that opened the circuit is told so"
        );
        for env in [&a, &b] {
            match env.permit().await {
                Permit::Denied { retry_after } => assert!(
                    retry_after <= Duration::from_secs(30) && retry_after > Duration::from_secs(25)
                ),
                other => panic!("expected denied, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn answers_reset_the_count_and_client_errors_do_not_trip_it() {
        let store = Arc::new(MemoryBreakerStore::default());
        let a = CircuitBreaker::new("calltools", settings(Duration::from_secs(30)), store);
        fail(&a, 2).await;
        let p = a.permit().await;
        a.record(p, CallResult::Answered).await;
        fail(&a, 2).await;
        assert_eq!(a.permit().await, Permit::Allowed { probe: false });
    }

    #[tokio::test]
    async fn after_recovery_exactly_one_environment_probes_and_success_closes() {
        let store = Arc::new(MemoryBreakerStore::default());
        let a = CircuitBreaker::new(
            "calltools",
            settings(Duration::from_millis(200)),
            store.clone(),
        );
        let b = CircuitBreaker::new(
            "calltools",
            settings(Duration::from_millis(200)),
            store.clone(),
        );
        fail(&a, 3).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let probe = a.permit().await;
        assert_eq!(probe, Permit::Allowed { probe: true });
        assert!(
            matches!(b.permit().await, Permit::Denied { .. }),
            "only one probe at a time"
        );
        a.record(probe, CallResult::Answered).await;
        assert_eq!(
            b.permit().await,
            Permit::Allowed { probe: false },
            "closed for everyone"
        );
    }

    #[tokio::test]
    async fn a_failed_probe_opens_the_circuit_again() {
        let store = Arc::new(MemoryBreakerStore::default());
        let a = CircuitBreaker::new(
            "calltools",
            settings(Duration::from_millis(50)),
            store.clone(),
        );
        fail(&a, 3).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        let probe = a.permit().await;
        assert_eq!(probe, Permit::Allowed { probe: true });
        assert_eq!(
            a.record(probe, CallResult::Unavailable).await,
            Some(Duration::from_millis(50)),
            "the failed probe is told it opened the circuit"
        );
        assert!(matches!(a.permit().await, Permit::Denied { .. }));
        assert_eq!(store.state("calltools").state, State::Open);
    }

    #[tokio::test]
    async fn an_unreachable_store_fails_open() {
        let store = Arc::new(MemoryBreakerStore::unreachable());
        let a = CircuitBreaker::new("calltools", settings(Duration::from_secs(30)), store);
        assert_eq!(fail(&a, 10).await, None);
        assert_eq!(a.permit().await, Permit::Allowed { probe: false });
    }

    #[tokio::test]
    async fn a_threshold_of_zero_disables_the_breaker() {
        let store = Arc::new(MemoryBreakerStore::default());
        let mut s = settings(Duration::from_secs(30));
        s.failure_threshold = 0;
        let a = CircuitBreaker::new("calltools", s, store);
        fail(&a, 10).await;
        assert_eq!(a.permit().await, Permit::Allowed { probe: false });
    }
}
