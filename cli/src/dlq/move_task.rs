//! Replay on AWS through SQS's own redrive (`StartMessageMoveTask`): fast and server-side, but
//! it moves the whole DLQ and cannot filter. moto does not implement it.

use std::num::NonZeroU32;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::dlq::SqsError;

/// SQS caps a move task's rate at 500 messages per second.
pub const MAX_RATE: u32 = 500;
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, Serialize)]
pub struct MoveProgress {
    pub status: String,
    pub moved: i64,
    pub to_move: Option<i64>,
    pub failure_reason: Option<String>,
}

impl MoveProgress {
    pub fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETED" | "CANCELLED" | "FAILED")
    }
}

async fn queue_arn(client: &Client, url: &str) -> Result<String, SqsError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| SqsError::new("GetQueueAttributes", e))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| SqsError {
            operation: "GetQueueAttributes",
            detail: format!("no QueueArn for {url}"),
        })
}

/// Starts a move task from the DLQ to the main queue and polls it until it ends, calling
/// `on_progress` after each poll. Returns the final state.
pub async fn move_all(
    client: &Client,
    queue_url: &str,
    dlq_url: &str,
    rate: NonZeroU32,
    mut on_progress: impl FnMut(&MoveProgress),
) -> Result<MoveProgress, SqsError> {
    let source = queue_arn(client, dlq_url).await?;
    let destination = queue_arn(client, queue_url).await?;
    client
        .start_message_move_task()
        .source_arn(&source)
        .destination_arn(destination)
        .max_number_of_messages_per_second(rate.get().min(MAX_RATE) as i32)
        .send()
        .await
        .map_err(|e| SqsError::new("StartMessageMoveTask", e))?;
    loop {
        tokio::time::sleep(POLL).await;
        let out = client
            .list_message_move_tasks()
            .source_arn(&source)
            .max_results(1)
            .send()
            .await
            .map_err(|e| SqsError::new("ListMessageMoveTasks", e))?;
        // The newest task comes first: the one just started.
        let Some(task) = out.results.unwrap_or_default().into_iter().next() else {
            continue;
        };
        let progress = MoveProgress {
            status: task.status.unwrap_or_default(),
            moved: task.approximate_number_of_messages_moved,
            to_move: task.approximate_number_of_messages_to_move,
            failure_reason: task.failure_reason,
        };
        on_progress(&progress);
        if progress.is_done() {
            return Ok(progress);
        }
    }
}
