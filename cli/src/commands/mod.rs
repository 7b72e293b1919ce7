//! The `leadsync` subcommands.

pub mod demo;
pub mod local;
