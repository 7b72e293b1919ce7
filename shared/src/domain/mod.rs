//! What leadsync is about, with no I/O: a contact and its key, the job that carries a change,
//! the rules that decide buckets and tags, and the clock.

pub mod clock;
pub mod contact;
pub mod job;
pub mod rules;
pub mod sink;
pub mod source;
