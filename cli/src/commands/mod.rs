//! The `leadsync` subcommands.

pub mod demo;
pub mod events;
pub mod local;
