//! `GET /{id}` for every node the sandbox plays: the Page, the Instagram account, a person's
//! profile (PSID or IGSID), a conversation, a message. Profiles follow research §5: only the
//! permitted fields (one other field fails the whole request), 2018218 for people without a
//! profile, 230 on Instagram without consent. Messages beyond a conversation's 20 most recent
//! answer "This message has been deleted".

use serde_json::{Map, Value, json};

use crate::meta::conversations;
use crate::meta::fields::{Field, first_unknown};
use crate::meta::graph::{GraphAnswer, GraphRequest};
use crate::meta::graph_error::GraphError;
use crate::meta::ids::{IG_USERNAME, PAGE_NAME};
use crate::meta::render::{MESSAGE_FIELDS, message, profile_pic};
use crate::meta::users::{Channel, MetaUser, ProfileState};
use crate::state::AppState;
use crate::support::lock;

const MESSENGER_PROFILE: [&str; 5] = ["id", "name", "first_name", "last_name", "profile_pic"];
const INSTAGRAM_PROFILE: [&str; 8] = [
    "id",
    "name",
    "username",
    "profile_pic",
    "follower_count",
    "is_user_follow_business",
    "is_business_follow_user",
    "is_verified_user",
];

pub(crate) fn node(st: &AppState, req: &GraphRequest) -> Result<GraphAnswer, GraphError> {
    let fields = req.fields()?;
    if req.node == st.cfg.meta_page_id {
        return account(req, fields.as_deref(), Channel::Messenger);
    }
    if req.node == st.cfg.meta_ig_account_id {
        return account(req, fields.as_deref(), Channel::Instagram);
    }
    let world = lock(&st.meta.world);
    if let Some(user) = world.user(&req.node) {
        return profile(user, fields.as_deref()).map(GraphAnswer::plain);
    }
    if let Some(c) = world.conversation(&req.node) {
        return conversations::detail(st, req, &world, c);
    }
    if let Some((c, index)) = world.message(&req.node) {
        if let Some(unknown) = fields
            .as_deref()
            .and_then(|f| first_unknown(f, &MESSAGE_FIELDS))
        {
            return Err(GraphError::nonexisting_field(unknown, "Message"));
        }
        let m = &c.messages[index];
        if m.deleted || !c.readable(index) {
            return Err(GraphError::message_deleted());
        }
        let body = message(&st.cfg, &world, c, m, fields.as_deref());
        return Ok(GraphAnswer::plain(body));
    }
    Err(GraphError::unknown_object("get", &req.node))
}

/// The Page or the Instagram professional account itself.
fn account(
    req: &GraphRequest,
    fields: Option<&[Field]>,
    channel: Channel,
) -> Result<GraphAnswer, GraphError> {
    let (permitted, node_type): (&[&str], &str) = match channel {
        Channel::Messenger => (&["id", "name"], "Page"),
        Channel::Instagram => (&["id", "name", "username"], "IGUser"),
    };
    if let Some(unknown) = fields.and_then(|f| first_unknown(f, permitted)) {
        return Err(GraphError::nonexisting_field(unknown, node_type));
    }
    let mut body = json!({ "id": req.node, "name": PAGE_NAME });
    if channel == Channel::Instagram {
        body["username"] = json!(IG_USERNAME);
    }
    Ok(GraphAnswer::plain(body))
}

/// A person's profile with only the fields asked for (or the channel's default set).
fn profile(user: &MetaUser, fields: Option<&[Field]>) -> Result<Value, GraphError> {
    let permitted: &[&str] = match user.channel {
        Channel::Messenger => &MESSENGER_PROFILE,
        Channel::Instagram => &INSTAGRAM_PROFILE,
    };
    if let Some(unknown) = fields.and_then(|f| first_unknown(f, permitted)) {
        return Err(GraphError::nonexisting_field(unknown, "User"));
    }
    match (user.profile, user.channel) {
        (ProfileState::Unavailable, _) => return Err(GraphError::no_profile()),
        (ProfileState::NoConsent, Channel::Instagram) => return Err(GraphError::no_consent()),
        // Messenger without access answers an empty object (research §5).
        (ProfileState::NoConsent, Channel::Messenger) => return Ok(json!({})),
        (ProfileState::Ok, _) => {}
    }
    let defaults: &[&str] = match user.channel {
        Channel::Messenger => &["first_name", "last_name", "profile_pic", "id"],
        Channel::Instagram => &["name", "username", "profile_pic", "id"],
    };
    let names: Vec<&str> = match fields {
        Some(fields) => fields.iter().map(|f| f.name.as_str()).collect(),
        None => defaults.to_vec(),
    };
    let mut out = Map::new();
    for name in names.into_iter().chain(["id"]) {
        let value = match name {
            "id" => json!(user.id),
            "name" => json!(user.name),
            "first_name" => json!(user.first_name()),
            "last_name" => json!(user.last_name()),
            "username" => json!(user.username()),
            "profile_pic" => json!(profile_pic(user)),
            "follower_count" => json!(user.follower_count),
            "is_verified_user" => json!(user.is_verified_user),
            _ => json!(false),
        };
        out.insert(name.to_owned(), value);
    }
    Ok(Value::Object(out))
}
