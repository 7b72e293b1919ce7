//! The `leadsync-dev` subcommands.

pub mod demo;
pub mod events;
pub mod ledger;
pub mod local;
