//! Test doubles for the ports, behind the `testing` feature (always on in this crate's own
//! tests): in-memory stores and queues with the real adapters' semantics, scripted GHL and
//! CallTools, a clock a test sets, and [`kit::ConsumerKit`], which wires a real consumer from
//! them so a batch runs in milliseconds with no moto and no network.

pub mod calltools;
pub mod clock;
pub mod ghl;
pub mod kit;
pub mod memory;
pub mod queue;
pub mod store;
