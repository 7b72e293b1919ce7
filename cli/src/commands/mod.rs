//! The `leadsync` subcommands.

pub mod demo;
pub mod dlq;
pub mod events;
pub mod ledger;
pub mod local;
pub mod trace;
