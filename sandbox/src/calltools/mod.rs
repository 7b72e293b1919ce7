//! CallTools as played: its API under `/api/` (contacts, buckets, tags) with DRF paging and
//! validation, the account's modes and the contact store.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod drf;
pub(crate) mod fields;
pub(crate) mod gate;
pub(crate) mod paging;
pub(crate) mod store;
pub(crate) mod validate;
