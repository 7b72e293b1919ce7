//! leadsync: keeps contacts in sync from GoHighLevel, Messenger and Instagram into the CallTools
//! dialer and leadsync's own DynamoDB store. This crate holds everything the Lambda functions, the
//! local stack and the operator command share; the functions' `main.rs` files only wire it up.
//!
//! The modules follow the data: `sources` → `ingress` (webhooks) and `backfill` (scans) → the
//! queue → `consumer` → `sinks`, all in terms of `domain` types, through `ports` that `aws`
//! implements; `app` wires them from configuration.
#![forbid(unsafe_code)]

pub mod domain;

pub mod sources;

pub mod backfill;
pub mod consumer;
pub mod ingress;

pub mod sinks;

pub mod ports;

pub mod aws;

pub mod app;
pub mod support;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// The in-memory adapters, at the path the benchmark, the fuzz harness and the tests know.
#[cfg(any(test, feature = "testing"))]
pub use testing::memory;
