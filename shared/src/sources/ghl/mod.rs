//! GoHighLevel as a source: webhook verification and parsing, and the API client.

pub mod auth;
pub mod client;
pub mod dnd;
pub mod job;
pub mod read;
pub mod read_refusal;
pub mod routes;
pub mod scan;
pub mod search;
pub mod verify;
pub mod webhook;
