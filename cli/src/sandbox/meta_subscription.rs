//! `/{page-id}/subscribed_apps` (research §4): which webhook fields the app receives for the
//! Page. Meta unsubscribes an app silently after an hour of failed deliveries, so leadsync
//! checks this edge on a schedule and re-subscribes with `POST`; the admin API plays the silent
//! unsubscription. While unsubscribed, no webhooks are sent.

use axum::http::Method;
use serde_json::json;

use super::meta_graph::{GraphAnswer, GraphRequest};
use super::meta_graph_error::GraphError;
use super::meta_ids::{APP_ID, APP_NAME};
use super::state::AppState;
use super::support::lock;

/// Page webhook fields a subscription may name.
const KNOWN_FIELDS: [&str; 16] = [
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referrals",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "messaging_game_plays",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "message_edits",
    "messaging_seen",
    "standby",
    "feed",
];

pub(crate) fn subscribed_apps(
    st: &AppState,
    req: &GraphRequest,
) -> Result<GraphAnswer, GraphError> {
    if req.node != st.cfg.meta_page_id {
        return Err(GraphError::unknown_object(
            &req.method.as_str().to_ascii_lowercase(),
            &req.node,
        ));
    }
    let mut world = lock(&st.meta.world);
    match req.method {
        Method::GET => {
            let data = if world.subscribed_fields.is_empty() {
                json!([])
            } else {
                json!([{
                    "category": "Business",
                    "link": "https://leadsync.invalid",
                    "name": APP_NAME,
                    "id": APP_ID.to_string(),
                    "subscribed_fields": world.subscribed_fields,
                }])
            };
            Ok(GraphAnswer::plain(json!({ "data": data })))
        }
        Method::POST => {
            let raw = req.param("subscribed_fields").ok_or_else(|| {
                GraphError::param("(#100) The parameter subscribed_fields is required")
            })?;
            let mut fields: Vec<String> = Vec::new();
            for (i, field) in raw.split(',').map(str::trim).enumerate() {
                if !KNOWN_FIELDS.contains(&field) {
                    return Err(GraphError::param(format!(
                        "(#100) Param subscribed_fields[{i}] must be one of {{{}}} - got \"{field}\"",
                        KNOWN_FIELDS.join(", ")
                    )));
                }
                if !fields.iter().any(|f| f == field) {
                    fields.push(field.to_owned());
                }
            }
            world.subscribed_fields = fields;
            Ok(GraphAnswer::plain(json!({ "success": true })))
        }
        Method::DELETE => {
            world.subscribed_fields.clear();
            Ok(GraphAnswer::plain(json!({ "success": true })))
        }
        _ => Err(GraphError::unknown_object(
            &req.method.as_str().to_ascii_lowercase(),
            &req.node,
        )),
    }
}
