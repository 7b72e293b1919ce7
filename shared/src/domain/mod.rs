//! What leadsync is about, with no I/O: a contact and its key, a call and its outcome, the job that carries a change,
//! how a job ends (its outcome), the rules that decide buckets and tags, and the clock.

pub mod call;
pub mod clock;
pub mod contact;
pub mod job;
pub mod outcome;
pub mod rules;
pub mod sink;
pub mod source;
