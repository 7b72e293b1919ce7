//! End-to-end tests: real handlers, real AWS SDK calls against moto, the sandbox playing
//! GoHighLevel and CallTools over HTTP.

mod backfill;
mod bad_input;
mod batches;
mod dlq;
mod dnd;
mod failures;
mod lost_answer;
mod meta;
mod meta_backfill;
mod meta_subscription;
mod oauth;
mod signatures;
mod stats;
mod sync;
mod trace;
