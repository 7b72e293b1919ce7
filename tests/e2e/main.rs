//! End-to-end tests: real handlers, real AWS SDK calls against moto, the sandbox playing
//! GoHighLevel and CallTools over HTTP.

mod backfill;
mod bad_input;
mod batches;
mod credentials;
mod dlq;
mod failures;
mod meta;
mod meta_backfill;
mod oauth;
mod signatures;
mod stats;
mod sync;
mod trace;
