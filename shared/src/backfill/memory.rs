//! Checkpoints in memory, with the same rules as the DynamoDB adapter: one run in progress per
//! account, progress only from the page count it was read at.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::backfill::checkpoint::{Checkpoints, Run};
use crate::ports::store::StoreError;

#[derive(Default)]
pub struct MemoryCheckpoints {
    current: Mutex<HashMap<String, Run>>,
    history: Mutex<Vec<Run>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::permanent("poisoned")
}

fn account_key(source: &str, account: &str) -> String {
    format!("{source}#{account}")
}

#[async_trait]
impl Checkpoints for MemoryCheckpoints {
    async fn current(&self, source: &str, account: &str) -> Result<Option<Run>, StoreError> {
        Ok(self
            .current
            .lock()
            .map_err(poisoned)?
            .get(&account_key(source, account))
            .cloned())
    }

    async fn begin(&self, run: &Run) -> Result<bool, StoreError> {
        let mut current = self.current.lock().map_err(poisoned)?;
        let key = account_key(&run.source, &run.account);
        if current.contains_key(&key) {
            return Ok(false);
        }
        current.insert(key, run.clone());
        Ok(true)
    }

    async fn advance(&self, run: &Run, pages_before: u32) -> Result<bool, StoreError> {
        let mut current = self.current.lock().map_err(poisoned)?;
        match current.get_mut(&account_key(&run.source, &run.account)) {
            Some(stored) if stored.run_id == run.run_id && stored.pages == pages_before => {
                *stored = run.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn finish(&self, run: &Run) -> Result<(), StoreError> {
        self.current
            .lock()
            .map_err(poisoned)?
            .remove(&account_key(&run.source, &run.account));
        self.history.lock().map_err(poisoned)?.push(run.clone());
        Ok(())
    }

    async fn history(
        &self,
        source: &str,
        account: &str,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        let history = self.history.lock().map_err(poisoned)?;
        Ok(history
            .iter()
            .rev()
            .filter(|r| r.source == source && r.account == account)
            .take(limit)
            .cloned()
            .collect())
    }
}
