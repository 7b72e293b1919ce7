//! Meta as played: the Graph API (conversations, messages, profiles, subscribed apps), its
//! errors and rate limits, the people in the inboxes and the webhooks they raise.

pub(crate) mod admin;
pub(crate) mod admin_events;
pub(crate) mod batch;
pub(crate) mod conversations;
pub(crate) mod events;
pub(crate) mod fields;
pub(crate) mod graph;
pub(crate) mod graph_error;
pub mod ids;
pub(crate) mod nodes;
pub(crate) mod paging;
pub(crate) mod rate_limit;
pub(crate) mod render;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod subscription;
pub(crate) mod users;
pub(crate) mod webhook;
