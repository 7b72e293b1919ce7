//! Reading the DLQ without consuming it.
//!
//! SQS has no peek: every message is received under a visibility timeout long enough for the
//! command, collected until no more arrive, and the ones the command does not act on are made
//! visible again at once (`ChangeMessageVisibility 0`), so a `list` leaves the DLQ as it found it.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};

use crate::dlq::{Filter, ParkedMessage, SqsError};

/// How long a scan hides the messages it received: long enough to finish reading and to decide.
pub const SCAN_VISIBILITY: Duration = Duration::from_secs(60);

/// SQS takes at most 10 messages per receive and 10 entries per batch call.
const BATCH: usize = 10;

/// A message received from the DLQ: hidden from others until released or deleted.
#[derive(Debug, Clone)]
pub struct Held {
    pub message: ParkedMessage,
    pub receipt_handle: String,
}

/// Receives every message in the DLQ, hiding each for `visibility`.
pub async fn scan(
    client: &Client,
    dlq_url: &str,
    visibility: Duration,
) -> Result<Vec<Held>, SqsError> {
    let mut seen = HashSet::new();
    let mut held = Vec::new();
    loop {
        // A 1 s wait makes it a long poll, which asks every SQS server: a short poll samples
        // some of them and may come back empty while messages remain.
        let out = client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(BATCH as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| SqsError::new("ReceiveMessage", e))?;
        let messages = out.messages.unwrap_or_default();
        let mut new = 0;
        for m in &messages {
            let (Some(id), Some(handle)) = (m.message_id.as_deref(), m.receipt_handle.as_deref())
            else {
                continue;
            };
            // Seen twice only if the scan outlived the visibility timeout: keep the newer
            // receipt handle, the older one no longer works.
            if !seen.insert(id.to_string()) {
                if let Some(h) = held
                    .iter_mut()
                    .find(|h: &&mut Held| h.message.message_id == id)
                {
                    h.receipt_handle = handle.to_string();
                }
                continue;
            }
            new += 1;
            held.push(Held {
                message: ParkedMessage::from_sqs(m),
                receipt_handle: handle.to_string(),
            });
        }
        if new == 0 {
            return Ok(held);
        }
    }
}

/// Sets the visibility of these held messages: 0 releases them at once.
pub async fn set_visibility(
    client: &Client,
    dlq_url: &str,
    messages: &[&Held],
    visibility: Duration,
) -> Result<(), SqsError> {
    for chunk in messages.chunks(BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&h.receipt_handle)
                    .visibility_timeout(visibility.as_secs().min(43_200) as i32)
                    .build()
                    .map_err(|e| SqsError::new("ChangeMessageVisibilityBatch", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .change_message_visibility_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SqsError::new("ChangeMessageVisibilityBatch", e))?;
        if let Some(f) = out.failed.first() {
            return Err(SqsError {
                operation: "ChangeMessageVisibilityBatch",
                detail: format!("{}: {}", f.code, f.message.as_deref().unwrap_or("")),
            });
        }
    }
    Ok(())
}

/// Makes these held messages visible again at once.
pub async fn release(client: &Client, dlq_url: &str, messages: &[&Held]) -> Result<(), SqsError> {
    set_visibility(client, dlq_url, messages, Duration::ZERO).await
}

/// What a `list` (or `show`) found.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The matching messages, oldest first.
    pub selected: Vec<ParkedMessage>,
    /// Every message in the DLQ.
    pub total: usize,
}

/// The parked messages matching `filter`; the DLQ is left as it was.
pub async fn list(client: &Client, dlq_url: &str, filter: &Filter) -> Result<Listing, SqsError> {
    let held = scan(client, dlq_url, SCAN_VISIBILITY).await?;
    release(client, dlq_url, &held.iter().collect::<Vec<_>>()).await?;
    let all: Vec<ParkedMessage> = held.into_iter().map(|h| h.message).collect();
    Ok(Listing {
        selected: filter.select(&all).into_iter().cloned().collect(),
        total: all.len(),
    })
}

/// The parked messages named `id` (a message id or a job id); the DLQ is left as it was.
pub async fn find(client: &Client, dlq_url: &str, id: &str) -> Result<Listing, SqsError> {
    let mut listing = list(client, dlq_url, &Filter::default()).await?;
    listing.selected.retain(|m| m.is_named(id));
    Ok(listing)
}
