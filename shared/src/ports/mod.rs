//! The small traits the pipeline stages depend on, and the errors they share: the store (state,
//! claims, leases, webhook ids), the event log, the job queue, remote APIs and the circuit breaker
//! guarding them. Adapters live in `aws/` (DynamoDB, SQS) and in each source's and sink's folder.

pub mod breaker;
pub mod events;
pub mod queue;
pub mod remote;
pub mod store;
