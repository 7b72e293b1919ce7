//! The `leadsync` operator command's library: the operator commands and the
//! target they work on, shared by the binary and the end-to-end tests.
#![forbid(unsafe_code)]

pub mod commands;
pub mod dlq;
pub mod doctor;
pub mod stats;
pub mod target;
