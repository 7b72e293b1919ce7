//! Reads a Messenger / Instagram webhook POST into one event per item.
//!
//! One POST can carry many entries, each with many `messaging[]` and `standby[]` items (up to
//! 1000 updates, research §3). Every item is read on its own: an item leadsync does not know is
//! counted and skipped, it never fails the others. Each item's exact text is kept for the trace.

use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use super::Channel;
use super::event::{Attachment, EventKind, Message, MetaEvent};
use crate::support::surrogates::replace_lone_surrogates;

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("the body is not a Meta webhook: {0}")]
    Malformed(String),
}

/// What one POST holds.
#[derive(Debug)]
pub enum Batch<'a> {
    /// `object` is `page` or `instagram`.
    Items {
        channel: Channel,
        items: Vec<Item<'a>>,
    },
    /// Another `object` (e.g. `user`, `whatsapp_business_account`): not a source of leadsync.
    OtherObject(String),
}

#[derive(Debug)]
pub enum Item<'a> {
    Event {
        event: MetaEvent,
        /// The item exactly as it appears in the body.
        raw: &'a str,
    },
    /// An item of a kind leadsync does not act on (optin without a PSID, `game_play`, ...).
    Unknown { kind: String },
}

#[derive(Deserialize)]
struct Body<'a> {
    object: String,
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Id,
    #[serde(default, borrow)]
    messaging: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    standby: Vec<&'a RawValue>,
}

/// Ids are strings on the wire; accept numbers too rather than lose an event to a formatting change.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(u64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s,
            Id::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
struct RawItem {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<RawMessage>,
    message_edit: Option<RawEdit>,
    delivery: Option<RawDelivery>,
    // Messenger `read`; Instagram documents the field as `messaging_seen`.
    #[serde(alias = "messaging_seen")]
    read: Option<RawWatermark>,
    postback: Option<RawPostback>,
    reaction: Option<RawReaction>,
    optin: Option<serde_json::Value>,
    referral: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Party {
    id: Option<Id>,
}

#[derive(Deserialize)]
struct RawMessage {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
    quick_reply: Option<Payload>,
    reply_to: Option<Mid>,
}

#[derive(Deserialize)]
struct RawAttachment {
    #[serde(rename = "type")]
    kind: String,
    payload: Option<UrlPayload>,
}

#[derive(Deserialize)]
struct UrlPayload {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Mid {
    mid: Option<String>,
}

#[derive(Deserialize)]
struct RawEdit {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    num_edit: u32,
}

#[derive(Deserialize)]
struct RawDelivery {
    #[serde(default)]
    mids: Vec<String>,
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct RawWatermark {
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct RawPostback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct RawReaction {
    mid: String,
    action: Option<String>,
    reaction: Option<String>,
    emoji: Option<String>,
}

/// Parses a verified body. `Err` only when the body as a whole is not a webhook.
pub fn parse(body: &[u8]) -> Result<Batch<'_>, WebhookError> {
    let text = std::str::from_utf8(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let body: Body<'_> =
        serde_json::from_str(text).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let Some(channel) = Channel::from_object(&body.object) else {
        return Ok(Batch::OtherObject(body.object));
    };
    let mut items = Vec::new();
    for entry in body.entry {
        let account = entry.id.into_string();
        let placed = entry
            .messaging
            .into_iter()
            .map(|raw| (raw, false))
            .chain(entry.standby.into_iter().map(|raw| (raw, true)));
        for (raw, standby) in placed {
            items.push(if is_graph_id(&account) {
                read_item(channel, &account, raw, standby)
            } else {
                Item::Unknown {
                    kind: INVALID_ID.into(),
                }
            });
        }
    }
    Ok(Batch::Items { channel, items })
}

fn read_item<'a>(channel: Channel, account: &str, raw: &'a RawValue, standby: bool) -> Item<'a> {
    let unknown = |kind: &str| Item::Unknown { kind: kind.into() };
    let Ok(item) = serde_json::from_str::<RawItem>(&replace_lone_surrogates(raw.get())) else {
        return unknown("unreadable");
    };
    let sender = item.sender.and_then(|p| p.id).map(Id::into_string);
    let recipient = item.recipient.and_then(|p| p.id).map(Id::into_string);
    let timestamp_ms = item.timestamp.unwrap_or(0);
    let (user, kind) = if let Some(m) = item.message {
        if m.is_deleted {
            (sender, EventKind::Unsend { mid: m.mid })
        } else {
            // An echo goes from the Page to the contact: the contact is the recipient.
            let user = if m.is_echo { recipient } else { sender };
            let message = Message {
                mid: m.mid,
                text: m.text,
                attachments: m
                    .attachments
                    .into_iter()
                    .map(|a| Attachment {
                        kind: a.kind,
                        url: a.payload.and_then(|p| p.url),
                    })
                    .collect(),
                quick_reply: m.quick_reply.and_then(|q| q.payload),
                reply_to: m.reply_to.and_then(|r| r.mid),
                echo: m.is_echo,
            };
            (user, EventKind::Message(message))
        }
    } else if let Some(e) = item.message_edit {
        let kind = EventKind::Edit {
            mid: e.mid,
            text: e.text.unwrap_or_default(),
            num_edit: e.num_edit,
        };
        (sender, kind)
    } else if let Some(r) = item.reaction {
        let kind = EventKind::Reaction {
            mid: r.mid,
            action: r.action.unwrap_or_else(|| "react".into()),
            reaction: r.reaction,
            emoji: r.emoji,
        };
        (sender, kind)
    } else if let Some(p) = item.postback {
        let kind = EventKind::Postback {
            mid: p.mid,
            title: p.title,
            payload: p.payload,
        };
        (sender, kind)
    } else if let Some(d) = item.delivery {
        let kind = EventKind::Delivery {
            mids: d.mids,
            watermark: d.watermark.unwrap_or(timestamp_ms),
        };
        (sender, kind)
    } else if let Some(r) = item.read {
        let kind = EventKind::Read {
            watermark: r.watermark.unwrap_or(timestamp_ms),
        };
        (sender, kind)
    } else if item.optin.is_some() {
        // Not a conversation, and it may name the person by `user_ref` only.
        return unknown("optin");
    } else if item.referral.is_some() {
        return unknown("referral");
    } else {
        return unknown(&first_key(raw.get()));
    };
    if !kind.message_ids().all(is_message_id) {
        return unknown(INVALID_ID);
    }
    match user {
        Some(user_id) if !is_graph_id(&user_id) => unknown(INVALID_ID),
        Some(user_id) => Item::Event {
            event: MetaEvent {
                channel,
                account_id: account.to_string(),
                user_id,
                timestamp_ms,
                standby,
                kind,
            },
            raw: raw.get(),
        },
        _ => unknown("no_sender"),
    }
}

/// The kind of an item whose ids are not Meta's: it is dropped before an id reaches a DynamoDB
/// key or a Graph API path.
const INVALID_ID: &str = "invalid_id";

/// Page, Instagram account, PSID and IGSID ids are decimal numbers; a PSID is the path of the
/// profile read, so nothing else may pass.
pub fn is_graph_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// Message ids (`m_…` on Messenger, base64 text on Instagram) go into job ids and keys: letters,
/// digits and the few marks they use, never `#` (the key separator), spaces or controls.
pub fn is_message_id(mid: &str) -> bool {
    (1..=512).contains(&mid.len())
        && mid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.=+/:".contains(&b))
}

/// The item's event key for the "unknown kind" metric: its first key that is not an envelope field.
fn first_key(raw: &str) -> String {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw)
        .ok()
        .and_then(|m| {
            m.keys()
                .find(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp"))
                .cloned()
        })
        .unwrap_or_else(|| "empty".into())
}

#[cfg(test)]
mod tests;
