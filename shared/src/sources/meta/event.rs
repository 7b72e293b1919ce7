//! One Messenger or Instagram webhook item in leadsync's terms: who the contact is, when, and
//! what happened. It travels inside the job, so it is versioned with the job's `kind`.

use serde::{Deserialize, Serialize};

use super::Channel;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaEvent {
    pub channel: Channel,
    /// The Page id (Messenger) or Instagram professional account id: `entry[].id`.
    pub account_id: String,
    /// The contact's PSID or IGSID: the sender, or the recipient of an echo.
    pub user_id: String,
    /// Meta's own time for the event (epoch ms); orders events that arrive out of order.
    pub timestamp_ms: i64,
    /// Delivered under `standby[]`: another app held the thread.
    #[serde(default)]
    pub standby: bool,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A message from the contact, or an echo of one sent to them (`echo`).
    Message(Message),
    /// `message_edit`: the message now reads `text`.
    Edit {
        mid: String,
        text: String,
        num_edit: u32,
    },
    /// Instagram `message.is_deleted`: the contact unsent the message.
    Unsend { mid: String },
    Delivery {
        #[serde(default)]
        mids: Vec<String>,
        watermark: i64,
    },
    /// Messenger `read`, Instagram `messaging_seen` (as `read`).
    Read { watermark: i64 },
    Postback {
        mid: Option<String>,
        title: Option<String>,
        payload: Option<String>,
    },
    Reaction {
        mid: String,
        /// `react` or `unreact`.
        action: String,
        reaction: Option<String>,
        emoji: Option<String>,
    },
    /// Found by the backfill: a conversation with activity leadsync has not stored (or a
    /// person it never saw). `name` and `username` come from the participants list, a name
    /// source when the profile API is refused.
    Conversation {
        conversation_id: String,
        name: Option<String>,
        username: Option<String>,
        /// Its most recent messages (Meta details at most 20).
        #[serde(default)]
        messages: Vec<crate::sources::meta::graph::StoredMessage>,
    },
    /// The backfill's profile refresh: the contact's profile is missing or old.
    RefreshProfile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub mid: String,
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// A quick reply's payload; for the `user_phone_number` / `user_email` quick replies it is
    /// the phone number or email the person chose to share.
    pub quick_reply: Option<String>,
    pub reply_to: Option<String>,
    /// Sent by the Page (or another app on it) to the contact.
    #[serde(default)]
    pub echo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
}

impl EventKind {
    /// A short stable name for logs, metrics and the event log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Message(m) if m.echo => "echo",
            Self::Message(_) => "message",
            Self::Edit { .. } => "message_edit",
            Self::Unsend { .. } => "unsend",
            Self::Delivery { .. } => "delivery",
            Self::Read { .. } => "read",
            Self::Postback { .. } => "postback",
            Self::Reaction { .. } => "reaction",
            Self::Conversation { .. } => "conversation",
            Self::RefreshProfile => "refresh_profile",
        }
    }

    /// Every message id the event carries, to be checked before any is used.
    pub fn message_ids(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Self::Message(m) => {
                Box::new(std::iter::once(m.mid.as_str()).chain(m.reply_to.as_deref()))
            }
            Self::Edit { mid, .. } | Self::Unsend { mid } | Self::Reaction { mid, .. } => {
                Box::new(std::iter::once(mid.as_str()))
            }
            Self::Postback { mid, .. } => Box::new(mid.as_deref().into_iter()),
            Self::Delivery { mids, .. } => Box::new(mids.iter().map(String::as_str)),
            Self::Read { .. } | Self::Conversation { .. } | Self::RefreshProfile => {
                Box::new(std::iter::empty())
            }
        }
    }

    /// Whether this event means the person is talking to the Page (a contact and conversation
    /// exist from here on), rather than a receipt about messages.
    pub fn is_activity(&self) -> bool {
        matches!(
            self,
            Self::Message(_) | Self::Postback { .. } | Self::Conversation { .. }
        )
    }
}
