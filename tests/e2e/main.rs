//! End-to-end tests: real handlers, real AWS SDK calls against moto, the sandbox playing
//! GoHighLevel and CallTools over HTTP.

mod allow_list;
mod attacks;
mod audit;
mod backfill;
mod bad_input;
mod batches;
mod calls_back;
mod credentials;
mod dlq;
mod dnd;
mod doctor;
mod failures;
mod ghl_truth;
mod ingress_truth;
mod log_privacy;
mod lost_answer;
mod meta;
mod meta_backfill;
mod meta_subscription;
mod moto_fidelity;
mod oauth;
mod placement;
mod signatures;
mod sqs_characters;
mod state_migration;
mod stats;
mod sync;
mod trace;
