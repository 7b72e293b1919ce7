//! Putting parked jobs back on the main queue, so they pass the consumer's idempotency again.
//!
//! Each message is sent first and deleted from the DLQ after: a crash in between duplicates a
//! job (harmless, the consumer skips a completed job id) but never loses one.

use std::num::NonZeroU32;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use governor::{Quota, RateLimiter};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::dlq::read::{self, Held, SCAN_VISIBILITY};
use crate::dlq::{Filter, ParkedMessage, SqsError};

#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Messages per second sent to the main queue.
    pub rate: NonZeroU32,
    /// Select and report, change nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayFailure {
    pub message_id: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub dry_run: bool,
    /// How many matched the filter.
    pub selected: usize,
    /// Sent to the main queue and deleted from the DLQ.
    pub replayed: usize,
    pub failed: usize,
    /// The selected messages, oldest first.
    pub messages: Vec<ParkedMessage>,
    pub failures: Vec<ReplayFailure>,
}

/// Replays the DLQ messages matching `filter` to `queue_url`; `progress` advances per message.
pub async fn replay(
    client: &Client,
    queue_url: &str,
    dlq_url: &str,
    filter: &Filter,
    opts: ReplayOptions,
    progress: &ProgressBar,
) -> Result<ReplayReport, SqsError> {
    let held = read::scan(client, dlq_url, SCAN_VISIBILITY).await?;
    let all: Vec<ParkedMessage> = held.iter().map(|h| h.message.clone()).collect();
    let chosen: Vec<&Held> = filter
        .select(&all)
        .into_iter()
        .filter_map(|m| held.iter().find(|h| h.message.message_id == m.message_id))
        .collect();
    let (selected, others): (Vec<&Held>, Vec<&Held>) = if opts.dry_run {
        (Vec::new(), held.iter().collect())
    } else {
        held.iter().partition(|h| {
            chosen
                .iter()
                .any(|c| c.message.message_id == h.message.message_id)
        })
    };
    read::release(client, dlq_url, &others).await?;
    let mut report = ReplayReport {
        dry_run: opts.dry_run,
        selected: chosen.len(),
        replayed: 0,
        failed: 0,
        messages: chosen.iter().map(|h| h.message.clone()).collect(),
        failures: Vec::new(),
    };
    if selected.is_empty() {
        return Ok(report);
    }

    // Keep the selection hidden for as long as sending it at `rate` takes, plus a margin, so no
    // receipt handle expires before its delete.
    let sending = Duration::from_secs(selected.len() as u64 / u64::from(opts.rate.get()) + 1);
    read::set_visibility(client, dlq_url, &selected, sending + SCAN_VISIBILITY).await?;

    let limiter = RateLimiter::direct(Quota::per_second(opts.rate));
    progress.set_length(selected.len() as u64);
    let mut unsent = Vec::new();
    for h in selected {
        limiter.until_ready().await;
        match send_back(client, queue_url, &h.message).await {
            Err(e) => {
                report.failures.push(ReplayFailure {
                    message_id: h.message.message_id.clone(),
                    error: e.to_string(),
                });
                unsent.push(h);
            }
            Ok(()) => match delete(client, dlq_url, h).await {
                Ok(()) => report.replayed += 1,
                Err(e) => {
                    // It is on the main queue already; the copy left here replays as a no-op.
                    report.failures.push(ReplayFailure {
                        message_id: h.message.message_id.clone(),
                        error: format!("sent, but still in the DLQ: {e}"),
                    });
                    unsent.push(h);
                }
            },
        }
        progress.inc(1);
    }
    report.failed = report.failures.len();
    read::release(client, dlq_url, &unsent).await?;
    Ok(report)
}

fn text(v: impl Into<String>, data_type: &str) -> Result<MessageAttributeValue, SqsError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(v)
        .build()
        .map_err(|e| SqsError::new("SendMessage", e))
}

async fn send_back(client: &Client, queue_url: &str, m: &ParkedMessage) -> Result<(), SqsError> {
    let mut req = client
        .send_message()
        .queue_url(queue_url)
        .message_body(&m.body)
        .message_attributes("replayed_from_dlq", text("true", "String")?)
        .message_attributes(
            "replay_count",
            text((m.replay_count + 1).to_string(), "Number")?,
        );
    // The attributes ingress sets on a new job, so a replayed job looks like one.
    for key in ["source", "job_id"] {
        if let Some(v) = m.attributes.get(key) {
            req = req.message_attributes(key, text(v, "String")?);
        }
    }
    req.send()
        .await
        .map_err(|e| SqsError::new("SendMessage", e))?;
    Ok(())
}

async fn delete(client: &Client, dlq_url: &str, h: &Held) -> Result<(), SqsError> {
    client
        .delete_message()
        .queue_url(dlq_url)
        .receipt_handle(&h.receipt_handle)
        .send()
        .await
        .map_err(|e| SqsError::new("DeleteMessage", e))?;
    Ok(())
}
