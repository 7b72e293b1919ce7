//! How Graph shows the played world: a person or the business as `from`/`to`/participants, a
//! message with the fields asked for, and profile pictures behind expiring CDN URLs.

use serde_json::{Map, Value, json};

use crate::SandboxConfig;
use crate::meta::fields::Field;
use crate::meta::ids::{IG_USERNAME, PAGE_NAME, graph_time};
use crate::meta::store::{Conversation, MetaWorld, StoredMessage};
use crate::meta::users::{Channel, MetaUser};
use crate::support::now_ms;

/// Fields a message node (or a nested `messages{...}` entry) can be asked for.
pub(crate) const MESSAGE_FIELDS: [&str; 11] = [
    "id",
    "created_time",
    "from",
    "to",
    "message",
    "attachments",
    "reply_to",
    "sticker",
    "shares",
    "tags",
    "is_unsupported",
];

/// A person as Graph names them: Messenger adds the proxy `email`, Instagram the `username`.
pub(crate) fn person(user: &MetaUser) -> Value {
    match user.channel {
        Channel::Messenger => json!({
            "name": user.name,
            "email": format!("{}@facebook.com", user.id),
            "id": user.id,
        }),
        Channel::Instagram => json!({
            "username": user.username(),
            "name": user.name,
            "id": user.id,
        }),
    }
}

/// The Page, or on Instagram the professional account (its id, not the Page's).
pub(crate) fn business(cfg: &SandboxConfig, channel: Channel) -> Value {
    match channel {
        Channel::Messenger => json!({
            "name": PAGE_NAME,
            "email": format!("{}@facebook.com", cfg.meta_page_id),
            "id": cfg.meta_page_id,
        }),
        Channel::Instagram => json!({
            "username": IG_USERNAME,
            "name": PAGE_NAME,
            "id": cfg.meta_ig_account_id,
        }),
    }
}

/// A party who is gone from the world (cannot happen through the admin API) still renders.
fn person_or_id(world: &MetaWorld, id: &str) -> Value {
    world.user(id).map_or_else(|| json!({ "id": id }), person)
}

/// `{"data":[person, business]}`.
pub(crate) fn participants(cfg: &SandboxConfig, world: &MetaWorld, c: &Conversation) -> Value {
    json!({ "data": [person_or_id(world, &c.user_id), business(cfg, c.channel)] })
}

/// The message with the fields asked for; `id` is always there. `None` asks for the default
/// (`id`, `created_time`).
pub(crate) fn message(
    cfg: &SandboxConfig,
    world: &MetaWorld,
    c: &Conversation,
    m: &StoredMessage,
    fields: Option<&[Field]>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(m.mid));
    let Some(fields) = fields else {
        out.insert("created_time".into(), json!(graph_time(m.created_ms)));
        return Value::Object(out);
    };
    let (from, to) = if m.from_business {
        (business(cfg, c.channel), person_or_id(world, &c.user_id))
    } else {
        (person_or_id(world, &c.user_id), business(cfg, c.channel))
    };
    for field in fields.iter().map(|f| f.name.as_str()) {
        let value = match field {
            "created_time" => json!(graph_time(m.created_ms)),
            "from" => from.clone(),
            "to" => json!({ "data": [to.clone()] }),
            "message" => json!(m.text.clone().unwrap_or_default()),
            "attachments" if !m.attachments.is_empty() => attachments(m),
            "reply_to" => match &m.reply_to {
                Some(mid) => json!({ "mid": mid, "is_self_reply": false }),
                None => continue,
            },
            "tags" => {
                json!({ "data": [{ "name": if m.from_business { "source:chat" } else { "inbox" } }] })
            }
            "is_unsupported" => json!(false),
            // Absent fields are left out, as Graph does for empty edges.
            _ => continue,
        };
        out.insert(field.to_owned(), value);
    }
    Value::Object(out)
}

fn attachments(m: &StoredMessage) -> Value {
    let data: Vec<Value> = m
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let url = a.url.clone().unwrap_or_default();
            let mut item = json!({ "id": format!("{}_{i}", m.mid) });
            match a.kind.as_str() {
                "image" | "sticker" => {
                    item["mime_type"] = json!("image/jpeg");
                    item["image_data"] =
                        json!({ "url": url, "preview_url": url, "width": 720, "height": 960 });
                }
                "video" | "reel" | "ig_reel" => {
                    item["mime_type"] = json!("video/mp4");
                    item["video_data"] =
                        json!({ "url": url, "preview_url": url, "width": 720, "height": 1280 });
                }
                _ => {
                    item["mime_type"] = json!("application/octet-stream");
                    item["file_url"] = json!(url);
                }
            }
            item
        })
        .collect();
    json!({ "data": data })
}

/// A profile picture URL that expires in three days, the way Meta's CDN links do: Messenger's
/// carries `ext=<unix seconds>`, Instagram's `oe=<hex unix seconds>`.
pub(crate) fn profile_pic(user: &MetaUser) -> String {
    let expires = now_ms() / 1000 + 3 * 86_400;
    match user.channel {
        Channel::Messenger => format!(
            "https://platform-lookaside.fbsbx.com/platform/profilepic/?psid={}&width=1024&ext={expires}&hash=AbSandbox",
            user.id
        ),
        Channel::Instagram => format!(
            "https://scontent.cdninstagram.com/v/t51.2885-19/{}_n.jpg?stp=dst-jpg_s206x206&_nc_cat=1&oh=00_AbSandbox&oe={expires:X}",
            user.id
        ),
    }
}
