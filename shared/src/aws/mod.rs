//! AWS adapters: DynamoDB for the store ports, SQS for the queue, CloudWatch EMF for metrics.

pub mod dynamo;
pub mod local;
pub mod sqs;
pub mod telemetry;
