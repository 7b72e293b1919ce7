//! One webhook item per event kind (research §3), applied to the world first so Graph and the
//! webhook agree: a message or echo is stored, an edit changes the text, an unsend hides the
//! message. Kinds are checked against their channel: deliveries are Messenger-only, unsends
//! Instagram-only; Instagram read receipts (the `messaging_seen` field) name a `mid`, not a
//! watermark.

use serde::Deserialize;
use serde_json::json;

use crate::meta::store::{MetaWorld, NewMessage, Stored};
use crate::meta::users::Channel;
use crate::meta::webhook::{Item, Parties};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Message,
    Echo,
    Delivery,
    Read,
    Postback,
    Reaction,
    MessageEdit,
    Unsend,
    Optin,
    /// An item under a key leadsync does not know (`game_play`): it must be skipped, not fail.
    Unknown,
}

/// The kind-specific fields of an admin event body, all optional.
#[derive(Debug, Clone, Default)]
pub(crate) struct Details {
    pub mid: Option<String>,
    pub text: Option<String>,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
    pub action: Option<String>,
    pub payload: Option<String>,
    pub title: Option<String>,
}

/// The item, and the message it stored (message, echo, postback), if any.
pub(crate) struct Built {
    pub item: Item,
    pub stored: Option<Stored>,
}

/// Stores `new` in the person's conversation and returns its `message` item.
pub(crate) fn store_message(
    world: &mut MetaWorld,
    user_id: &str,
    new: NewMessage,
    standby: bool,
) -> Result<Built, String> {
    let channel = world.user(user_id).ok_or("no such user")?.channel;
    let at = world.next_ms();
    let stored = world.add_message(user_id, new, at)?;
    let (c, index) = world
        .message(&stored.mid)
        .ok_or("stored message vanished")?;
    let account_id = world.account_id(channel);
    let parties = Parties {
        channel,
        account_id,
        user_id,
    };
    let item = Item {
        timestamp: at,
        standby,
        json: parties.message(&c.messages[index]),
    };
    Ok(Built {
        item,
        stored: Some(stored),
    })
}

pub(crate) fn build(
    world: &mut MetaWorld,
    user_id: &str,
    kind: Kind,
    d: &Details,
    standby: bool,
) -> Result<Built, String> {
    let channel = world.user(user_id).ok_or("no such user")?.channel;
    match (kind, channel) {
        (Kind::Message | Kind::Echo | Kind::Postback, _) => {
            let text = match kind {
                Kind::Postback => d.title.clone().or_else(|| Some("Get Started".into())),
                _ => d.text.clone().or_else(|| Some("Hello".into())),
            };
            let new = NewMessage {
                from_business: kind == Kind::Echo,
                text,
                ..NewMessage::default()
            };
            let mut built = store_message(world, user_id, new, standby)?;
            if kind == Kind::Postback
                && let Some(stored) = &built.stored
            {
                // A button tap: the item carries `postback`, not `message`.
                let body = json!({
                    "mid": stored.mid,
                    "title": d.title.clone().unwrap_or_else(|| "Get Started".into()),
                    "payload": d.payload.clone().unwrap_or_else(|| "GET_STARTED".into()),
                });
                let account_id = world.account_id(channel);
                let parties = Parties {
                    channel,
                    account_id,
                    user_id,
                };
                built.item.json = parties.item(true, stored.created_ms, "postback", body);
            }
            Ok(built)
        }
        (Kind::Delivery, Channel::Instagram) => {
            Err("delivery is Messenger-only (Instagram sends no message_deliveries)".into())
        }
        (Kind::Unsend, Channel::Messenger) => {
            Err("unsend is Instagram-only (message.is_deleted)".into())
        }
        _ => signal(world, user_id, channel, kind, d, standby),
    }
}

/// The kinds that store no new message.
fn signal(
    world: &mut MetaWorld,
    user_id: &str,
    channel: Channel,
    kind: Kind,
    d: &Details,
    standby: bool,
) -> Result<Built, String> {
    let at = world.next_ms();
    let latest = |world: &MetaWorld, from_business: bool| -> Option<String> {
        let c = world
            .conversations(channel)
            .into_iter()
            .find(|c| c.user_id == user_id)?;
        // The latest message from the preferred side, else the latest at all.
        c.listed()
            .find(|(_, m)| m.from_business == from_business)
            .or_else(|| c.listed().next())
            .map(|(_, m)| m.mid.clone())
    };
    let mid_or_latest = |world: &MetaWorld, from_business| {
        d.mid
            .clone()
            .or_else(|| latest(world, from_business))
            .ok_or_else(|| {
                format!("{kind:?} needs a mid (and the conversation has no message to default to)")
            })
    };
    let (key, body) = match kind {
        Kind::Delivery => {
            let mut body = json!({ "watermark": at });
            if let Some(mid) = d.mid.clone().or_else(|| latest(world, true)) {
                body["mids"] = json!([mid]);
            }
            ("delivery", body)
        }
        Kind::Read => match channel {
            Channel::Messenger => ("read", json!({ "watermark": at })),
            Channel::Instagram => ("read", json!({ "mid": mid_or_latest(world, true)? })),
        },
        Kind::Reaction => {
            let mid = mid_or_latest(world, true)?;
            let action = d.action.clone().unwrap_or_else(|| "react".into());
            let mut body = json!({ "mid": mid, "action": action });
            if action == "react" {
                body["reaction"] = json!(d.reaction.clone().unwrap_or_else(|| "love".into()));
                body["emoji"] = json!(d.emoji.clone().unwrap_or_else(|| "\u{2764}".into()));
            }
            ("reaction", body)
        }
        Kind::MessageEdit => {
            let mid = d.mid.clone().ok_or("message_edit needs a mid")?;
            let text = d.text.clone().ok_or("message_edit needs a text")?;
            let num_edit = world
                .edit_message(&mid, &text)
                .ok_or_else(|| format!("no message {mid}"))?;
            (
                "message_edit",
                json!({ "mid": mid, "text": text, "num_edit": num_edit }),
            )
        }
        Kind::Unsend => {
            let mid = d.mid.clone().ok_or("unsend needs a mid")?;
            if !world.unsend_message(&mid) {
                return Err(format!("no message {mid}"));
            }
            ("message", json!({ "mid": mid, "is_deleted": true }))
        }
        Kind::Optin => {
            // Checkbox-plugin opt-ins name the person by a user_ref, not a PSID (research §3).
            let user_ref = format!("ur_{user_id}");
            let ref_ = d.payload.clone().unwrap_or_else(|| "sandbox-optin".into());
            let item = json!({
                "sender": { "user_ref": user_ref },
                "recipient": { "id": world.account_id(channel) },
                "timestamp": at,
                "optin": { "ref": ref_, "user_ref": user_ref },
            });
            return Ok(Built {
                item: Item {
                    timestamp: at,
                    standby,
                    json: item,
                },
                stored: None,
            });
        }
        _ => (
            "game_play",
            json!({ "game_id": "sandbox-game", "player_id": user_id, "context_type": "SOLO", "score": 100, "payload": "{}" }),
        ),
    };
    let parties = Parties {
        channel,
        account_id: world.account_id(channel),
        user_id,
    };
    Ok(Built {
        item: Item {
            timestamp: at,
            standby,
            json: parties.item(true, at, key, body),
        },
        stored: None,
    })
}
