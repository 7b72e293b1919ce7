//! Webhook delivery as each vendor does it: GoHighLevel retries only a 429, ten minutes apart;
//! Meta retries any failure at once, twice. Both send the same bytes on every attempt and log each
//! one for the tests.

pub(crate) mod ghl;
pub(crate) mod meta;
