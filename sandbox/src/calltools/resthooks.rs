//! CallTools' REST hook subscriptions (`/api/resthooksubscriptions/`): a model name and a URL
//! that receives the object as JSON whenever one of that model is written. CallTools does not
//! deduplicate them: the same URL subscribed twice gets every hook twice, so the client must
//! look before it subscribes.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::calltools::fields::FieldErrors;

/// The `resthook_model` choices CallTools offers.
pub(crate) const RESTHOOK_MODELS: [&str; 14] = [
    "Contact",
    "Historical Call Disposition",
    "Historical Contact Disposition",
    "Call",
    "Goal",
    "Calendar Event",
    "Opportunity",
    "Contact Tag",
    "SMS",
    "Note",
    "Case",
    "Connector Button Click",
    "Phone Number",
    "Email Address",
];

#[derive(Debug, Clone)]
struct Subscription {
    model: String,
    url: String,
    description: String,
}

/// One object to POST to every subscriber of its model; the body is fixed once, so duplicates
/// carry the same bytes.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub model: &'static str,
    pub object_id: i64,
    pub body: Vec<u8>,
    pub urls: Vec<String>,
}

pub(crate) struct Subscriptions {
    subs: BTreeMap<i64, Subscription>,
    next_id: i64,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self {
            subs: BTreeMap::new(),
            next_id: 901,
        }
    }
}

impl Subscriptions {
    pub fn list(&self) -> Vec<Value> {
        self.subs.keys().filter_map(|id| self.get(*id)).collect()
    }

    pub fn get(&self, id: i64) -> Option<Value> {
        let s = self.subs.get(&id)?;
        Some(json!({
            "id": id,
            "resthook_model": s.model,
            "url": s.url,
            "description": s.description,
        }))
    }

    /// DRF's serializer: every field's problems at once, nothing stored on any.
    pub fn create(&mut self, body: &Map<String, Value>) -> Result<Value, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut field = |key: &str, check: &dyn Fn(&str) -> Option<String>| match body.get(key) {
            None => {
                errors.insert(key.to_owned(), vec!["This field is required.".to_owned()]);
                None
            }
            Some(Value::Null) => {
                errors.insert(
                    key.to_owned(),
                    vec!["This field may not be null.".to_owned()],
                );
                None
            }
            Some(v) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match check(&text) {
                    Some(msg) => {
                        errors.insert(key.to_owned(), vec![msg]);
                        None
                    }
                    None => Some(text),
                }
            }
        };
        let model = field("resthook_model", &|m| {
            (!RESTHOOK_MODELS.contains(&m)).then(|| format!("\"{m}\" is not a valid choice."))
        });
        let url = field("url", &url_error);
        let description = match body.get("description") {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err("Not a valid string."),
        };
        let description = description
            .map_err(|msg| {
                errors.insert("description".to_owned(), vec![msg.to_owned()]);
            })
            .ok();
        let (Some(model), Some(url), Some(description)) = (model, url, description) else {
            return Err(errors);
        };
        let id = self.next_id;
        self.next_id += 1;
        self.subs.insert(
            id,
            Subscription {
                model,
                url,
                description,
            },
        );
        Ok(self.get(id).unwrap_or(Value::Null))
    }

    pub fn delete(&mut self, id: i64) -> bool {
        self.subs.remove(&id).is_some()
    }

    /// The hook for one written object, addressed to every subscription of `model` (duplicates
    /// included), in subscription order.
    pub fn hook(&self, model: &'static str, object_id: i64, object: &Value) -> Hook {
        Hook {
            model,
            object_id,
            body: object.to_string().into_bytes(),
            urls: self
                .subs
                .values()
                .filter(|s| s.model == model)
                .map(|s| s.url.clone())
                .collect(),
        }
    }
}

/// Roughly DRF's `URLField`: http(s), a host, no spaces.
fn url_error(url: &str) -> Option<String> {
    if url.trim().is_empty() {
        return Some("This field may not be blank.".to_owned());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.starts_with(':')
    });
    (!host_ok || url.contains(char::is_whitespace)).then(|| "Enter a valid URL.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_problem_is_reported_at_once_and_nothing_is_stored() {
        let mut subs = Subscriptions::default();
        let errors = subs
            .create(&body(json!({"resthook_model": "Calls", "description": 5})))
            .unwrap_err();
        assert_eq!(
            errors["resthook_model"],
            ["\"Calls\" is not a valid choice."]
        );
        assert_eq!(errors["url"], ["This field is required."]);
        assert_eq!(errors["description"], ["Not a valid string."]);
        assert!(subs.list().is_empty());
        let errors = subs
            .create(&body(json!({"resthook_model": "Call", "url": "ftp://x"})))
            .unwrap_err();
        assert_eq!(errors["url"], ["Enter a valid URL."]);
    }

    #[test]
    fn a_hook_goes_to_every_subscription_of_its_model_duplicates_included() {
        let mut subs = Subscriptions::default();
        for (model, url) in [
            ("Call", "http://a/"),
            ("Contact", "http://b/"),
            ("Call", "http://a/"),
        ] {
            subs.create(&body(json!({"resthook_model": model, "url": url})))
                .unwrap();
        }
        let hook = subs.hook("Call", 5001, &json!({"id": 5001}));
        assert_eq!(hook.urls, ["http://a/", "http://a/"]);
        assert_eq!(hook.body, br#"{"id":5001}"#);
    }
}
