//! Sends CallTools' REST hooks: the written object's JSON POSTed to each subscribed URL with
//! `Content-Type: application/json` and no signature (CallTools signs nothing, so the receiver
//! can only authenticate by a secret in the URL it subscribed), from a background task after
//! the write. No retry is known, so none is played. What a test makes go wrong is set at
//! `/_sandbox/calltools/hook_delivery`: every hook `1 + duplicates` times, each POST `delay_ms`
//! after the previous one (the first after `delay_ms` too), and the next `drop_next` hooks lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::calltools::resthooks::Hook;
use crate::delivery::{InFlight, Wire, post};
use crate::state::AppState;
use crate::support::{lock, sleep_or_shutdown};

/// The body of `GET`/`POST /_sandbox/calltools/hook_delivery`; a POST replaces it all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HookDelivery {
    /// Extra POSTs of the same bytes after the first (at-least-once delivery).
    pub duplicates: u32,
    /// Wait before the first POST and between the duplicates.
    pub delay_ms: u64,
    /// The next this many hooks (one object to one URL) are never sent; counts down.
    pub drop_next: u32,
}

/// One POST, or one hook dropped whole, as `GET /_sandbox/calltools/hooks` lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HookAttempt {
    pub model: String,
    pub object_id: i64,
    pub url: String,
    /// `null` when dropped or no HTTP answer came (timeout, connection refused).
    pub status: Option<u16>,
    pub dropped: bool,
}

#[derive(Default)]
pub(crate) struct HookLog {
    settings: Mutex<HookDelivery>,
    attempts: Mutex<Vec<HookAttempt>>,
    /// Hooks whose POSTs (duplicates included) are not all done.
    in_flight: Arc<AtomicUsize>,
}

impl HookLog {
    pub fn settings(&self) -> HookDelivery {
        *lock(&self.settings)
    }

    pub fn set_settings(&self, settings: HookDelivery) {
        *lock(&self.settings) = settings;
    }

    pub fn all(&self) -> Vec<HookAttempt> {
        lock(&self.attempts).clone()
    }

    pub fn clear(&self) {
        lock(&self.attempts).clear();
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Back to the defaults; hooks still in flight stop on the reset's new generation.
    pub fn reset(&self) {
        self.set_settings(HookDelivery::default());
        self.clear();
    }

    fn push(&self, hook: &Hook, url: &str, status: Option<u16>, dropped: bool) {
        lock(&self.attempts).push(HookAttempt {
            model: hook.model.to_owned(),
            object_id: hook.object_id,
            url: url.to_owned(),
            status,
            dropped,
        });
    }

    /// Takes one from `drop_next` if any is left.
    fn take_drop(&self) -> Option<HookDelivery> {
        let mut settings = lock(&self.settings);
        if settings.drop_next > 0 {
            settings.drop_next -= 1;
            None
        } else {
            Some(*settings)
        }
    }
}

/// Sends `hook` to each of its URLs in the background and returns at once: CallTools answers
/// the write (or the agent's screen moves on) before its hooks go out.
pub(crate) fn send(st: &AppState, hook: Hook) {
    let generation = st.generation();
    for url in &hook.urls {
        let Some(settings) = st.calltools_hooks.take_drop() else {
            st.calltools_hooks.push(&hook, url, None, true);
            continue;
        };
        let in_flight = InFlight::start(&st.calltools_hooks.in_flight);
        let (st, hook, url) = (st.clone(), hook.clone(), url.clone());
        tokio::spawn(async move {
            deliver(&st, &hook, &url, settings, generation).await;
            drop(in_flight);
        });
    }
}

async fn deliver(st: &AppState, hook: &Hook, url: &str, settings: HookDelivery, generation: u64) {
    let headers = [("content-type", "application/json".to_owned())];
    let wire = Wire {
        url,
        body: &hook.body,
        headers: &headers,
    };
    let delay = Duration::from_millis(settings.delay_ms);
    for _ in 0..=settings.duplicates {
        if !delay.is_zero() && !sleep_or_shutdown(delay, &st.shutdown).await {
            return;
        }
        if st.generation() != generation {
            return;
        }
        let Some(answer) = post(&st.http, &wire, &st.shutdown).await else {
            return;
        };
        st.calltools_hooks.push(hook, url, answer.status, false);
    }
}
