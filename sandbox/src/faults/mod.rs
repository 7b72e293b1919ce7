//! Everything a test can make go wrong, on demand: CallTools answers, GHL webhook delivery
//! (duplicates, reordering, drops) and Graph calls.

pub(crate) mod calltools;
pub(crate) mod delivery;
pub(crate) mod graph;
