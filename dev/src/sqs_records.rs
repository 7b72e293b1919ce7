//! SQS records as Lambda's event source mapping hands them to the consumer: one shape for the
//! committed `events/sqs-batch.json` fixture and the benchmark's invocations.

use serde_json::{Value, json};

/// The queue the records say they came from (the stack's job queue, by its template name).
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:leadsync-JobQueue";

/// One record of a GHL job, first received at `sent_at_ms` (+100 ms).
pub fn sqs_record(message_id: &str, body: String, sent_at_ms: i64) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("sample-receipt-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent_at_ms.to_string(),
                       "SenderId": "AROAEXAMPLE",
                       "ApproximateFirstReceiveTimestamp": (sent_at_ms + 100).to_string()},
        "messageAttributes": {"source": {"stringValue": "ghl", "dataType": "String"}},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1"
    })
}

/// The batch event around `records`.
pub fn sqs_event(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}
