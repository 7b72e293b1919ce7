//! Where a ledger run's time went: how fast webhooks came in and jobs settled, each phase's
//! time, and the CPU each process used. The run fills it; the balance does not look at it.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where a run's time went: its phases, and the CPU each process used over them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// GHL changes made, and at what pace they were asked for (changes per second).
    pub changes: u64,
    pub paced_at: u32,
    /// Delivery attempts GHL had made when the last change was made (duplicates and 429
    /// retries included; held-back deliveries may still follow).
    pub delivered_while_changing: usize,
    /// Making the changes (the CallTools outage falls inside).
    pub changes_secs: f64,
    /// From the last change until GHL stopped delivering and the queue had drained.
    pub drain_secs: f64,
    /// Replaying the DLQ and draining again.
    pub replay_secs: f64,
    /// Reading everything back and balancing (after `elapsed_secs`).
    pub balance_secs: f64,
    /// CPU seconds over the run: moto (the local DynamoDB and SQS), and this process (the
    /// functions, the sandbox and the driver). `None` where it could not be read (moto's pid
    /// unknown, or not on Linux).
    pub moto_cpu_secs: Option<f64>,
    pub own_cpu_secs: Option<f64>,
    /// The requests moto answered over the run, by `service.Action`: the functions', and the
    /// driver's own (its queue-depth reads while draining, the DLQ listing and replay); another
    /// test sharing the moto adds its own. Empty where moto does not count them.
    pub aws_requests: BTreeMap<String, u64>,
}

impl Timing {
    /// Changes per second made while changing.
    pub fn changes_per_sec(&self) -> f64 {
        per_sec(self.changes as f64, self.changes_secs)
    }
}

impl Timing {
    /// The requests moto answered, by service (`dynamodb`, `sqs`, …), most first.
    pub fn aws_requests_by_service(&self) -> Vec<(String, u64)> {
        let mut by_service = BTreeMap::<String, u64>::new();
        for (action, n) in &self.aws_requests {
            let service = action.split_once('.').map_or(action.as_str(), |(s, _)| s);
            *by_service.entry(service.to_string()).or_default() += n;
        }
        let mut v: Vec<_> = by_service.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// `n` per second over `secs`, 0 for no time (the ledger's ratios are the same division).
pub fn per_sec(n: f64, secs: f64) -> f64 {
    if secs > 0.0 { n / secs } else { 0.0 }
}
