//! CallTools as played: its API under `/api/` (contacts, buckets, tags, calls, dispositions,
//! REST hook subscriptions) with DRF paging and validation, the account's modes, the contact
//! store, and the agents who dial (`/_sandbox/calltools/dial`).

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod api_calls;
pub(crate) mod calls;
pub(crate) mod dialer;
pub(crate) mod drf;
pub(crate) mod fields;
pub(crate) mod gate;
pub(crate) mod paging;
pub(crate) mod resthooks;
pub(crate) mod store;
pub(crate) mod validate;
