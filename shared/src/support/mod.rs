//! Small helpers with no place in the data flow: error lines, PEM keys, secrets, invocation ids
//! and UTF-16 surrogate repair.

pub mod error_line;
pub mod invocation;
pub mod pem;
pub mod secret;
pub mod surrogates;
