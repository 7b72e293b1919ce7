//! Small helpers shared by both fake APIs: clock, ids, locking, cancellable sleeps.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::RngExt as _;
use rand::distr::Alphanumeric;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::sync::watch;

/// Locks without propagating poison: a handler that panicked must not take the whole sandbox
/// down with it, and every critical section leaves the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// `2021-11-26T12:41:02.193Z`: the ISO-8601 form with milliseconds GoHighLevel uses.
pub(crate) fn iso_ms(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// A 20-character alphanumeric id like GoHighLevel's (`nmFmQEsNgz6AVpgLVUJ0`).
pub(crate) fn ghl_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// A random UUID v4 string, for webhook and trace ids.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Sleeps, unless the sandbox shuts down first. Returns false when interrupted, so hanging
/// requests and pending webhook retries never outlive the sandbox.
pub(crate) async fn sleep_or_shutdown(dur: Duration, shutdown: &watch::Receiver<bool>) -> bool {
    let mut shutdown = shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(dur) => true,
        _ = shutdown.wait_for(|stop| *stop) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_ms_has_millisecond_precision_and_z() {
        assert_eq!(iso_ms(1_637_930_462_193), "2021-11-26T12:41:02.193Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_look_like_the_real_ones() {
        let id = ghl_id();
        assert_eq!(id.len(), 20);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
