//! `/{page-id}/subscribed_apps` (research §4 and its 2026-12-04 corrections): every app
//! subscribed to the Page, each with the webhook fields it receives. Meta unsubscribes an app
//! silently after an hour of failed deliveries, so leadsync checks this edge on a schedule and
//! re-subscribes with `POST`. The admin API plays the silent unsubscription, a subscription
//! with only some fields, and other apps on the same Page (a CRM, a chat tool), which are
//! listed before leadsync's. While leadsync's app is unsubscribed, no webhooks are sent.

use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::meta::graph::{GraphAnswer, GraphRequest};
use crate::meta::graph_error::GraphError;
use crate::meta::ids::{APP_ID, APP_NAME};
use crate::meta::store::{DEFAULT_SUBSCRIBED_FIELDS, MetaWorld};
use crate::state::AppState;
use crate::support::lock;

/// Another app subscribed to the played Page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OtherApp {
    pub id: String,
    pub name: String,
    pub subscribed_fields: Vec<String>,
}

/// The body of `POST /_sandbox/meta/subscription`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionSpec {
    /// `false` plays Meta silently unsubscribing leadsync's app.
    subscribed: bool,
    /// leadsync's fields while subscribed; the defaults (every field leadsync asks for) when
    /// absent.
    #[serde(default)]
    fields: Option<Vec<String>>,
    /// The other apps the Page lists; left as they are when absent.
    #[serde(default)]
    other_apps: Option<Vec<OtherApp>>,
}

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
            let mut data: Vec<Value> = world
                .other_apps
                .iter()
                .map(|a| app_entry(&a.id, &a.name, &a.subscribed_fields))
                .collect();
            if !world.subscribed_fields.is_empty() {
                data.push(app_entry(
                    &APP_ID.to_string(),
                    APP_NAME,
                    &world.subscribed_fields,
                ));
            }
            Ok(GraphAnswer::plain(json!({ "data": data })))
        }
        Method::POST => {
            let raw = req.param("subscribed_fields").ok_or_else(|| {
                GraphError::param("(#100) The parameter subscribed_fields is required")
            })?;
            world.subscribed_fields =
                known_fields(raw.split(',').map(str::trim)).map_err(GraphError::param)?;
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

/// The fields, each once, in the order given; Meta's error for the first unknown one.
fn known_fields<'a>(fields: impl Iterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut known: Vec<String> = Vec::new();
    for (i, field) in fields.enumerate() {
        if !KNOWN_FIELDS.contains(&field) {
            return Err(format!(
                "(#100) Param subscribed_fields[{i}] must be one of {{{}}} - got \"{field}\"",
                KNOWN_FIELDS.join(", ")
            ));
        }
        if !known.iter().any(|f| f == field) {
            known.push(field.to_owned());
        }
    }
    Ok(known)
}

/// One `data[]` entry, shaped as Meta lists an app.
fn app_entry(id: &str, name: &str, fields: &[String]) -> Value {
    json!({
        "category": "Business",
        "link": format!("https://{}.invalid", name.to_ascii_lowercase().replace(' ', "-")),
        "name": name,
        "id": id,
        "subscribed_fields": fields,
    })
}

/// Applies an admin `spec` to the world; a spec Meta could not produce is refused.
pub(crate) fn set(world: &mut MetaWorld, spec: SubscriptionSpec) -> Result<(), String> {
    let fields = match (spec.subscribed, spec.fields) {
        (false, Some(_)) => return Err("fields need \"subscribed\": true".into()),
        (false, None) => Vec::new(),
        (true, None) => DEFAULT_SUBSCRIBED_FIELDS.map(str::to_owned).to_vec(),
        (true, Some(f)) if f.is_empty() => {
            return Err(
                "an app subscribed with no field is not listed: send \"subscribed\": false".into(),
            );
        }
        (true, Some(f)) => known_fields(f.iter().map(String::as_str))?,
    };
    if let Some(others) = spec.other_apps {
        for app in &others {
            if app.id == APP_ID.to_string() {
                return Err(format!(
                    "{APP_ID} is leadsync's app: set it with \"subscribed\"/\"fields\""
                ));
            }
            known_fields(app.subscribed_fields.iter().map(String::as_str))?;
        }
        world.other_apps = others;
    }
    world.subscribed_fields = fields;
    Ok(())
}

/// What the admin API shows of the Page's subscriptions.
pub(crate) fn describe(world: &MetaWorld) -> Value {
    json!({
        "subscribed": !world.subscribed_fields.is_empty(),
        "subscribed_fields": world.subscribed_fields,
        "other_apps": world.other_apps,
    })
}
