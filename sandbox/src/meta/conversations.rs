//! The Conversations API (research §5): `GET /{page-id}/conversations?platform=...`, one
//! conversation `GET /{conversation-id}?fields=messages...`, and its `messages` edge, which the
//! nested listing's `next` points to. All three share the 2 calls/s limit per account and
//! platform; message details are only given for the 20 most recent messages.

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::meta::fields::{Field, first_unknown, render_fields};
use crate::meta::graph::{GraphAnswer, GraphRequest, MAX_LIMIT};
use crate::meta::graph_error::GraphError;
use crate::meta::ids::graph_time;
use crate::meta::paging::{LinkBase, SortKey, start_cursor, window};
use crate::meta::rate_limit::business_use_case_usage;
use crate::meta::render::{MESSAGE_FIELDS, message, participants};
use crate::meta::store::{Conversation, MetaWorld, READABLE_RECENT};
use crate::meta::users::Channel;
use crate::state::AppState;
use crate::support::lock;

const CONVERSATION_FIELDS: [&str; 10] = [
    "id",
    "updated_time",
    "participants",
    "senders",
    "message_count",
    "unread_count",
    "can_reply",
    "snippet",
    "is_subscribed",
    "messages",
];
const NODE_TYPE: &str = "UnifiedThread";

/// `GET /{page-id}/conversations?platform=messenger|instagram[&user_id=..]`.
pub(crate) fn list(st: &AppState, req: &GraphRequest) -> Result<GraphAnswer, GraphError> {
    let channel = match req.param("platform") {
        None | Some("messenger") => Channel::Messenger,
        Some("instagram") => Channel::Instagram,
        Some(other) => {
            return Err(GraphError::param(format!(
                "(#100) param platform must be one of {{MESSENGER, INSTAGRAM}} - got \"{other}\""
            )));
        }
    };
    // The Instagram inbox is reached through the Page; its own account id works too.
    let node_ok = req.node == st.cfg.meta_page_id
        || (channel == Channel::Instagram && req.node == st.cfg.meta_ig_account_id);
    if !node_ok {
        return Err(GraphError::unknown_object("get", &req.node));
    }
    let fields = conversation_fields(req)?;
    let usage = admit(st, channel)?;

    let world = lock(&st.meta.world);
    let mut conversations = world.conversations(channel);
    if let Some(user_id) = req.param("user_id") {
        conversations.retain(|c| c.user_id == user_id);
    }
    let limit = req.limit();
    let links = LinkBase {
        base_url: &st.url,
        path: format!("{}/conversations", req.node),
        params: req.params.clone(),
    };
    let (after, before) = (req.param("after"), req.param("before"));
    if world.quirks.empty_page_with_next && after.is_none() && before.is_none() {
        let body =
            json!({ "data": [], "paging": links.empty_with_next(req, limit, &start_cursor()) });
        return Ok(answer(body, usage));
    }
    let keys: Vec<SortKey> = conversations
        .iter()
        .map(|c| (c.updated_ms, c.id.clone()))
        .collect();
    let w = window(&keys, limit, after, before)?;
    let data = conversations[w.start..w.end]
        .iter()
        .map(|c| conversation(st, &world, req, c, fields.as_deref()))
        .collect::<Result<Vec<Value>, GraphError>>()?;
    let mut body = json!({ "data": data });
    if let Some(paging) = links.paging(req, &keys, w, limit) {
        body["paging"] = paging;
    }
    Ok(answer(body, usage))
}

/// `GET /{conversation-id}[?fields=...]`.
pub(crate) fn detail(
    st: &AppState,
    req: &GraphRequest,
    world: &MetaWorld,
    c: &Conversation,
) -> Result<GraphAnswer, GraphError> {
    let fields = conversation_fields(req)?;
    let usage = admit(st, c.channel)?;
    let body = conversation(st, world, req, c, fields.as_deref())?;
    Ok(answer(body, usage))
}

/// `GET /{conversation-id}/messages[?fields=...&after=...]`: the paging target of the nested
/// listing; its `fields` are message fields.
pub(crate) fn messages_edge(st: &AppState, req: &GraphRequest) -> Result<GraphAnswer, GraphError> {
    let world = lock(&st.meta.world);
    let Some(c) = world.conversation(&req.node) else {
        return Err(GraphError::unknown_object("get", &req.node));
    };
    let fields = req.fields()?;
    if let Some(unknown) = fields
        .as_deref()
        .and_then(|f| first_unknown(f, &MESSAGE_FIELDS))
    {
        return Err(GraphError::nonexisting_field(unknown, "Message"));
    }
    let usage = admit(st, c.channel)?;
    let page = MessagesPage {
        fields: fields.as_deref(),
        limit: req.limit(),
        after: req.param("after"),
        before: req.param("before"),
    };
    let body = messages(st, &world, req, c, &page)?;
    Ok(answer(body, usage))
}

fn conversation_fields(req: &GraphRequest) -> Result<Option<Vec<Field>>, GraphError> {
    let fields = req.fields()?;
    if let Some(fields) = &fields {
        if let Some(unknown) = first_unknown(fields, &CONVERSATION_FIELDS) {
            return Err(GraphError::nonexisting_field(unknown, NODE_TYPE));
        }
        for nested in fields.iter().filter_map(|f| f.nested.as_deref()) {
            if let Some(unknown) = first_unknown(nested, &MESSAGE_FIELDS) {
                return Err(GraphError::nonexisting_field(unknown, "Message"));
            }
        }
    }
    Ok(fields)
}

/// One page of the Conversations API's limit: admitted (with the usage header to send) or
/// refused with 80006/80002.
fn admit(st: &AppState, channel: Channel) -> Result<(&'static str, String), GraphError> {
    let platform = channel.platform();
    let admission = lock(&st.meta.limiter).check(&st.cfg.meta_page_id, platform, Instant::now());
    if !admission.allowed {
        return Err(GraphError::conversations_throttled(platform));
    }
    let usage = business_use_case_usage(&st.cfg.meta_page_id, platform, admission.call_count(), 0);
    Ok(("x-business-use-case-usage", usage))
}

fn answer(body: Value, usage: (&'static str, String)) -> GraphAnswer {
    GraphAnswer {
        body,
        headers: vec![usage],
    }
}

/// A conversation with the fields asked for (`id` and `updated_time` by default).
fn conversation(
    st: &AppState,
    world: &MetaWorld,
    req: &GraphRequest,
    c: &Conversation,
    fields: Option<&[Field]>,
) -> Result<Value, GraphError> {
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    let Some(fields) = fields else {
        out.insert("updated_time".into(), json!(graph_time(c.updated_ms)));
        return Ok(Value::Object(out));
    };
    for field in fields {
        let value = match field.name.as_str() {
            "id" => continue,
            "updated_time" => json!(graph_time(c.updated_ms)),
            "participants" | "senders" => participants(&st.cfg, world, c),
            "message_count" => json!(c.listed().count()),
            "unread_count" => json!(0),
            "can_reply" | "is_subscribed" => json!(true),
            "snippet" => json!(
                c.listed()
                    .next()
                    .and_then(|(_, m)| m.text.clone())
                    .unwrap_or_default()
            ),
            _ => {
                // `messages`, the only edge: the limit comes from `.limit(N)` or the request.
                let page = MessagesPage {
                    fields: field.nested.as_deref(),
                    limit: field
                        .limit
                        .map_or_else(|| req.limit(), |n| n.clamp(1, MAX_LIMIT)),
                    after: None,
                    before: None,
                };
                messages(st, world, req, c, &page)?
            }
        };
        out.insert(field.name.clone(), value);
    }
    Ok(Value::Object(out))
}

struct MessagesPage<'a> {
    fields: Option<&'a [Field]>,
    limit: usize,
    after: Option<&'a str>,
    before: Option<&'a str>,
}

/// `{"data":[...],"paging":{...}}`, newest first. Entries beyond the 20 most recent carry
/// only `id` and `created_time`, whatever was asked.
fn messages(
    st: &AppState,
    world: &MetaWorld,
    req: &GraphRequest,
    c: &Conversation,
    page: &MessagesPage,
) -> Result<Value, GraphError> {
    let listed: Vec<(usize, &crate::meta::store::StoredMessage)> = c.listed().collect();
    let keys: Vec<SortKey> = listed
        .iter()
        .map(|(i, m)| (m.created_ms, format!("{i:010}")))
        .collect();
    let w = window(&keys, page.limit, page.after, page.before)?;
    let data: Vec<Value> = (w.start..w.end)
        .map(|rank| {
            let (_, m) = listed[rank];
            let detailed = if rank < READABLE_RECENT {
                page.fields
            } else {
                None
            };
            message(&st.cfg, world, c, m, detailed)
        })
        .collect();
    let mut params = Vec::new();
    if let Some(fields) = page.fields {
        params.push(("fields".to_owned(), render_fields(fields)));
    }
    let links = LinkBase {
        base_url: &st.url,
        path: format!("{}/messages", c.id),
        params,
    };
    let mut body = json!({ "data": data });
    if let Some(paging) = links.paging(req, &keys, w, page.limit) {
        body["paging"] = paging;
    }
    Ok(body)
}
