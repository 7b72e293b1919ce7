//! The development rig behind `leadsync-dev`: its commands, the benchmark, the ledger test and
//! the attack suite, shared by the binary and the end-to-end tests.
#![forbid(unsafe_code)]

pub mod attacks;
pub mod bench;
pub mod commands;
pub mod ledger;
pub mod sqs_records;
