//! The deadline of the Lambda invocation a task runs in. The consumer and the backfill get it
//! from the Lambda context and pass it down explicitly; one decision sits below ports shared by
//! every caller — whether the GHL token source may start a refresh, reached through every GHL
//! call — where threading it through each signature would spread it everywhere. It reads the
//! deadline here. Outside an invocation (the CLI, a test) there is none.

use std::future::Future;

tokio::task_local! {
    static DEADLINE_MS: i64;
}

/// Runs `work` as part of an invocation that ends at `deadline_ms` (epoch ms).
pub async fn within<F: Future>(deadline_ms: i64, work: F) -> F::Output {
    DEADLINE_MS.scope(deadline_ms, work).await
}

/// The deadline of the invocation this task runs in, if it runs in one.
pub fn deadline_ms() -> Option<i64> {
    DEADLINE_MS.try_with(|d| *d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_inside_an_invocation_sees_its_deadline_and_work_outside_none() {
        assert_eq!(deadline_ms(), None);
        let inside = within(42, async {
            tokio::task::yield_now().await;
            deadline_ms()
        })
        .await;
        assert_eq!(inside, Some(42));
        assert_eq!(deadline_ms(), None);
    }
}
