//! leadsync: keeps contacts in sync from GoHighLevel into the CallTools dialer and leadsync's own
//! DynamoDB store. This crate holds everything the Lambda functions, the local stack and the
//! operator command share; the functions' `main.rs` files only wire it up.
#![forbid(unsafe_code)]

pub mod app;
pub mod backfill;
pub mod breaker;
pub mod calltools;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod contact;
pub mod error_line;
pub mod ghl;
pub mod ingress;
pub mod invocation;
pub mod job;
pub mod memory;
pub mod meta;
pub mod pem;
pub mod queue;
pub mod remote;
pub mod rules;
pub mod secret;
pub mod store;
pub mod surrogates;
pub mod telemetry;
