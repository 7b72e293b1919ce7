//! Facebook Messenger and Instagram as a source: the webhook's signature and events, and the
//! Graph API for profiles, conversations and subscription health (research/meta_messenger_instagram.md).
//!
//! A Meta contact is the person on the other side of a Page's (or Instagram account's) inbox:
//! keyed by (channel, page or Instagram account id, PSID or IGSID). PSIDs and IGSIDs are
//! separate id spaces, so the channel is part of the key.

pub mod event;
pub mod graph;
pub mod job;
pub mod read;
pub mod routes;
pub mod scan;
pub mod store;
pub mod subscription;
pub mod verify;
pub mod webhook;

use serde::{Deserialize, Serialize};

use crate::domain::contact::ContactKey;
use crate::domain::source::Source;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Messenger,
    Instagram,
}

impl Channel {
    /// The webhook's `object`: `page` for Messenger, `instagram` for Instagram.
    pub fn from_object(object: &str) -> Option<Self> {
        match object {
            "page" => Some(Self::Messenger),
            "instagram" => Some(Self::Instagram),
            _ => None,
        }
    }

    /// Also the `platform` of the Conversations API and the contact key's source.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }

    /// The contact source this channel's users are.
    pub fn source(self) -> Source {
        match self {
            Self::Messenger => Source::Messenger,
            Self::Instagram => Source::Instagram,
        }
    }

    pub fn contact_key(self, account_id: &str, user_id: &str) -> ContactKey {
        ContactKey {
            source: self.source(),
            account: account_id.into(),
            id: user_id.into(),
        }
    }
}
