//! `/_sandbox/meta/{messages,events,conversations/import}`: how tests make people write
//! to the Page or the Instagram account, and what Meta then POSTs to the webhook. A webhook
//! waits for the receiver's first answer (so the admin answer can report its status) unless
//! the call says `"async": true`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{admin_error, parse_json};
use crate::delivery::meta::{Fire, fire};
use crate::meta::events::{Built, Details, Kind, build, store_message};
use crate::meta::store::{Attachment, NewMessage};
use crate::meta::users::Channel;
use crate::state::AppState;
use crate::support::lock;

const MAX_IMPORT_MESSAGES: usize = 2_000_000;
const ATTACHMENT_TYPES: [&str; 12] = [
    "image",
    "audio",
    "video",
    "file",
    "sticker",
    "reel",
    "ig_reel",
    "post",
    "ig_post",
    "share",
    "appointment_booking",
    "fallback",
];

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageBody {
    channel: Channel,
    user_id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    quick_reply: Option<String>,
    #[serde(default)]
    reply_to: Option<String>,
    /// Sent by the business (an echo: sender and recipient swapped, `is_echo`).
    #[serde(default)]
    echo: bool,
    /// Delivered under `entry[].standby[]`: another app owns the thread.
    #[serde(default)]
    standby: bool,
    #[serde(default = "yes")]
    webhook: bool,
    #[serde(default, rename = "async")]
    no_wait: bool,
}

/// `POST /_sandbox/meta/messages` → `{"mid","conversation_id","delivery":{"status"}}`.
pub(crate) async fn message(State(st): State<AppState>, body: Bytes) -> Response {
    let m: MessageBody = match parse_json(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    if m.text.is_none() && m.attachments.is_empty() {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "a message needs a text or attachments",
        );
    }
    if let Some(bad) = m
        .attachments
        .iter()
        .find(|a| !ATTACHMENT_TYPES.contains(&a.kind.as_str()))
    {
        return admin_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "attachment type {:?} is not one of {ATTACHMENT_TYPES:?}",
                bad.kind
            ),
        );
    }
    let built = {
        let mut world = lock(&st.meta.world);
        if let Err(e) = world.user_on(m.channel, &m.user_id) {
            return admin_error(StatusCode::NOT_FOUND, &e);
        }
        let new = NewMessage {
            from_business: m.echo,
            text: m.text,
            attachments: m.attachments,
            quick_reply: m.quick_reply,
            reply_to: m.reply_to,
        };
        store_message(&mut world, &m.user_id, new, m.standby)
    };
    let Built { item, stored } = match built {
        Ok(b) => b,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
    };
    let how = Fire {
        webhook: m.webhook,
        wait: !m.no_wait,
        duplicate: false,
    };
    let delivery = fire(&st, m.channel, &[vec![item]], how).await;
    let (mid, conversation_id) = stored.map(|s| (s.mid, s.conversation_id)).unzip();
    Json(json!({ "mid": mid, "conversation_id": conversation_id, "delivery": delivery }))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBody {
    channel: Channel,
    user_id: String,
    kind: Kind,
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    standby: bool,
    #[serde(default = "yes")]
    webhook: bool,
    #[serde(default, rename = "async")]
    no_wait: bool,
}

/// `POST /_sandbox/meta/events` → `{"delivery":{"status"},"mid"?}`.
pub(crate) async fn event(State(st): State<AppState>, body: Bytes) -> Response {
    let e: EventBody = match parse_json(&body) {
        Ok(e) => e,
        Err(r) => return r.into_response(),
    };
    let details = Details {
        mid: e.mid,
        text: e.text,
        emoji: e.emoji,
        reaction: e.reaction,
        action: e.action,
        payload: e.payload,
        title: e.title,
    };
    let built = {
        let mut world = lock(&st.meta.world);
        if let Err(msg) = world.user_on(e.channel, &e.user_id) {
            return admin_error(StatusCode::NOT_FOUND, &msg);
        }
        build(&mut world, &e.user_id, e.kind, &details, e.standby)
    };
    let Built { item, stored } = match built {
        Ok(b) => b,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, &msg),
    };
    let how = Fire {
        webhook: e.webhook,
        wait: !e.no_wait,
        duplicate: false,
    };
    let delivery = fire(&st, e.channel, &[vec![item]], how).await;
    let mut answer = json!({ "delivery": delivery });
    if let Some(s) = stored {
        answer["mid"] = json!(s.mid);
    }
    Json(answer).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportBody {
    channel: Channel,
    count: usize,
    #[serde(default = "default_per_conversation")]
    messages_per_conversation: usize,
}

fn default_per_conversation() -> usize {
    25
}

/// `POST /_sandbox/meta/conversations/import` → `{"conversations","users"}`: an inbox that
/// existed before leadsync was connected, with no webhooks, for the backfill.
pub(crate) async fn import(State(st): State<AppState>, body: Bytes) -> Response {
    let i: ImportBody = match parse_json(&body) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    if i.count.saturating_mul(i.messages_per_conversation.max(1)) > MAX_IMPORT_MESSAGES {
        return admin_error(
            StatusCode::BAD_REQUEST,
            &format!("count × messages_per_conversation must be at most {MAX_IMPORT_MESSAGES}"),
        );
    }
    if i.messages_per_conversation == 0 {
        return admin_error(StatusCode::BAD_REQUEST, "a conversation needs a message");
    }
    let imported = lock(&st.meta.world).import(i.channel, i.count, i.messages_per_conversation);
    match imported {
        Ok(users) => Json(json!({ "conversations": users.len(), "users": users })).into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &e),
    }
}
