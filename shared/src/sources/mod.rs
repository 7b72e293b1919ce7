//! Where contacts come from: each source's API client, webhook signatures and shapes, and what the
//! consumer reads back. Ingress, the consumer and the backfill call into these.

pub mod ghl;
pub mod meta;
