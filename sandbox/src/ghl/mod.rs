//! GoHighLevel as played: the account's variants, its API (contacts, search, OAuth, and the
//! writes: tags, notes, `PUT /contacts/{id}`) with its rate limits, the contact store and the
//! webhooks it raises.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod api_writes;
pub(crate) mod notes;
pub mod oauth;
pub(crate) mod rate_limit;
pub(crate) mod render;
pub(crate) mod search;
pub(crate) mod store;
pub(crate) mod webhooks;
pub(crate) mod write_bodies;
