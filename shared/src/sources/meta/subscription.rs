//! Whether leadsync's app receives the Page's webhooks (research §4 and its 2026-12-04
//! corrections). `GET /{page-id}/subscribed_apps` lists every app subscribed to the Page, each
//! with its own `subscribed_fields`: a CRM on the same Page is listed beside leadsync, so health
//! is read from leadsync's own entry, found by its app id, never from the union of all entries.

use serde::Serialize;
use serde_json::Value;

/// The Page webhook fields leadsync turns into events (messages and echoes, postbacks, receipts,
/// reactions, edits); without one of them those events never arrive.
pub const REQUIRED_FIELDS: [&str; 7] = [
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
];

/// One entry of `subscribed_apps`' `data[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribedApp {
    pub id: String,
    pub name: Option<String>,
    pub fields: Vec<String>,
}

impl SubscribedApp {
    /// An entry of `data[]`; `None` without an id, which no app can be told by.
    pub fn from_graph(app: &Value) -> Option<Self> {
        let id = match &app["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let fields = app["subscribed_fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        Some(Self {
            id,
            name: app["name"].as_str().map(str::to_string),
            fields,
        })
    }

    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.id),
            None => self.id.clone(),
        }
    }
}

/// What the Page's subscriptions say about leadsync's app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionHealth {
    /// Subscribed with every field in [`REQUIRED_FIELDS`].
    Subscribed { fields: Vec<String> },
    /// Subscribed, but events of the `missing` fields do not arrive.
    MissingFields {
        fields: Vec<String>,
        missing: Vec<&'static str>,
    },
    /// Not among the Page's subscribed apps (`others` are).
    NotSubscribed { others: Vec<SubscribedApp> },
    /// No app id is configured, so leadsync's entry cannot be told from the others.
    CannotTell { apps: Vec<SubscribedApp> },
}

/// Finds `app_id` among the Page's subscribed `apps` and checks its fields.
pub fn health(app_id: Option<&str>, apps: Vec<SubscribedApp>) -> SubscriptionHealth {
    let Some(app_id) = app_id else {
        return SubscriptionHealth::CannotTell { apps };
    };
    let Some(ours) = apps.iter().find(|a| a.id == app_id) else {
        return SubscriptionHealth::NotSubscribed { others: apps };
    };
    let missing: Vec<&'static str> = REQUIRED_FIELDS
        .into_iter()
        .filter(|f| !ours.fields.iter().any(|have| have == f))
        .collect();
    let fields = ours.fields.clone();
    if missing.is_empty() {
        SubscriptionHealth::Subscribed { fields }
    } else {
        SubscriptionHealth::MissingFields { fields, missing }
    }
}

impl SubscriptionHealth {
    /// A stable name for logs, JSON output and tests.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Subscribed { .. } => "subscribed",
            Self::MissingFields { .. } => "missing_fields",
            Self::NotSubscribed { .. } => "not_subscribed",
            Self::CannotTell { .. } => "unknown",
        }
    }

    /// The `meta_subscribed` gauge: 1 healthy, 0 not, −1 when it cannot be told, so an
    /// unconfigured check is never read as healthy nor as an outage.
    pub fn gauge(&self) -> f64 {
        match self {
            Self::Subscribed { .. } => 1.0,
            Self::MissingFields { .. } | Self::NotSubscribed { .. } => 0.0,
            Self::CannotTell { .. } => -1.0,
        }
    }

    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Subscribed { .. })
    }

    /// What an operator must read after a backfill run; `None` when all is well.
    pub fn warning(&self, page_id: &str, app_id: Option<&str>) -> Option<String> {
        let app = app_id.unwrap_or("leadsync's app");
        let resubscribe = format!(
            "Subscribe it again with POST /{page_id}/subscribed_apps?subscribed_fields={} (a Page token with pages_manage_metadata)",
            REQUIRED_FIELDS.join(",")
        );
        match self {
            Self::Subscribed { .. } => None,
            Self::MissingFields { missing, .. } => Some(format!(
                "app {app} is subscribed to Page {page_id} without {}: those events do not arrive. {resubscribe}",
                missing.join(", ")
            )),
            Self::NotSubscribed { others } => Some(format!(
                "app {app} is not subscribed to Page {page_id} (Meta unsubscribes an app silently; {}): no webhooks arrive. {resubscribe}",
                others_subscribed(others)
            )),
            Self::CannotTell { apps } => Some(format!(
                "cannot tell whether leadsync receives Page {page_id}'s webhooks: META_APP_ID is not set, and subscribed_apps lists every app on the Page ({}). Set META_APP_ID to leadsync's app id",
                others_subscribed(apps)
            )),
        }
    }

    /// The `leadsync meta check` line(s).
    pub fn describe(&self, page_id: &str, app_id: Option<&str>) -> String {
        let app = app_id.unwrap_or("-");
        let headline = match self {
            Self::Subscribed { fields } => {
                format!(
                    "Page {page_id}: app {app} subscribed ({})",
                    fields.join(", ")
                )
            }
            Self::MissingFields { missing, .. } => format!(
                "Page {page_id}: app {app} subscribed WITHOUT {}",
                missing.join(", ")
            ),
            Self::NotSubscribed { .. } => format!("Page {page_id}: app {app} NOT SUBSCRIBED"),
            Self::CannotTell { .. } => {
                format!("Page {page_id}: CANNOT TELL whether leadsync's app is subscribed")
            }
        };
        match self.warning(page_id, app_id) {
            Some(w) => format!("{headline}\n{w}"),
            None => headline,
        }
    }
}

fn others_subscribed(apps: &[SubscribedApp]) -> String {
    if apps.is_empty() {
        "no app is subscribed to it".to_string()
    } else {
        let labels: Vec<String> = apps.iter().map(SubscribedApp::label).collect();
        format!("subscribed: {}", labels.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const OURS: &str = "1000000000000099";

    fn app(id: &str, fields: &[&str]) -> SubscribedApp {
        SubscribedApp {
            id: id.into(),
            name: Some(format!("app {id}")),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn another_app_with_every_field_does_not_make_the_page_healthy_for_ours() {
        let h = health(Some(OURS), vec![app("555", &REQUIRED_FIELDS)]);
        assert!(
            matches!(h, SubscriptionHealth::NotSubscribed { .. }),
            "{h:?}"
        );
        assert_eq!((h.status(), h.gauge()), ("not_subscribed", 0.0));
        let w = h.warning("P1", Some(OURS)).unwrap_or_default();
        assert!(
            w.contains("app 555 (555)") && w.contains("subscribed_apps"),
            "{w}"
        );
    }

    #[test]
    fn our_app_with_every_field_is_healthy_whatever_else_is_subscribed() {
        let mut fields = REQUIRED_FIELDS.to_vec();
        fields.push("standby");
        let h = health(Some(OURS), vec![app("555", &["feed"]), app(OURS, &fields)]);
        assert_eq!(
            h,
            SubscriptionHealth::Subscribed {
                fields: fields.iter().map(|f| f.to_string()).collect()
            }
        );
        assert_eq!((h.gauge(), h.warning("P1", Some(OURS))), (1.0, None));
    }

    #[test]
    fn fields_another_app_has_do_not_make_up_for_those_ours_lacks() {
        let h = health(
            Some(OURS),
            vec![app(OURS, &["messages"]), app("555", &REQUIRED_FIELDS)],
        );
        let SubscriptionHealth::MissingFields { missing, .. } = &h else {
            panic!("{h:?}")
        };
        assert_eq!(missing, &REQUIRED_FIELDS[1..].to_vec());
        assert_eq!((h.status(), h.gauge()), ("missing_fields", 0.0));
        assert!(
            h.describe("P1", Some(OURS))
                .contains("WITHOUT messaging_postbacks")
        );
    }

    #[test]
    fn an_empty_list_is_not_subscribed() {
        let h = health(Some(OURS), Vec::new());
        assert!(!h.is_healthy());
        assert!(
            h.warning("P1", Some(OURS))
                .is_some_and(|w| w.contains("no app is subscribed"))
        );
    }

    #[test]
    fn without_an_app_id_the_check_cannot_tell_even_when_an_app_has_every_field() {
        let h = health(None, vec![app(OURS, &REQUIRED_FIELDS)]);
        assert!(matches!(h, SubscriptionHealth::CannotTell { .. }));
        assert_eq!(
            (h.status(), h.gauge(), h.is_healthy()),
            ("unknown", -1.0, false)
        );
        let text = h.describe("P1", None);
        assert!(
            text.contains("CANNOT TELL") && text.contains("META_APP_ID"),
            "{text}"
        );
    }

    #[test]
    fn a_graph_entry_reads_its_id_name_and_fields() {
        let entry = json!({"category": "Business", "link": "https://x.invalid", "name": "CRM",
            "id": "555", "subscribed_fields": ["messages", "feed"]});
        assert_eq!(
            SubscribedApp::from_graph(&entry),
            Some(app("555", &["messages", "feed"])).map(|a| SubscribedApp {
                name: Some("CRM".into()),
                ..a
            })
        );
        let no_fields = SubscribedApp::from_graph(&json!({"id": 555, "name": null}));
        assert_eq!(
            no_fields,
            Some(SubscribedApp {
                id: "555".into(),
                name: None,
                fields: Vec::new()
            })
        );
        assert_eq!(SubscribedApp::from_graph(&json!({"name": "no id"})), None);
    }
}
