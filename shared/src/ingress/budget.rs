//! How long ingress may wait on AWS, per call and per request.
//!
//! GHL waits 10 s for an answer and retries only a 429; the function's own timeout
//! (`IngressFunction.Timeout` in template.yaml) is 10 s too. A request that runs out of either
//! ends in an error GHL never retries, so the event is lost. Each AWS call therefore gets at most
//! `per_call`, and all of a request's calls together at most `total`, well inside both: a slow
//! dependency ends in a 429 (GHL retries it) or, after the job is queued, in a skipped
//! bookkeeping write — never in a timeout.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimits {
    /// One AWS call, its SDK retries included.
    pub per_call: Duration,
    /// Every AWS call of one request together.
    pub total: Duration,
}

impl TimeLimits {
    /// Starts a request's clock.
    pub fn start(&self) -> Budget {
        Budget {
            deadline: Instant::now() + self.total,
            per_call: self.per_call,
        }
    }
}

/// One request's time left.
pub struct Budget {
    deadline: Instant,
    per_call: Duration,
}

/// A call that failed, or was given up on.
#[derive(Debug)]
pub enum CallError<E> {
    Failed(E),
    /// It did not answer within `waited` (its share of the request's time).
    OutOfTime {
        waited: Duration,
    },
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Failed(e) => e.fmt(f),
            CallError::OutOfTime { waited } => {
                write!(f, "no answer within {} ms", waited.as_millis())
            }
        }
    }
}

impl Budget {
    /// Runs one call within its share of the time: `per_call`, or what is left of the request
    /// if that is less. `call` names it in the metric of calls given up on.
    pub async fn call<T, E>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CallError<E>> {
        let waited = self
            .per_call
            .min(self.deadline.saturating_duration_since(Instant::now()));
        // `timeout` polls the call once even with no time left; a request past its deadline
        // starts nothing.
        let answer = match waited.is_zero() {
            true => None,
            false => tokio::time::timeout(waited, fut).await.ok(),
        };
        answer.map_or_else(
            || {
                metrics::counter!("ingress_calls_out_of_time", "call" => call).increment(1);
                Err(CallError::OutOfTime { waited })
            },
            |result| result.map_err(CallError::Failed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TimeLimits = TimeLimits {
        per_call: Duration::from_millis(2_500),
        total: Duration::from_secs(6),
    };

    async fn answers_after(delay: Duration) -> Result<(), String> {
        tokio::time::sleep(delay).await;
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_gets_its_own_limit_while_the_request_has_time() {
        let budget = LIMITS.start();
        let started = Instant::now();
        let r = budget
            .call("claim", answers_after(Duration::from_secs(30)))
            .await;
        assert!(matches!(r, Err(CallError::OutOfTime { waited }) if waited == LIMITS.per_call));
        assert_eq!(started.elapsed(), LIMITS.per_call);
        assert!(
            budget
                .call("claim", answers_after(Duration::from_secs(2)))
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_calls_share_what_is_left_and_none_outlives_the_request() {
        let budget = LIMITS.start();
        let started = Instant::now();
        for _ in 0..4 {
            let _ = budget
                .call("enqueue", answers_after(Duration::from_secs(30)))
                .await;
        }
        assert_eq!(
            started.elapsed(),
            LIMITS.total,
            "2.5 s + 2.5 s + 1 s + nothing"
        );
        let r = budget.call("log", async { Ok::<_, String>(()) }).await;
        assert!(
            r.is_err(),
            "a call after the deadline is not started, however fast it would be"
        );
    }
}
