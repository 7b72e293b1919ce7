//! The webhook bodies Meta POSTs (research §3): `{"object":"page"|"instagram","entry":[{id,
//! time,messaging:[...],standby?:[...]}]}`, one item per event with `sender`, `recipient` and a
//! 13-digit `timestamp`. Echoes swap sender and recipient; standby items (another app owns the
//! thread) sit under `standby[]` instead of `messaging[]`.

use serde_json::{Map, Value, json};

use crate::meta::ids::APP_ID;
use crate::meta::store::StoredMessage;
use crate::meta::users::Channel;

/// One messaging item and where it goes in its entry.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub timestamp: i64,
    pub standby: bool,
    pub json: Value,
}

/// The two sides of a conversation as webhooks name them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parties<'a> {
    pub channel: Channel,
    /// The Page id (Messenger) or the Instagram professional account id.
    pub account_id: &'a str,
    /// The PSID or IGSID.
    pub user_id: &'a str,
}

impl Parties<'_> {
    /// An item `{sender, recipient, timestamp, <key>: value}`; `from_user` decides direction.
    pub fn item(&self, from_user: bool, timestamp: i64, key: &str, value: Value) -> Value {
        let (sender, recipient) = if from_user {
            (self.user_id, self.account_id)
        } else {
            (self.account_id, self.user_id)
        };
        let mut item = json!({
            "sender": { "id": sender },
            "recipient": { "id": recipient },
            "timestamp": timestamp,
        });
        item[key] = value;
        item
    }

    /// A stored message as a `message` item: the person's message, or the business's echo.
    pub fn message(&self, m: &StoredMessage) -> Value {
        self.item(
            !m.from_business,
            m.created_ms,
            "message",
            message_body(self.channel, m),
        )
    }
}

/// `{"mid","text"?,"quick_reply"?,"reply_to"?,"attachments"?}`, plus `is_echo` (and on
/// Messenger the sending `app_id`) when the business sent it.
fn message_body(channel: Channel, m: &StoredMessage) -> Value {
    let mut body = Map::new();
    body.insert("mid".into(), json!(m.mid));
    if let Some(text) = &m.text {
        body.insert("text".into(), json!(text));
    }
    if m.from_business {
        body.insert("is_echo".into(), json!(true));
        if channel == Channel::Messenger {
            body.insert("app_id".into(), json!(APP_ID));
        }
    }
    if let Some(payload) = &m.quick_reply {
        body.insert("quick_reply".into(), json!({ "payload": payload }));
    }
    if let Some(mid) = &m.reply_to {
        body.insert("reply_to".into(), json!({ "mid": mid }));
    }
    if !m.attachments.is_empty() {
        let attachments: Vec<Value> = m
            .attachments
            .iter()
            .map(|a| match &a.url {
                Some(url) => json!({ "type": a.kind, "payload": { "url": url } }),
                None => json!({ "type": a.kind }),
            })
            .collect();
        body.insert("attachments".into(), Value::Array(attachments));
    }
    Value::Object(body)
}

/// The whole POST body: entries in the given order, each with its `messaging` and/or `standby`
/// items in the given order (callers decide whether that order is the timestamps').
pub(crate) fn envelope(
    channel: Channel,
    account_id: &str,
    entries: &[Vec<Item>],
    time_ms: i64,
) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|items| {
            let mut entry = json!({ "id": account_id, "time": time_ms });
            let (standby, messaging): (Vec<&Item>, Vec<&Item>) =
                items.iter().partition(|i| i.standby);
            if !messaging.is_empty() || standby.is_empty() {
                entry["messaging"] = messaging.iter().map(|i| i.json.clone()).collect();
            }
            if !standby.is_empty() {
                entry["standby"] = standby.iter().map(|i| i.json.clone()).collect();
            }
            entry
        })
        .collect();
    json!({ "object": channel.object(), "entry": entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::store::Attachment;

    const ADA: Parties = Parties {
        channel: Channel::Messenger,
        account_id: "100",
        user_id: "24",
    };

    #[test]
    fn an_echo_swaps_sender_and_recipient() {
        let m = StoredMessage {
            mid: "m_1".into(),
            created_ms: 5,
            from_business: true,
            text: Some("hi".into()),
            ..StoredMessage::default()
        };
        let item = ADA.message(&m);
        assert_eq!(item["sender"]["id"], "100");
        assert_eq!(item["recipient"]["id"], "24");
        assert_eq!(item["message"]["is_echo"], true);
        assert_eq!(item["message"]["app_id"], APP_ID);
    }

    #[test]
    fn attachments_carry_their_url_in_a_payload() {
        let m = StoredMessage {
            mid: "m_2".into(),
            attachments: vec![Attachment {
                kind: "image".into(),
                url: Some("https://x/y.jpg".into()),
            }],
            ..StoredMessage::default()
        };
        let item = ADA.message(&m);
        assert_eq!(item["sender"]["id"], "24");
        assert_eq!(
            item["message"]["attachments"][0]["payload"]["url"],
            "https://x/y.jpg"
        );
        assert!(item["message"].get("text").is_none());
    }

    #[test]
    fn standby_items_go_under_standby() {
        let item = |standby| Item {
            timestamp: 1,
            standby,
            json: json!({}),
        };
        let body = envelope(
            Channel::Instagram,
            "17",
            &[vec![item(true)], vec![item(false)]],
            9,
        );
        assert_eq!(body["object"], "instagram");
        assert_eq!(body["entry"][0]["standby"].as_array().unwrap().len(), 1);
        assert!(body["entry"][0].get("messaging").is_none());
        assert!(body["entry"][1].get("standby").is_none());
    }
}
