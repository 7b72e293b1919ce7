//! The `leadsync` operator command's library: the local stack, the sandbox and the operator
//! commands, shared by the binary and the end-to-end tests.
#![forbid(unsafe_code)]

pub mod attacks;
pub mod bench;
pub mod commands;
pub mod dlq;
pub mod ledger;
pub mod local;
pub mod stats;
