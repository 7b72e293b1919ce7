//! leadsync's fuzz targets: each `fuzz_targets/<name>.rs` calls the function of that name here.
//!
//! The routes are fuzzed behind verification: every input is also sent signed with the test
//! keys of [`harness`], so the fuzzer reaches the parsers, the webhook-id ledger and the queue.
//! The same input is sent forged and unsigned, and must never be enqueued that way.

pub mod harness;
pub mod parsers;
pub mod routes;

pub use parsers::{calltools_answer, ghl_contact, ghl_search_page, phone};
pub use routes::{calltools_hook, ghl_marketplace, ghl_workflow, meta_webhook};

#[cfg(test)]
mod tests;
