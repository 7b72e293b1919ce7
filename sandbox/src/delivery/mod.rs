//! Webhook delivery as each vendor does it, through one simulator: the bytes are fixed once and
//! re-sent unchanged; each vendor differs only in its [`Retries`] and in what its log keeps.
//! GoHighLevel retries only a 429, six times, ten minutes apart with jitter (`ghl`); Meta retries
//! any failure at once, twice (`meta`); CallTools' REST hooks are sent once, unsigned, with the
//! duplicates, delay and drops a test asks for (`calltools`). A sandbox reset or shutdown ends
//! every pending delivery.

pub(crate) mod calltools;
pub(crate) mod ghl;
pub(crate) mod meta;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::RngExt as _;
use tokio::sync::watch;

use crate::state::AppState;
use crate::support::sleep_or_shutdown;

/// One dispatched webhook counted in flight until its delivery ends, however it ends: a test
/// waits for its vendor's count to reach 0 before it counts what the receiver was sent.
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Which answers earn another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryOn {
    /// Only a 429: any other status, a timeout or a refused connection is final (GoHighLevel).
    TooManyRequests,
    /// Anything but a 2xx (Meta).
    AnyFailure,
}

/// How a vendor retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    pub on: RetryOn,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub interval: Duration,
    /// Add up to 10 % of `interval` at random to each wait.
    pub jitter: bool,
}

impl Retries {
    fn delay(&self) -> Duration {
        if !self.jitter {
            return self.interval;
        }
        let max_jitter_ms = u64::try_from(self.interval.as_millis() / 10).unwrap_or(u64::MAX);
        let jitter = if max_jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=max_jitter_ms)
        };
        self.interval.saturating_add(Duration::from_millis(jitter))
    }
}

/// One webhook on the wire.
pub(crate) struct Wire<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    pub headers: &'a [(&'static str, String)],
}

/// How one POST went: a status and the start of the receiver's answer, or no answer at all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    /// `None` when no HTTP answer came (timeout, connection refused).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The receiver's answer, its first 300 characters.
    pub excerpt: Option<String>,
}

impl Answer {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn earns_retry(&self, on: RetryOn) -> bool {
        match on {
            RetryOn::TooManyRequests => self.status == Some(429),
            RetryOn::AnyFailure => !self.succeeded(),
        }
    }
}

/// POSTs once; `None` only when the sandbox shuts down meanwhile.
pub(crate) async fn post(
    http: &reqwest::Client,
    wire: &Wire<'_>,
    shutdown: &watch::Receiver<bool>,
) -> Option<Answer> {
    let mut request = http.post(wire.url).body(wire.body.to_vec());
    for (name, value) in wire.headers {
        request = request.header(*name, value);
    }
    let mut shutdown = shutdown.clone();
    let result = tokio::select! {
        r = request.send() => r,
        _ = shutdown.wait_for(|stop| *stop) => return None,
    };
    Some(match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            Answer {
                status: Some(status),
                error: None,
                excerpt: Some(text.chars().take(300).collect()),
            }
        }
        Err(e) => Answer {
            status: None,
            error: Some(
                if e.is_timeout() {
                    "timeout"
                } else {
                    "connection error"
                }
                .to_owned(),
            ),
            excerpt: None,
        },
    })
}

/// Attempts until one needs no retry, the attempts run out, or the sandbox resets (a new
/// `generation`) or shuts down. `attempt(number, duplicate)` sends and logs one POST; when
/// `duplicate`, the first attempt is followed at once by a second POST of the same bytes
/// (at-least-once delivery, not a retry). `first` hears how the first attempt went.
pub(crate) async fn deliver<F, Fut>(
    st: &AppState,
    generation: u64,
    retries: Retries,
    duplicate: bool,
    mut attempt: F,
    first: impl FnOnce(&Answer),
) where
    F: FnMut(u32, bool) -> Fut,
    Fut: Future<Output = Option<Answer>>,
{
    let mut first = Some(first);
    for number in 1..=retries.max_attempts {
        if number > 1 && !sleep_or_shutdown(retries.delay(), &st.shutdown).await {
            return;
        }
        if st.generation() != generation || *st.shutdown.borrow() {
            return;
        }
        let Some(answer) = attempt(number, false).await else {
            return;
        };
        if number == 1 {
            if duplicate {
                attempt(1, true).await;
            }
            if let Some(first) = first.take() {
                first(&answer);
            }
        }
        if !answer.earns_retry(retries.on) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: Option<u16>) -> Answer {
        Answer {
            status,
            ..Answer::default()
        }
    }

    #[test]
    fn ghl_retries_a_429_only_and_meta_any_failure() {
        for (status, ghl, meta) in [
            (Some(200), false, false),
            (Some(429), true, true),
            (Some(500), false, true),
            (None, false, true),
        ] {
            assert_eq!(
                answer(status).earns_retry(RetryOn::TooManyRequests),
                ghl,
                "{status:?}"
            );
            assert_eq!(
                answer(status).earns_retry(RetryOn::AnyFailure),
                meta,
                "{status:?}"
            );
        }
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        let r = Retries {
            on: RetryOn::TooManyRequests,
            max_attempts: 7,
            interval: Duration::from_millis(1000),
            jitter: true,
        };
        for _ in 0..200 {
            let d = r.delay();
            assert!(d >= r.interval && d <= Duration::from_millis(1100), "{d:?}");
        }
        let fixed = Retries { jitter: false, ..r };
        assert_eq!(fixed.delay(), fixed.interval);
    }
}
